//! `[attachments]`: the files a request takes.

use serde::{Deserialize, Serialize};

/// `[attachments]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttachmentSettings {
    /// Most files one request may hold (every upload adds one; the latest of a kind is the
    /// one used). An upload over it is refused whole (409 `too_many_attachments`).
    pub max_per_request: usize,
}

impl Default for AttachmentSettings {
    fn default() -> Self {
        Self {
            max_per_request: crate::domain::attachment::DEFAULT_MAX_PER_REQUEST,
        }
    }
}
