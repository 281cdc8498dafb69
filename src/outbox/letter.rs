//! The response letter (Surat Tanggapan) as PDF, made with printpdf: the office's letterhead,
//! a letter number, the date, the requesting agency, the subdomain and its records, the
//! certificate status, and the signatory.

use chrono::{DateTime, Datelike};
use chrono_tz::Tz;
use printpdf::{BuiltinFont, IndirectFontRef, Mm, PdfDocument, PdfLayerReference};

use crate::config::LetterConfig;

/// What a letter says about one request.
#[derive(Debug, Clone)]
pub struct LetterContent {
    /// The request's number.
    pub request_id: i64,
    /// The requesting agency's name.
    pub agency: String,
    /// The full name, e.g. `sipd.kaltaraprov.go.id`.
    pub fqdn: String,
    /// The records, as master-file lines (`A 203.0.113.10`).
    pub records: Vec<String>,
    /// What the application is for.
    pub purpose: String,
    /// The certificate's state, in words.
    pub certificate: String,
    /// The date of the letter.
    pub date: DateTime<Tz>,
}

/// Errors making a letter.
#[derive(Debug, thiserror::Error)]
#[error("cannot make the response letter: {0}")]
pub struct LetterError(String);

const MONTHS: [&str; 12] = [
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
];

/// A date as Indonesian letters write it: `23 November 2026`.
pub fn tanggal(date: &DateTime<Tz>) -> String {
    let month = MONTHS
        .get(date.month0() as usize)
        .copied()
        .unwrap_or_default();
    format!("{} {month} {}", date.day(), date.year())
}

/// The letter's number from the configured format: `{id}`, `{year}` and `{month}` (Roman).
pub fn letter_number(format: &str, id: i64, date: &DateTime<Tz>) -> String {
    const ROMAN: [&str; 12] = [
        "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII",
    ];
    format
        .replace("{id}", &id.to_string())
        .replace("{year}", &date.year().to_string())
        .replace(
            "{month}",
            ROMAN.get(date.month0() as usize).copied().unwrap_or(""),
        )
}

/// Lines of text placed down the page.
struct Writer<'a> {
    layer: PdfLayerReference,
    regular: &'a IndirectFontRef,
    bold: &'a IndirectFontRef,
    y: f32,
}

impl Writer<'_> {
    fn line(&mut self, text: &str, size: f32, bold: bool) {
        let font = if bold { self.bold } else { self.regular };
        // The built-in fonts speak WinAnsi: anything outside it is replaced, not dropped.
        let text: String = text
            .chars()
            .map(|c| if c.is_ascii() { c } else { '?' })
            .collect();
        self.layer.use_text(text, size, Mm(25.0), Mm(self.y), font);
        self.y -= size * 0.5;
    }

    fn gap(&mut self, mm: f32) {
        self.y -= mm;
    }
}

/// Render the letter.
pub fn render(
    config: &LetterConfig,
    content: &LetterContent,
    signature_note: &str,
) -> Result<Vec<u8>, LetterError> {
    let err = |e: printpdf::Error| LetterError(e.to_string());
    let (doc, page, layer) = PdfDocument::new("Surat Tanggapan", Mm(210.0), Mm(297.0), "surat");
    let regular = doc.add_builtin_font(BuiltinFont::Helvetica).map_err(err)?;
    let bold = doc
        .add_builtin_font(BuiltinFont::HelveticaBold)
        .map_err(err)?;
    let mut w = Writer {
        layer: doc.get_page(page).get_layer(layer),
        regular: &regular,
        bold: &bold,
        y: 275.0,
    };
    for (i, line) in config.letterhead.iter().enumerate() {
        w.line(line, if i < 2 { 13.0 } else { 10.0 }, i < 2);
    }
    w.gap(6.0);
    let number = letter_number(&config.number_format, content.request_id, &content.date);
    w.line(
        &format!("{}, {}", config.city, tanggal(&content.date)),
        11.0,
        false,
    );
    w.gap(2.0);
    w.line(&format!("Nomor    : {number}"), 11.0, false);
    w.line(
        "Perihal  : Tanggapan atas permohonan subdomain",
        11.0,
        false,
    );
    w.gap(4.0);
    w.line("Kepada Yth.", 11.0, false);
    w.line(&format!("Kepala {}", content.agency), 11.0, true);
    w.line("di tempat", 11.0, false);
    w.gap(6.0);
    w.line(
        &format!(
            "Menindaklanjuti permohonan nomor {} dari {},",
            content.request_id, content.agency
        ),
        11.0,
        false,
    );
    w.line(
        "dengan ini kami sampaikan bahwa subdomain berikut telah dibuat dan aktif:",
        11.0,
        false,
    );
    w.gap(3.0);
    w.line(&format!("Subdomain   : {}", content.fqdn), 11.0, true);
    for (i, record) in content.records.iter().enumerate() {
        let label = if i == 0 {
            "Rekaman DNS : "
        } else {
            "              "
        };
        w.line(&format!("{label}{record}"), 11.0, false);
    }
    w.line(&format!("Keperluan   : {}", content.purpose), 11.0, false);
    w.line(
        &format!("Sertifikat  : {}", content.certificate),
        11.0,
        false,
    );
    w.gap(4.0);
    w.line(
        "Demikian kami sampaikan. Atas perhatian dan kerja samanya kami ucapkan terima kasih.",
        11.0,
        false,
    );
    w.gap(10.0);
    w.line(&config.signatory_title, 11.0, false);
    w.gap(18.0);
    w.line(&config.signatory_name, 11.0, true);
    if let Some(id) = &config.signatory_id {
        w.line(id, 11.0, false);
    }
    w.gap(10.0);
    w.line(signature_note, 9.0, false);
    doc.save_to_bytes().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn number_and_date() {
        let d = chrono_tz::Asia::Makassar
            .with_ymd_and_hms(2026, 11, 23, 9, 0, 0)
            .unwrap();
        assert_eq!(tanggal(&d), "23 November 2026");
        assert_eq!(
            letter_number("555/{id}/DKISP/{month}/{year}", 42, &d),
            "555/42/DKISP/XI/2026"
        );
    }

    #[test]
    fn renders_a_pdf() {
        let d = chrono_tz::Asia::Makassar
            .with_ymd_and_hms(2026, 11, 23, 9, 0, 0)
            .unwrap();
        let pdf = render(
            &LetterConfig::default(),
            &LetterContent {
                request_id: 1,
                agency: "Dinas Kesehatan".into(),
                fqdn: "sipd.example.go.id".into(),
                records: vec!["A 203.0.113.10".into()],
                purpose: "Sistem informasi".into(),
                certificate: "tidak diminta".into(),
                date: d,
            },
            crate::outbox::sign::UNSIGNED,
        )
        .unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
    }
}
