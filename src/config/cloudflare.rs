//! `[cloudflare_api]`: what a write through the Cloudflare-compatible API does. Applied at
//! once (the portal did the approving), or turned into a request that enters the workflow at
//! a configured step.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// What a write through the Cloudflare-compatible API does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CloudflareWrites {
    /// Written into the zone at once, like an approved request.
    #[default]
    Apply,
    /// Each write opens a request for its name, which enters the workflow at
    /// `request_step`; the write is made when that request's provisioning step is approved.
    Request,
}

/// `[cloudflare_api]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CloudflareApiSettings {
    /// `apply` (default) or `request`.
    pub writes: CloudflareWrites,
    /// With `writes = "request"`: the id of the step a request enters at, at or before the
    /// step that provisions; left out, the step that provisions. Checked against the
    /// workflow when the daemon starts.
    pub request_step: Option<String>,
    /// With `writes = "request"`: the agency (its code) of a request for a new name, written
    /// with a token bound to all agencies; it must exist when the daemon starts. Left out,
    /// such a write is refused.
    pub request_agency: Option<String>,
}

impl CloudflareApiSettings {
    /// Checked: step and agency written as the workflow and agencies write them.
    pub(super) fn resolve(mut self) -> Result<Self, ConfigError> {
        let invalid = |key: &str, message: &str| ConfigError::Invalid {
            key: format!("cloudflare_api.{key}"),
            message: message.into(),
        };
        if let Some(step) = &mut self.request_step {
            *step = step.trim().to_owned();
            if step.is_empty() || !step.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                return Err(invalid(
                    "request_step",
                    "must be a step id of the workflow (lower-case letters and underscores)",
                ));
            }
        }
        if let Some(code) = &mut self.request_agency {
            *code = code.trim().to_owned();
            if code.is_empty() || code.len() > 64 {
                return Err(invalid("request_agency", "must be an agency's code"));
            }
        }
        Ok(self)
    }
}
