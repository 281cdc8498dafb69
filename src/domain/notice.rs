//! Who is told what when a request moves: the holders of the role that must act next, and the
//! applicant on return, rejection and completion. The texts are what office staff and
//! applicants read, in Bahasa Indonesia.

use super::request::Event;
use super::workflow::Workflow;

/// Who a notice goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// Every user who holds this role today.
    Role(String),
    /// The contact named in the request.
    Applicant,
    /// The users of the requesting agency, and the request's contact: the agency acts at the
    /// step itself (signs the handover minutes).
    Agency,
}

/// One message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// To whom.
    pub audience: Audience,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// Whether the response letter goes with it (the applicant's completion notice).
    pub with_letter: bool,
}

/// What the texts name.
#[derive(Debug, Clone, Copy)]
pub struct About<'a> {
    /// The request's number (not yet known when the submission's notice is written).
    pub id: Option<i64>,
    /// The full name asked for, e.g. `sipd.kaltaraprov.go.id`.
    pub fqdn: &'a str,
    /// The requesting agency's name.
    pub agency: &'a str,
}

impl About<'_> {
    /// `#7 ` for subjects, or nothing.
    fn number(&self) -> String {
        self.id.map(|id| format!("#{id} ")).unwrap_or_default()
    }
}

fn waiting(workflow: &Workflow, step: usize, about: About<'_>, what: &str) -> Option<Notice> {
    let s = workflow.steps.get(step)?;
    let (audience, whose) = if s.by_applicant() {
        (Audience::Agency, "instansi Bapak/Ibu")
    } else {
        (Audience::Role(s.role.to_string()), "Bapak/Ibu")
    };
    Some(Notice {
        with_letter: false,
        audience,
        subject: format!(
            "[ranah] Permohonan {}{} menunggu {}",
            about.number(),
            about.fqdn,
            s.title
        ),
        body: format!(
            "Yth. Bapak/Ibu,\n\nPermohonan subdomain {fqdn} dari {agency} {what} dan kini \
             menunggu tahap \"{title}\" yang menjadi tugas {whose}.\n\n\
             Silakan tindak lanjuti melalui ranah.\n\nPesan ini dikirim otomatis oleh ranah.\n",
            fqdn = about.fqdn,
            agency = about.agency,
            title = s.title,
        ),
    })
}

fn to_applicant(about: About<'_>, subject: &str, body: String) -> Notice {
    Notice {
        with_letter: false,
        audience: Audience::Applicant,
        subject: format!(
            "[ranah] Permohonan {}{}: {subject}",
            about.number(),
            about.fqdn
        ),
        body: format!("Yth. Bapak/Ibu,\n\n{body}\n\nPesan ini dikirim otomatis oleh ranah.\n"),
    }
}

/// The notices of a new submission: the holders of the role of the step it enters at (the
/// first, but for a request an integration opens).
pub fn on_submission(workflow: &Workflow, step: usize, about: About<'_>) -> Vec<Notice> {
    waiting(workflow, step, about, "telah diajukan")
        .into_iter()
        .collect()
}

/// The notices of one event.
pub fn on_event(workflow: &Workflow, event: &Event, about: About<'_>) -> Vec<Notice> {
    match event {
        Event::Approved {
            next: Some(next), ..
        } => waiting(
            workflow,
            *next,
            about,
            "telah disetujui pada tahap sebelumnya",
        )
        .into_iter()
        .collect(),
        Event::Approved { next: None, .. } => vec![Notice {
            with_letter: true,
            ..to_applicant(
                about,
                "selesai",
                format!(
                    "Permohonan subdomain {} telah selesai diproses dan disetujui. Subdomain \
                     telah aktif di DNS. Surat tanggapan terlampir bila tersedia.",
                    about.fqdn
                ),
            )
        }],
        Event::Returned { note, reason, .. } => vec![to_applicant(
            about,
            "dikembalikan",
            format!(
                "Permohonan subdomain {} dikembalikan untuk dilengkapi.\n\nAlasan: {reason}\n\
                 Catatan: {note}\n\nSilakan perbaiki dan ajukan kembali melalui ranah.",
                about.fqdn
            ),
        )],
        Event::Rejected { note, reason, .. } => vec![to_applicant(
            about,
            "ditolak",
            format!(
                "Permohonan subdomain {} ditolak.\n\nAlasan: {reason}\nCatatan: {note}",
                about.fqdn
            ),
        )],
        Event::Resubmitted { step, .. } => waiting(
            workflow,
            *step,
            about,
            "telah diajukan kembali oleh pemohon",
        )
        .into_iter()
        .collect(),
        Event::Withdrawn { .. } => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn who_is_told_what() {
        let wf = Workflow::preset("kaltara").unwrap();
        let about = About {
            id: Some(7),
            fqdn: "sipd.example.go.id",
            agency: "Dinas Kesehatan",
        };
        let first = on_submission(&wf, 0, about);
        assert_eq!(first.len(), 1);
        assert_eq!(
            first[0].audience,
            Audience::Role(wf.steps[0].role.to_string())
        );
        assert!(first[0].subject.contains(&wf.steps[0].title));
        assert!(first[0].body.contains("Dinas Kesehatan"));
        let approved = Event::Approved {
            step: 0,
            by: 1,
            note: None,
            effect: None,
            next: Some(1),
            at: Utc::now(),
        };
        let n = on_event(&wf, &approved, about);
        assert_eq!(n[0].audience, Audience::Role(wf.steps[1].role.to_string()));
        let done = Event::Approved {
            step: 3,
            by: 1,
            note: None,
            effect: None,
            next: None,
            at: Utc::now(),
        };
        let n = on_event(&wf, &done, about);
        assert_eq!(n[0].audience, Audience::Applicant);
        assert!(n[0].subject.ends_with("selesai"));
        let returned = Event::Returned {
            step: 1,
            by: 1,
            note: "Lengkapi surat rekomendasi".into(),
            reason: "no_recommendation".into(),
            at: Utc::now(),
        };
        let n = on_event(&wf, &returned, about);
        assert_eq!(n[0].audience, Audience::Applicant);
        assert!(n[0].body.contains("Lengkapi surat rekomendasi"));
        assert!(
            on_event(
                &wf,
                &Event::Withdrawn {
                    by: None,
                    at: Utc::now()
                },
                about
            )
            .is_empty()
        );
    }
}
