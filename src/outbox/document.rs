//! The documents a step makes, from the office's templates: the response letter (Surat
//! Tanggapan), the handover minutes (Berita Acara), the confirmation letter (Surat Konfirmasi).
//! A template (TOML, in Bahasa Indonesia) says the title, the paragraphs, the fields and who
//! signs; the page carries the office's letterhead and is set in DejaVu Sans (shipped in the
//! binary, its licence beside it), so that Indonesian text, names with accents included, prints
//! as written.

use std::collections::BTreeMap;
use std::path::Path;

use printpdf::{IndirectFontRef, Mm, PdfDocument, PdfDocumentReference, PdfLayerReference};
use serde::Deserialize;

/// DejaVu Sans, regular and bold (Bitstream Vera licence: fonts/LICENSE.txt).
const REGULAR: &[u8] = include_bytes!("fonts/DejaVuSans.ttf");
const BOLD: &[u8] = include_bytes!("fonts/DejaVuSans-Bold.ttf");

/// The templates ranah ships (`deploy/documents/`).
const BUILTIN: [(&str, &str); 3] = [
    (
        "response_letter",
        include_str!("../../deploy/documents/response_letter.toml"),
    ),
    (
        "handover_minutes",
        include_str!("../../deploy/documents/handover_minutes.toml"),
    ),
    (
        "confirmation_letter",
        include_str!("../../deploy/documents/confirmation_letter.toml"),
    ),
];

/// Why a template cannot be read or a document made.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// A template file that is not a template.
    #[error("document template {name}: {message}")]
    Template {
        /// Its name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// No template of that name.
    #[error(
        "no document template `{0}` (ranah's own: response_letter, handover_minutes, confirmation_letter; or NAME.toml in [letter] documents_dir)"
    )]
    Unknown(String),
    /// The PDF could not be made (a fault of ours).
    #[error("cannot make the document: {0}")]
    Pdf(String),
}

/// Who signs a document.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureSpec {
    /// The signatory's title (`Kepala Dinas Komunikasi dan Informatika`).
    pub title: String,
    /// The signatory's name, when fixed (the configured signatory); else the one who approved
    /// `step`.
    #[serde(default)]
    pub name: Option<String>,
    /// The workflow step whose approval is this signature.
    #[serde(default)]
    pub step: Option<String>,
}

/// A document template.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// The title, in capitals as letters write it.
    pub title: String,
    /// The file's name, without `.pdf` (the request's number is added).
    pub file_name: String,
    /// Whether it carries a number (`[letter] number_format`) and a subject line.
    #[serde(default)]
    pub subject: Option<String>,
    /// To whom, line by line.
    #[serde(default)]
    pub recipient: Vec<String>,
    /// Paragraphs before the fields.
    #[serde(default)]
    pub paragraphs: Vec<String>,
    /// Label and value, one a line (a value of several lines continues under it).
    #[serde(default)]
    pub fields: Vec<(String, String)>,
    /// Paragraphs after the fields.
    #[serde(default)]
    pub closing: Vec<String>,
    /// The signatures, side by side in the order given.
    #[serde(default)]
    pub signatures: Vec<SignatureSpec>,
}

impl Template {
    /// A template from its TOML text.
    pub fn parse(name: &str, text: &str) -> Result<Self, DocumentError> {
        toml::from_str(text).map_err(|e| DocumentError::Template {
            name: name.into(),
            message: e.to_string().trim().to_owned(),
        })
    }

    /// The steps whose approvals sign it.
    pub fn signing_steps(&self) -> impl Iterator<Item = &str> {
        self.signatures.iter().filter_map(|s| s.step.as_deref())
    }
}

/// The office's templates: ranah's own, and the office's files (`NAME.toml` in a directory)
/// that add to them or replace them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Templates(BTreeMap<String, Template>);

impl Templates {
    /// ranah's own templates, then the office's from `dir`.
    pub fn load(dir: Option<&Path>) -> Result<Self, DocumentError> {
        let mut out = BTreeMap::new();
        for (name, text) in BUILTIN {
            out.insert(name.to_owned(), Template::parse(name, text)?);
        }
        if let Some(dir) = dir {
            let entries = std::fs::read_dir(dir).map_err(|e| DocumentError::Template {
                name: dir.display().to_string(),
                message: e.to_string(),
            })?;
            for entry in entries.flatten() {
                let path = entry.path();
                let (Some(stem), Some("toml")) = (
                    path.file_stem().and_then(|s| s.to_str()),
                    path.extension().and_then(|s| s.to_str()),
                ) else {
                    continue;
                };
                let text = std::fs::read_to_string(&path).map_err(|e| DocumentError::Template {
                    name: path.display().to_string(),
                    message: e.to_string(),
                })?;
                out.insert(stem.to_owned(), Template::parse(stem, &text)?);
            }
        }
        Ok(Self(out))
    }

    /// The template named `name`.
    pub fn get(&self, name: &str) -> Result<&Template, DocumentError> {
        self.0
            .get(name)
            .ok_or_else(|| DocumentError::Unknown(name.to_owned()))
    }
}

/// A signature as the document shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The title.
    pub title: String,
    /// The name under it.
    pub name: String,
    /// `Disetujui secara elektronik … pada …`, or `(belum ditandatangani)`.
    pub approval: String,
}

/// `{key}` in `text` replaced by the values; an unknown key is left as it is.
pub fn fill(text: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = text.to_owned();
    for (key, value) in values {
        out = out.replace(&format!("{{{key}}}"), value);
    }
    out
}

/// Characters in a line of `size` points over `width` millimetres: DejaVu Sans averages about
/// 0.55 em a character, and a line broken early is better than one that runs off the page.
fn per_line(size: f32, width: f32) -> usize {
    let mm_per_char = size * 0.58 * 25.4 / 72.0;
    (width / mm_per_char).max(10.0) as usize
}

/// `text` broken into lines of at most `max` characters, at spaces where it can.
fn wrap(text: &str, max: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.lines() {
        let mut line = String::new();
        for word in paragraph.split(' ') {
            let extra = usize::from(!line.is_empty());
            if line.chars().count() + extra + word.chars().count() > max && !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
            while line.chars().count() > max {
                let cut: String = line.chars().take(max).collect();
                let rest: String = line.chars().skip(max).collect();
                lines.push(cut);
                line = rest;
            }
        }
        lines.push(line);
    }
    lines
}

/// Lines placed down the pages.
struct Pages<'a> {
    doc: &'a PdfDocumentReference,
    layer: PdfLayerReference,
    regular: &'a IndirectFontRef,
    bold: &'a IndirectFontRef,
    y: f32,
    page: usize,
}

const LEFT: f32 = 25.0;
const WIDTH: f32 = 160.0;
const BOTTOM: f32 = 25.0;

impl Pages<'_> {
    fn room(&mut self, mm: f32) {
        if self.y - mm < BOTTOM {
            self.page += 1;
            let (page, layer) =
                self.doc
                    .add_page(Mm(210.0), Mm(297.0), format!("halaman {}", self.page));
            self.layer = self.doc.get_page(page).get_layer(layer);
            self.y = 297.0 - 25.0;
        }
    }

    fn at(&mut self, text: &str, size: f32, x: f32, bold: bool) {
        let font = if bold { self.bold } else { self.regular };
        self.layer.use_text(text, size, Mm(x), Mm(self.y), font);
    }

    fn line(&mut self, text: &str, size: f32, bold: bool) {
        self.room(size * 0.5);
        self.at(text, size, LEFT, bold);
        self.y -= size * 0.5;
    }

    fn paragraph(&mut self, text: &str, size: f32) {
        for l in wrap(text, per_line(size, WIDTH)) {
            self.line(&l, size, false);
        }
        self.y -= 2.0;
    }

    fn gap(&mut self, mm: f32) {
        self.y -= mm;
    }
}

/// What one document says.
#[derive(Debug, Clone)]
pub struct Content<'a> {
    /// The office's letterhead, line by line (the first two in bold).
    pub letterhead: &'a [String],
    /// The template.
    pub template: &'a Template,
    /// The values its `{keys}` take (`number`, `date`, `city` among them).
    pub values: &'a BTreeMap<&'a str, String>,
    /// Its signatures, in the template's order.
    pub signatures: &'a [Signature],
    /// What it says of its electronic signature (signed by whom, or unsigned).
    pub signature_note: &'a str,
}

/// The document as PDF.
pub fn render(c: &Content<'_>) -> Result<Vec<u8>, DocumentError> {
    let err = |e: printpdf::Error| DocumentError::Pdf(e.to_string());
    let t = c.template;
    let title = fill(&t.title, c.values);
    let (doc, page, layer) = PdfDocument::new(&title, Mm(210.0), Mm(297.0), "halaman 1");
    let regular = doc.add_external_font(REGULAR).map_err(err)?;
    let bold = doc.add_external_font(BOLD).map_err(err)?;
    let mut p = Pages {
        doc: &doc,
        layer: doc.get_page(page).get_layer(layer),
        regular: &regular,
        bold: &bold,
        y: 275.0,
        page: 1,
    };
    for (i, line) in c.letterhead.iter().enumerate() {
        p.line(line, if i < 2 { 13.0 } else { 10.0 }, i < 2);
    }
    p.gap(6.0);
    let value = |k: &str| c.values.get(k).cloned().unwrap_or_default();
    if let Some(subject) = &t.subject {
        p.line(
            &format!("{}, {}", value("city"), value("date")),
            11.0,
            false,
        );
        p.gap(2.0);
        p.line(&format!("Nomor    : {}", value("number")), 11.0, false);
        p.line(
            &format!("Perihal  : {}", fill(subject, c.values)),
            11.0,
            false,
        );
        p.gap(4.0);
    } else {
        for l in wrap(&title, per_line(12.0, WIDTH)) {
            p.line(&l, 12.0, true);
        }
        p.line(&format!("Nomor: {}", value("number")), 10.0, false);
        p.gap(4.0);
    }
    for line in &t.recipient {
        p.line(&fill(line, c.values), 11.0, false);
    }
    if !t.recipient.is_empty() {
        p.gap(4.0);
    }
    for para in &t.paragraphs {
        p.paragraph(&fill(para, c.values), 11.0);
    }
    let label_width = t
        .fields
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    // Labels in a column of their own, the values after a colon at one place.
    let value_x = LEFT + label_width as f32 * 2.3 + 2.0;
    for (label, value) in &t.fields {
        let filled = fill(value, c.values);
        let lines = wrap(&filled, per_line(11.0, LEFT + WIDTH - value_x - 3.0));
        for (i, l) in lines.iter().enumerate() {
            p.room(5.5);
            if i == 0 {
                p.at(label, 11.0, LEFT, false);
                p.at(":", 11.0, value_x - 2.5, false);
            }
            p.at(l, 11.0, value_x + 1.0, false);
            p.y -= 5.5;
        }
    }
    if !t.fields.is_empty() {
        p.gap(3.0);
    }
    for para in &t.closing {
        p.paragraph(&fill(para, c.values), 11.0);
    }
    // Signatures, up to three side by side.
    p.gap(8.0);
    for row in c.signatures.chunks(3) {
        p.room(40.0);
        let column = WIDTH / row.len().max(1) as f32;
        let top = p.y;
        for (i, s) in row.iter().enumerate() {
            p.y = top;
            let x = LEFT + column * i as f32;
            let per = per_line(9.5, column - 4.0);
            for l in wrap(&s.title, per) {
                p.at(&l, 9.5, x, false);
                p.y -= 4.5;
            }
            p.y -= 2.0;
            for l in wrap(&s.approval, per) {
                p.at(&l, 8.0, x, false);
                p.y -= 4.0;
            }
            p.y -= 4.0;
            for l in wrap(&s.name, per) {
                p.at(&l, 9.5, x, true);
                p.y -= 4.5;
            }
        }
        p.y = top - 40.0;
    }
    p.gap(4.0);
    for l in wrap(c.signature_note, per_line(8.5, WIDTH)) {
        p.line(&l, 8.5, false);
    }
    doc.save_to_bytes().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranahs_own_templates_read_and_wrap() {
        let t = Templates::load(None).unwrap();
        for name in ["response_letter", "handover_minutes", "confirmation_letter"] {
            t.get(name).unwrap();
        }
        assert!(matches!(t.get("nope"), Err(DocumentError::Unknown(_))));
        let minutes = t.get("handover_minutes").unwrap();
        assert_eq!(
            minutes.signing_steps().collect::<Vec<_>>(),
            ["minutes", "head_signature", "applicant_signature"]
        );
        assert_eq!(
            wrap("satu dua tiga empat", 9),
            ["satu dua", "tiga", "empat"]
        );
        assert_eq!(wrap("abcdefghijkl", 5), ["abcde", "fghij", "kl"]);
        let values = BTreeMap::from([("agency", "Dinas Kesehatan".to_owned())]);
        assert_eq!(
            fill("Kepala {agency} {x}", &values),
            "Kepala Dinas Kesehatan {x}"
        );
    }

    #[test]
    fn a_document_prints_what_latin_1_cannot() {
        let t = Templates::load(None).unwrap();
        let values = BTreeMap::from([
            ("agency", "Dinas Pariwisata dan Kebudayaan".to_owned()),
            ("fqdn", "budaya.example.go.id".to_owned()),
            ("records", "A 203.0.113.10\nAAAA 2001:db8::10".to_owned()),
            (
                "purpose",
                "Portal festival Ōgoh-ōgoh & Café Kopi".to_owned(),
            ),
            ("number", "555/1/DKISP/XII/2026".to_owned()),
            ("date", "5 Desember 2026".to_owned()),
        ]);
        let pdf = render(&Content {
            letterhead: &["PEMERINTAH DAERAH".into()],
            template: t.get("handover_minutes").unwrap(),
            values: &values,
            signatures: &[Signature {
                title: "Kepala Dinas".into(),
                name: "Nama Contoh".into(),
                approval: "(belum ditandatangani)".into(),
            }],
            signature_note: crate::outbox::sign::UNSIGNED,
        })
        .unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        // The font is embedded as a subset: the document stays small.
        assert!(pdf.len() < 200_000, "{} bytes", pdf.len());
    }
}
