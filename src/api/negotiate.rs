//! Content negotiation for the routes that answer in more than one form (the register, the
//! monthly report): which of the forms offered the client's `Accept` prefers, by its quality
//! values (RFC 9110 §12.5.1).

use axum::http::{HeaderMap, StatusCode, header};

use super::problem::Problem;

/// The form of `offered` the `Accept` headers prefer: the one with the highest quality, the
/// most specific range deciding each form's (`text/csv` before `text/*` before `*/*`); on a
/// tie, the first offered. Without `Accept`, the first. None acceptable is `406`.
pub fn preferred<'a>(headers: &HeaderMap, offered: &[&'a str]) -> Result<&'a str, Problem> {
    let ranges: Vec<(mime::Mime, f32)> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|range| {
            let m: mime::Mime = range.trim().parse().ok()?;
            let q = m
                .get_param("q")
                .and_then(|q| q.as_str().parse::<f32>().ok())
                .unwrap_or(1.0)
                .clamp(0.0, 1.0);
            Some((m, q))
        })
        .collect();
    let Some(first) = offered.first() else {
        return Err(not_acceptable(offered));
    };
    if ranges.is_empty() {
        return Ok(first);
    }
    let quality = |form: &str| -> f32 {
        let Ok(form) = form.parse::<mime::Mime>() else {
            return 0.0;
        };
        ranges
            .iter()
            .filter_map(|(range, q)| {
                let specificity = match (range.type_(), range.subtype()) {
                    (t, s) if t == form.type_() && s == form.subtype() => 3,
                    (t, mime::STAR) if t == form.type_() => 2,
                    (mime::STAR, mime::STAR) => 1,
                    _ => return None,
                };
                Some((specificity, *q))
            })
            .max_by_key(|(specificity, _)| *specificity)
            .map_or(0.0, |(_, q)| q)
    };
    let mut best: Option<(&str, f32)> = None;
    for form in offered {
        let q = quality(form);
        if q > 0.0 && best.is_none_or(|(_, b)| q > b) {
            best = Some((form, q));
        }
    }
    best.map(|(form, _)| form)
        .ok_or_else(|| not_acceptable(offered))
}

fn not_acceptable(offered: &[&str]) -> Problem {
    Problem::new(
        StatusCode::NOT_ACCEPTABLE,
        "not_acceptable",
        format!("this resource is offered as {}", offered.join(", ")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(accept: Option<&str>) -> Result<&'static str, u16> {
        let mut headers = HeaderMap::new();
        if let Some(a) = accept {
            headers.insert(header::ACCEPT, a.parse().unwrap());
        }
        preferred(
            &headers,
            &["application/json", "text/csv", "application/pdf"],
        )
        .map_err(|p| {
            axum::response::IntoResponse::into_response(p)
                .status()
                .as_u16()
        })
    }

    #[test]
    fn the_best_quality_wins_and_json_is_the_default() {
        assert_eq!(asked(None), Ok("application/json"));
        assert_eq!(asked(Some("*/*")), Ok("application/json"));
        assert_eq!(asked(Some("text/csv")), Ok("text/csv"));
        assert_eq!(asked(Some("application/pdf")), Ok("application/pdf"));
        assert_eq!(
            asked(Some("application/json, text/csv;q=0.1")),
            Ok("application/json")
        );
        assert_eq!(
            asked(Some("text/csv;q=0.9, application/pdf")),
            Ok("application/pdf")
        );
        assert_eq!(asked(Some("text/*")), Ok("text/csv"));
        // The most specific range decides: csv refused though `*/*` would take it.
        assert_eq!(
            asked(Some("text/csv;q=0, */*;q=0.5")),
            Ok("application/json")
        );
        assert_eq!(asked(Some("text/csv;q=0")), Err(406));
        assert_eq!(asked(Some("image/png")), Err(406));
        // Unreadable ranges are ignored.
        assert_eq!(asked(Some("garbage, text/csv")), Ok("text/csv"));
    }
}
