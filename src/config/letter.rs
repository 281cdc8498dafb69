//! `[letter]`: what the response letter (Surat Tanggapan) prints.

use serde::{Deserialize, Serialize};

/// `[letter]`: what the response letter (Surat Tanggapan) prints. Placeholders by default:
/// every office sets its own.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LetterConfig {
    /// The letterhead, line by line (the first two in bold).
    pub letterhead: Vec<String>,
    /// The city the letter is written in.
    pub city: String,
    /// The signatory's title.
    pub signatory_title: String,
    /// The signatory's name.
    pub signatory_name: String,
    /// The signatory's staff number line, e.g. `NIP. …`.
    pub signatory_id: Option<String>,
    /// The letter number: `{id}` (the request), `{month}` (Roman), `{year}`.
    pub number_format: String,
    /// A directory of the office's document templates (`NAME.toml`: the response letter, the
    /// handover minutes, the confirmation letter, or a document of its own a step names);
    /// ranah's own are used where it has none (docs/documents.md).
    pub documents_dir: Option<std::path::PathBuf>,
}

impl Default for LetterConfig {
    fn default() -> Self {
        Self {
            letterhead: vec![
                "PEMERINTAH DAERAH".into(),
                "DINAS KOMUNIKASI DAN INFORMATIKA".into(),
                "Alamat kantor, telepon, email".into(),
            ],
            city: "Kota".into(),
            signatory_title: "Kepala Dinas Komunikasi dan Informatika".into(),
            signatory_name: "Nama Penandatangan".into(),
            signatory_id: None,
            number_format: "555/{id}/DKISP/{month}/{year}".into(),
            documents_dir: None,
        }
    }
}
