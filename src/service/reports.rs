//! The monthly service report: the finished requests of a month read from the store, the
//! figures computed by the pure core ([`crate::domain::report`]).

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::Serialize;

use std::sync::Arc;

use super::ServiceError;
use crate::domain::access::{self, Actor};
use crate::domain::calendar::Calendar;
use crate::domain::policy::FieldError;
use crate::domain::report::{self, FinishedRequest, ReportEvent, ServiceReport};
use crate::domain::workflow::Workflow;
use crate::store::Store;

/// The report with the audit trail's head at the month's end.
#[derive(Debug, Clone, Serialize)]
pub struct MonthlyReport {
    /// The figures.
    #[serde(flatten)]
    pub report: ServiceReport,
    /// The calendar's time zone, in which the month is counted.
    pub time_zone: String,
    /// The workflow.
    pub workflow: String,
    /// The last audit event before the month's end: `{"seq", "hash"}`.
    pub audit_head: Option<AuditHead>,
    /// The month's oversight: findings, confirmations, names given for a time.
    pub oversight: report::OversightFigures,
    /// The month's complaints, one line per category in the standards' order.
    pub complaints: Vec<report::ComplaintLine>,
    /// Requests submitted in the month by how their letter came (`paper`, `srikandi`,
    /// `email`, `web`; `unrecorded` where the front office did not say).
    pub letters: std::collections::BTreeMap<String, usize>,
}

/// A point in the audit trail, signed when the month is over and a key is configured.
#[derive(Debug, Clone, Serialize)]
pub struct AuditHead {
    /// Sequence number.
    pub seq: i64,
    /// Its hash.
    pub hash: String,
    /// The Ed25519 signature over the checkpoint text (docs/audit.md), hex.
    pub signature: Option<String>,
    /// The public key, hex.
    pub public_key: Option<String>,
}

/// The monthly service report for the office and auditors.
pub struct Reports {
    store: Store,
    workflow: Arc<Workflow>,
    calendar: Arc<Calendar>,
    signer: Option<Arc<crate::audit::checkpoint::Signer>>,
}

impl Reports {
    /// The service over the store, the workflow, the calendar and the checkpoint key.
    pub fn new(
        store: Store,
        workflow: Arc<Workflow>,
        calendar: Arc<Calendar>,
        signer: Option<Arc<crate::audit::checkpoint::Signer>>,
    ) -> Self {
        Self {
            store,
            workflow,
            calendar,
            signer,
        }
    }

    /// The report of `month` (`YYYY-MM` in the calendar's time zone).
    pub async fn monthly(
        &self,
        caller: &Actor,
        month: &str,
    ) -> Result<MonthlyReport, ServiceError> {
        if !access::may_read_reports(caller) {
            return Err(ServiceError::Forbidden(
                "the service report is for the office and auditors".into(),
            ));
        }
        monthly(
            &self.store,
            &self.workflow,
            &self.calendar,
            month,
            self.signer.as_deref(),
        )
        .await
    }
}

fn bad_month(month: &str) -> ServiceError {
    ServiceError::Validation(vec![FieldError {
        field: "month".into(),
        code: "invalid_month",
        message: format!("`{month}`: write YYYY-MM"),
    }])
}

/// The month's first instant and the next month's, in the calendar's time zone.
fn bounds(calendar: &Calendar, month: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let first = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").ok()?;
    if month.len() != 7 {
        return None;
    }
    let next = first.checked_add_months(chrono::Months::new(1))?;
    let tz = calendar.time_zone();
    let start = |d: NaiveDate| {
        tz.from_local_datetime(&d.and_hms_opt(0, 0, 0)?)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    };
    Some((start(first)?, start(next)?))
}

/// The report of `month` (`YYYY-MM`).
pub async fn monthly(
    store: &Store,
    workflow: &Workflow,
    calendar: &Calendar,
    month: &str,
    signer: Option<&crate::audit::checkpoint::Signer>,
) -> Result<MonthlyReport, ServiceError> {
    let (from, to) = bounds(calendar, month).ok_or_else(|| bad_month(month))?;
    let mut requests = Vec::new();
    for (id, status) in store.finished_between(from, to).await? {
        let events = store
            .request_history(id)
            .await?
            .into_iter()
            .map(|h| ReportEvent {
                action: h.entry.action,
                step: h.entry.step,
                at: h.entry.at,
                reason: h.entry.reason,
            })
            .collect();
        requests.push(FinishedRequest { status, events });
    }
    let mut audit_head = store
        .audit_head_before(to)
        .await?
        .map(|(seq, hash)| AuditHead {
            seq,
            hash,
            signature: None,
            public_key: None,
        });
    // A month that is over gets its head signed once; the signature is kept and shown again.
    if let (Some(head), Some(signer)) = (audit_head.as_mut(), signer)
        && to <= Utc::now()
    {
        let checkpoint = match store.checkpoint("monthly", month).await? {
            Some(c) => c,
            None => {
                let c = signer.sign("monthly", month, head.seq, &head.hash, Utc::now());
                store.save_checkpoint(&c).await?;
                c
            }
        };
        head.seq = checkpoint.seq;
        head.hash = checkpoint.hash;
        head.signature = Some(checkpoint.signature);
        head.public_key = Some(checkpoint.public_key);
    }
    let spans: Vec<report::FindingSpan> = store
        .findings_between(from, to)
        .await?
        .into_iter()
        .filter_map(|(kind, first, resolved)| {
            Some(report::FindingSpan {
                kind,
                first_seen: crate::domain::time::parse(&first)?,
                resolved_at: resolved.as_deref().and_then(crate::domain::time::parse),
            })
        })
        .collect();
    let actions = store
        .audit_actions_between(from, to, &report::OVERSIGHT_ACTIONS)
        .await?;
    let stamp = |t: &str| {
        crate::domain::time::parse(t).ok_or_else(|| ServiceError::internal("a complaint's time", t))
    };
    let mut complaints = Vec::new();
    for (category, received, due, answered, closed) in store.complaints_between(from, to).await? {
        complaints.push(report::ComplaintSpan {
            category,
            received_at: stamp(&received)?,
            due_at: stamp(&due)?,
            answered_at: answered.as_deref().map(stamp).transpose()?,
            closed_at: closed.as_deref().map(stamp).transpose()?,
        });
    }
    let mut letters = std::collections::BTreeMap::new();
    for letter in store.letters_between(from, to).await? {
        let channel = letter
            .and_then(|l| serde_json::from_str::<crate::domain::letter::IncomingLetter>(&l).ok())
            .map_or("unrecorded", |l| l.channel.as_str());
        *letters.entry(channel.to_owned()).or_insert(0) += 1;
    }
    Ok(MonthlyReport {
        letters,
        complaints: report::complaints(calendar, &complaints, from, to, Utc::now()),
        oversight: report::oversight(&spans, from, to, &actions),
        report: report::monthly(workflow, calendar, month, &requests),
        time_zone: calendar.time_zone().name().to_owned(),
        workflow: workflow.name.clone(),
        audit_head,
    })
}

/// The report as CSV: one line per step, one for the total, one per reason code.
pub fn to_csv(r: &MonthlyReport) -> String {
    let mut out =
        String::from("section,step,title,count,median_minutes,p90_minutes,within_standard\n");
    let num = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    let share = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or_default();
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    for s in &r.report.steps {
        out.push_str(&format!(
            "step,{},{},{},{},{},{}\n",
            s.step,
            quote(&s.title),
            s.timing.count,
            num(s.timing.median_minutes),
            num(s.timing.p90_minutes),
            share(s.timing.within_standard)
        ));
    }
    let t = &r.report.total;
    out.push_str(&format!(
        "total,,,{},{},{},{}\n",
        t.count,
        num(t.median_minutes),
        num(t.p90_minutes),
        share(t.within_standard)
    ));
    let sv = &r.report.service;
    out.push_str(&format!(
        "service,,{},{},,,{}\n",
        quote(&sv.standard),
        sv.completed,
        share(sv.within_share)
    ));
    for (channel, n) in &r.letters {
        out.push_str(&format!("letter_channel,{channel},,{n},,,\n"));
    }
    for (reason, n) in &r.report.returns {
        out.push_str(&format!("returned,{reason},,{n},,,\n"));
    }
    for (reason, n) in &r.report.rejections {
        out.push_str(&format!("rejected,{reason},,{n},,,\n"));
    }
    let o = &r.oversight;
    for (kind, n) in &o.findings_opened {
        out.push_str(&format!("finding_opened,{kind},,{n},,,\n"));
    }
    // Hours, not working minutes: a name is at risk around the clock.
    out.push_str(&format!(
        "finding_resolved,,hours,{},{},{},\n",
        o.findings_resolved,
        num(o.resolve_median_hours),
        num(o.resolve_p90_hours)
    ));
    for (what, n) in [
        ("finding_open_at_end", o.findings_open_at_end),
        ("confirmed", o.confirmations),
        ("confirmation_reminder", o.confirmation_reminders),
        ("unconfirmed", o.unconfirmed),
        ("unconfirmed_suspended", o.unconfirmed_suspended),
        ("end_notice", o.end_notices),
        ("ended", o.ended),
        ("removed", o.removed),
    ] {
        out.push_str(&format!("{what},,,{n},,,\n"));
    }
    // Complaints: received, answered (working minutes to the answer, share within the
    // category's standard), closed, open and overdue at the month's end.
    for c in &r.complaints {
        out.push_str(&format!(
            "complaint_received,{},{},{},,,\n",
            c.category,
            quote(&c.title),
            c.received
        ));
        out.push_str(&format!(
            "complaint_answered,{},{},{},{},{},{}\n",
            c.category,
            quote(&c.standard),
            c.answered.count,
            num(c.answered.median_minutes),
            num(c.answered.p90_minutes),
            share(c.answered.within_standard)
        ));
        for (what, n) in [
            ("complaint_closed", c.closed),
            ("complaint_open_at_end", c.open_at_end),
            ("complaint_overdue_at_end", c.overdue_at_end),
        ] {
            out.push_str(&format!("{what},{},,{n},,,\n", c.category));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_bounds_in_the_office_time_zone() {
        let cal = Calendar::default_wita([]);
        let (from, to) = bounds(&cal, "2026-11").unwrap();
        assert_eq!(from.to_rfc3339(), "2026-10-31T16:00:00+00:00");
        assert_eq!(to.to_rfc3339(), "2026-11-30T16:00:00+00:00");
        let (_, to) = bounds(&cal, "2026-12").unwrap();
        assert_eq!(to.to_rfc3339(), "2026-12-31T16:00:00+00:00");
        for bad in ["2026-13", "2026-1", "nope", "2026-11-01"] {
            assert!(bounds(&cal, bad).is_none(), "{bad}");
        }
    }
}
