//! The API's answers as text for a terminal: tables for lists, a page for one request or
//! certificate, a line for what an action did. Fields the client does not know are left out
//! (`--format json` shows everything).

use std::fmt::Write as _;

use serde_json::Value;

/// A string field, or "-".
fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("-")
}

/// Rows under a header, each column as wide as its widest cell.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            let pad = widths[i].saturating_sub(cell.chars().count());
            text.push_str(cell);
            text.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut out, &mut header.iter().copied());
    for row in rows {
        line(&mut out, &mut row.iter().map(String::as_str));
    }
    out
}

/// The fully qualified name of a request or register entry (`name.zone`, or the zone's apex).
fn fqdn(v: &Value) -> String {
    match (s(v, "name"), s(v, "zone")) {
        ("@" | "" | "-", zone) => zone.to_owned(),
        (name, zone) => format!("{name}.{zone}"),
    }
}

/// Records as `TYPE VALUE (ttl N)`, separated by `; `.
fn records(v: &Value) -> String {
    let list: Vec<String> = v
        .get("records")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| {
            format!(
                "{} {} (ttl {})",
                s(r, "type"),
                s(r, "value"),
                r.get("ttl").and_then(Value::as_u64).unwrap_or_default()
            )
        })
        .collect();
    if list.is_empty() {
        "-".into()
    } else {
        list.join("; ")
    }
}

/// Where a request stands: its status, and for one in review the step and its due time.
fn standing(v: &Value) -> String {
    let status = s(v, "status");
    match v.get("step").and_then(Value::as_str) {
        Some(step) if status == "in_review" => {
            let mut text = format!("in review at {step}");
            if let Some(title) = v.get("step_title").and_then(Value::as_str) {
                let _ = write!(text, " ({title})");
            }
            if let Some(due) = v.get("due_at").and_then(Value::as_str) {
                let _ = write!(text, ", due {due}");
            }
            if v.get("overdue").and_then(Value::as_bool) == Some(true) {
                text.push_str(", OVERDUE");
            }
            text
        }
        _ => status.to_owned(),
    }
}

/// `GET /api/v1/requests`: a table and the page.
pub fn request_page(page: &Value) -> String {
    let items = page.get("items").and_then(Value::as_array);
    let rows: Vec<Vec<String>> = items
        .into_iter()
        .flatten()
        .map(|r| {
            let due = match (r.get("due_at").and_then(Value::as_str), r.get("overdue")) {
                (Some(due), Some(Value::Bool(true))) => format!("{due} !"),
                (Some(due), _) => due.to_owned(),
                (None, _) => "-".into(),
            };
            vec![
                r.get("id").map(Value::to_string).unwrap_or_default(),
                s(r, "kind").to_owned(),
                fqdn(r),
                s(r, "agency").to_owned(),
                s(r, "status").to_owned(),
                s(r, "step").to_owned(),
                due,
            ]
        })
        .collect();
    if rows.is_empty() {
        return "no requests\n".into();
    }
    let mut out = table(
        &["ID", "KIND", "NAME", "AGENCY", "STATUS", "STEP", "DUE"],
        &rows,
    );
    let number = |k: &str| page.get(k).and_then(Value::as_u64).unwrap_or_default();
    let pages = number("total").div_ceil(number("per_page").max(1)).max(1);
    let total = number("total");
    let _ = writeln!(
        out,
        "page {} of {pages}, {total} request{} in all (! past its due time)",
        number("page"),
        if total == 1 { "" } else { "s" }
    );
    out
}

/// `GET /api/v1/requests/{id}`: the request, its records, attachments and history.
pub fn request(r: &Value) -> String {
    let mut out = String::new();
    let id = r.get("id").map(Value::to_string).unwrap_or_default();
    let _ = writeln!(out, "Request {id}: {} {}", s(r, "kind"), fqdn(r));
    let _ = writeln!(out, "Status:      {}", standing(r));
    let _ = writeln!(out, "Agency:      {}", s(r, "agency"));
    let _ = writeln!(out, "Records:     {}", records(r));
    let _ = writeln!(out, "Purpose:     {}", s(r, "purpose"));
    let _ = writeln!(out, "Recommended: {}", s(r, "recommendation_ref"));
    if let Some(c) = r.get("contact") {
        let _ = writeln!(
            out,
            "Contact:     {} <{}> {}",
            s(c, "name"),
            s(c, "email"),
            c.get("phone").and_then(Value::as_str).unwrap_or_default()
        );
    }
    let certificate = match r.get("certificate").and_then(Value::as_bool) {
        Some(true) => s(r, "certificate_status").to_owned(),
        _ => "not requested".into(),
    };
    let _ = writeln!(out, "Certificate: {certificate}");
    let attachments: Vec<String> = r
        .get("attachments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|a| {
            format!(
                "{} ({}, {} bytes)",
                s(a, "kind"),
                s(a, "media_type"),
                a.get("size").and_then(Value::as_i64).unwrap_or_default()
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "Attachments: {}",
        if attachments.is_empty() {
            "none".to_owned()
        } else {
            attachments.join(", ")
        }
    );
    let history: Vec<Vec<String>> = r
        .get("history")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|h| {
            let mut note = h
                .get("note")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if let Some(reason) = h.get("reason").and_then(Value::as_str) {
                note = format!("[{reason}] {note}");
            }
            vec![
                s(h, "at").to_owned(),
                s(h, "actor").to_owned(),
                s(h, "action").to_owned(),
                s(h, "step").to_owned(),
                note.trim().to_owned(),
            ]
        })
        .collect();
    if !history.is_empty() {
        out.push_str("History:\n");
        for line in table(&["AT", "BY", "ACTION", "STEP", "NOTE"], &history).lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}

/// What an action left: the request's id and where it stands now.
pub fn acted(action: &str, r: &Value) -> String {
    let id = r.get("id").map(Value::to_string).unwrap_or_default();
    format!(
        "request {id} ({}): {action}; now {}\n",
        fqdn(r),
        standing(r)
    )
}

/// `GET /api/v1/subdomains`: the register.
pub fn register(list: &Value) -> String {
    let rows: Vec<Vec<String>> = list
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|e| {
            let certificate = e
                .get("certificate")
                .filter(|c| !c.is_null())
                .map(|c| format!("{} until {}", s(c, "status"), s(c, "not_after")))
                .unwrap_or_else(|| "-".into());
            vec![
                fqdn(e),
                s(e, "state").to_owned(),
                s(e, "agency").to_owned(),
                e.get("request")
                    .filter(|r| !r.is_null())
                    .map(Value::to_string)
                    .unwrap_or_else(|| "-".into()),
                records(e),
                certificate,
            ]
        })
        .collect();
    if rows.is_empty() {
        return "no subdomains\n".into();
    }
    table(
        &[
            "NAME",
            "STATE",
            "AGENCY",
            "REQUEST",
            "RECORDS",
            "CERTIFICATE",
        ],
        &rows,
    )
}

/// `GET /api/v1/certificates`: every certificate and its expiry.
pub fn certificates(list: &Value) -> String {
    let rows: Vec<Vec<String>> = list
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            vec![
                s(c, "name").to_owned(),
                s(c, "status").to_owned(),
                s(c, "not_after").to_owned(),
                s(c, "renew_at").to_owned(),
                s(c, "issuer").to_owned(),
            ]
        })
        .collect();
    if rows.is_empty() {
        return "no certificates\n".into();
    }
    table(
        &["NAME", "STATUS", "NOT AFTER", "RENEW AT", "ISSUER"],
        &rows,
    )
}

/// `GET /api/v1/certificates/{name}`: one certificate.
pub fn certificate(c: &Value) -> String {
    let mut out = String::new();
    for (label, key) in [
        ("Name", "name"),
        ("Status", "status"),
        ("Mode", "mode"),
        ("Serial", "serial"),
        ("Issuer", "issuer"),
        ("Not before", "not_before"),
        ("Not after", "not_after"),
        ("Renew at", "renew_at"),
        ("Last error", "last_error"),
    ] {
        let _ = writeln!(out, "{:<12}{}", format!("{label}:"), s(c, key));
    }
    if let Some(request) = c.get("request").filter(|r| !r.is_null()) {
        let _ = writeln!(out, "{:<12}{request}", "Request:");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_page_of_requests_is_a_table_with_overdue_marks() {
        let page = json!({"items": [
            {"id": 3, "kind": "create", "name": "sipd", "zone": "example.go.id", "agency": "DINKES",
             "status": "in_review", "step": "kabid", "due_at": "2026-12-03T09:00:00Z", "overdue": true},
            {"id": 12, "kind": "delete", "name": "lama", "zone": "example.go.id", "agency": null,
             "status": "completed", "step": null, "due_at": null, "overdue": false}],
            "page": 1, "per_page": 50, "total": 2});
        assert_eq!(
            request_page(&page),
            "ID  KIND    NAME                AGENCY  STATUS     STEP   DUE\n\
             3   create  sipd.example.go.id  DINKES  in_review  kabid  2026-12-03T09:00:00Z !\n\
             12  delete  lama.example.go.id  -       completed  -      -\n\
             page 1 of 1, 2 requests in all (! past its due time)\n"
        );
        assert_eq!(
            request_page(&json!({"items": [], "page": 1, "per_page": 50, "total": 0})),
            "no requests\n"
        );
    }
}
