//! Attachments of a request: which files an applicant may attach, how large, and of which
//! types, recognised by their content (never by the name or the declared type).

/// Largest attachment accepted: 10 MiB.
pub const MAX_SIZE: usize = 10 * 1024 * 1024;

/// What an uploaded file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The signed request letter (required before the first approval).
    Letter,
    /// The recommendation that supports the application.
    Recommendation,
}

impl Kind {
    /// The kind an upload's field names (`letter`, `recommendation`).
    pub fn parse(field: &str) -> Option<Self> {
        match field {
            "letter" => Some(Self::Letter),
            "recommendation" => Some(Self::Recommendation),
            _ => None,
        }
    }

    /// The name used in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Letter => "letter",
            Self::Recommendation => "recommendation",
        }
    }
}

/// The media type of a file, recognised by its content: PDF, PNG or JPEG; `None` for anything
/// else.
pub fn media_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognised_by_content() {
        assert_eq!(media_type(b"%PDF-1.7\n..."), Some("application/pdf"));
        assert_eq!(media_type(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(media_type(&[0xff, 0xd8, 0xff, 0xe0]), Some("image/jpeg"));
        assert_eq!(media_type(b"<html>"), None);
        assert_eq!(media_type(b""), None);
        assert_eq!(Kind::parse("letter"), Some(Kind::Letter));
        assert_eq!(Kind::parse("response_letter"), None);
    }
}
