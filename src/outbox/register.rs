//! The register of subdomains (daftar subdomain) as PDF, made with printpdf like the response
//! letter: the office's letterhead, the title and date, and a table of every name the reader
//! may see, across as many landscape A4 pages as it takes, the table's head on each.

use chrono::DateTime;
use chrono_tz::Tz;
use printpdf::{BuiltinFont, IndirectFontRef, Mm, PdfDocument, PdfLayerReference};

use super::letter::tanggal;

/// Errors making the register's PDF.
#[derive(Debug, thiserror::Error)]
#[error("cannot make the register as PDF: {0}")]
pub struct RegisterPdfError(String);

/// One name of the register, as the PDF shows it.
#[derive(Debug, Clone, Default)]
pub struct RegisterRow {
    /// The full name.
    pub name: String,
    /// The agency's code.
    pub agency: String,
    /// Its records, one per line (`A 203.0.113.10`).
    pub records: Vec<String>,
    /// What it is for.
    pub purpose: String,
    /// Its certificate, in words.
    pub certificate: String,
    /// `aktif`, or `ditangguhkan` with the date.
    pub state: String,
}

/// Columns: title and width in millimetres (the page's 273 mm between its margins).
const COLUMNS: [(&str, f32); 7] = [
    ("No", 10.0),
    ("Subdomain", 58.0),
    ("Perangkat daerah", 28.0),
    ("Rekaman DNS", 72.0),
    ("Keperluan", 55.0),
    ("Sertifikat", 26.0),
    ("Status", 24.0),
];

const PAGE: (f32, f32) = (297.0, 210.0);
const MARGIN: f32 = 12.0;
const SIZE: f32 = 8.0;
/// One line of text at [`SIZE`], with its leading.
const LINE: f32 = 3.6;
/// The most lines a cell takes: a longer value ends with `…` (as `...`).
const MAX_CELL_LINES: usize = 8;

/// Text the built-in fonts can show (WinAnsi): anything else becomes `?`.
fn plain(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// Helvetica's advance widths (thousandths of an em) of the printable ASCII characters, from
/// its font metrics: text is measured to fit its column.
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // ' '../
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // 0..?
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // @..O
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // P.._
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // `..o
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // p..~
];

/// The width of `text` at [`SIZE`], in millimetres.
fn width(text: &str) -> f32 {
    let em: u32 = text
        .bytes()
        .map(|b| {
            u32::from(
                HELVETICA
                    .get(usize::from(b.wrapping_sub(b' ')))
                    .copied()
                    .unwrap_or(556),
            )
        })
        .sum();
    em as f32 / 1000.0 * SIZE * 0.3528
}

/// A cell's paragraphs in lines that fit `column` mm, at most [`MAX_CELL_LINES`] of them: a
/// cell cut short ends with `...`. Only what can show is looked at (a long text costs no
/// more than a short one).
fn wrap<'t>(paragraphs: impl IntoIterator<Item = &'t str>, column: f32) -> Vec<String> {
    let room = column - 2.0;
    let mut lines: Vec<String> = Vec::new();
    let mut cut = false;
    'paragraphs: for paragraph in paragraphs {
        let mut line = String::new();
        // Enough characters for every line of the cell, whatever their widths.
        for word in plain(
            &paragraph
                .chars()
                .take(MAX_CELL_LINES * 80)
                .collect::<String>(),
        )
        .split(' ')
        {
            let joined = if line.is_empty() {
                word.to_owned()
            } else {
                format!("{line} {word}")
            };
            if width(&joined) <= room {
                line = joined;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            // A word longer than the line (a long name) is cut where the line ends.
            for c in word.chars() {
                if width(&line) + width(c.encode_utf8(&mut [0; 4])) > room && !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                }
                line.push(c);
            }
            if lines.len() > MAX_CELL_LINES {
                cut = true;
                break 'paragraphs;
            }
        }
        lines.push(line);
        if lines.len() > MAX_CELL_LINES {
            cut = true;
            break;
        }
    }
    if cut || lines.len() > MAX_CELL_LINES {
        lines.truncate(MAX_CELL_LINES);
        if let Some(last) = lines.last_mut() {
            while !last.is_empty() && width(&format!("{last}...")) > room {
                last.pop();
            }
            last.push_str("...");
        }
    }
    lines
}

/// Pages of text.
struct Pages<'a> {
    doc: &'a printpdf::PdfDocumentReference,
    layer: PdfLayerReference,
    regular: &'a IndirectFontRef,
    bold: &'a IndirectFontRef,
    y: f32,
    page: usize,
}

impl Pages<'_> {
    fn text(&self, text: &str, size: f32, x: f32, y: f32, bold: bool) {
        let font = if bold { self.bold } else { self.regular };
        self.layer.use_text(plain(text), size, Mm(x), Mm(y), font);
    }

    /// The table's head at the current height.
    fn head(&mut self) {
        let mut x = MARGIN;
        for (title, width) in COLUMNS {
            self.text(title, SIZE, x, self.y, true);
            x += width;
        }
        self.y -= LINE + 1.0;
    }

    /// A new page, with the table's head.
    fn next_page(&mut self) {
        self.page += 1;
        let (page, layer) =
            self.doc
                .add_page(Mm(PAGE.0), Mm(PAGE.1), format!("halaman {}", self.page));
        self.layer = self.doc.get_page(page).get_layer(layer);
        self.y = PAGE.1 - MARGIN;
        self.head();
    }
}

/// Render the register of `zones` (their names, for the title) on `date`, with the office's
/// letterhead.
pub fn render(
    letterhead: &[String],
    zones: &str,
    date: &DateTime<Tz>,
    rows: &[RegisterRow],
    signature_note: &str,
) -> Result<Vec<u8>, RegisterPdfError> {
    let err = |e: printpdf::Error| RegisterPdfError(e.to_string());
    let (doc, page, layer) =
        PdfDocument::new("Daftar Subdomain", Mm(PAGE.0), Mm(PAGE.1), "halaman 1");
    let regular = doc.add_builtin_font(BuiltinFont::Helvetica).map_err(err)?;
    let bold = doc
        .add_builtin_font(BuiltinFont::HelveticaBold)
        .map_err(err)?;
    let mut p = Pages {
        doc: &doc,
        layer: doc.get_page(page).get_layer(layer),
        regular: &regular,
        bold: &bold,
        y: PAGE.1 - MARGIN,
        page: 1,
    };
    for (i, line) in letterhead.iter().enumerate() {
        let size = if i < 2 { 11.0 } else { 8.0 };
        p.text(line, size, MARGIN, p.y, i < 2);
        p.y -= size * 0.45;
    }
    p.y -= 3.0;
    // Many zones make a long title: it ends where the page does.
    let mut title = format!("DAFTAR SUBDOMAIN {zones}");
    if title.len() > 110 {
        title.truncate(107);
        title.push_str("...");
    }
    p.text(&title, 11.0, MARGIN, p.y, true);
    p.y -= 5.0;
    p.text(
        &format!("Keadaan per {}, {} nama", tanggal(date), rows.len()),
        SIZE,
        MARGIN,
        p.y,
        false,
    );
    p.y -= LINE;
    p.text(signature_note, SIZE, MARGIN, p.y, false);
    p.y -= LINE + 3.0;
    p.head();
    for (n, row) in rows.iter().enumerate() {
        let cells = [
            vec![(n + 1).to_string()],
            wrap([row.name.as_str()], COLUMNS[1].1),
            wrap([row.agency.as_str()], COLUMNS[2].1),
            wrap(row.records.iter().map(String::as_str), COLUMNS[3].1),
            wrap([row.purpose.as_str()], COLUMNS[4].1),
            wrap([row.certificate.as_str()], COLUMNS[5].1),
            wrap([row.state.as_str()], COLUMNS[6].1),
        ];
        let height = cells.iter().map(Vec::len).max().unwrap_or(1).max(1) as f32 * LINE;
        if p.y - height < MARGIN {
            p.next_page();
        }
        let mut x = MARGIN;
        for (cell, (_, width)) in cells.iter().zip(COLUMNS) {
            for (i, line) in cell.iter().enumerate() {
                p.text(line, SIZE, x, p.y - i as f32 * LINE, false);
            }
            x += width;
        }
        p.y -= height + 1.2;
    }
    doc.save_to_bytes().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn long_values_wrap_and_stop() {
        let lines = wrap(["a-very-long-label-that-goes-on.example.go.id"], 20.0);
        assert!(lines.len() > 1, "{lines:?}");
        assert!(lines.iter().all(|l| width(l) <= 18.0), "{lines:?}");
        assert_eq!(
            lines.concat(),
            "a-very-long-label-that-goes-on.example.go.id"
        );
        // Capitals are wider than small letters: fewer fit a line.
        let capitals = wrap(["DINAS KOMUNIKASI DAN INFORMATIKA"], 28.0);
        assert!(capitals.iter().all(|l| width(l) <= 26.0), "{capitals:?}");
        let many = wrap([&*"kata ".repeat(100_000)], 30.0);
        assert_eq!(many.len(), MAX_CELL_LINES);
        assert!(many[MAX_CELL_LINES - 1].ends_with("..."), "{many:?}");
        assert!(width(&many[MAX_CELL_LINES - 1]) <= 28.0);
        // Records: one paragraph each, and a list cut short says so.
        let records: Vec<String> = (0..20).map(|i| format!("A 203.0.113.{i}")).collect();
        let cell = wrap(records.iter().map(String::as_str), 72.0);
        assert_eq!(cell.len(), MAX_CELL_LINES);
        assert_eq!(cell[0], "A 203.0.113.0");
        assert!(cell[MAX_CELL_LINES - 1].ends_with("..."));
        assert_eq!(wrap(["caf\u{e9}"], 30.0), ["caf?"]);
        assert_eq!(wrap([""], 30.0), [""]);
    }

    #[test]
    fn many_names_take_several_pages() {
        let date = chrono_tz::Asia::Makassar
            .with_ymd_and_hms(2026, 12, 4, 9, 0, 0)
            .unwrap();
        let rows: Vec<RegisterRow> = (0..120)
            .map(|i| RegisterRow {
                name: format!("layanan{i}.example.go.id"),
                agency: "DINKES".into(),
                records: vec![format!("A 203.0.113.{}", i % 250)],
                purpose: "Sistem informasi pelayanan".into(),
                certificate: "terbit".into(),
                state: "aktif".into(),
            })
            .collect();
        let pdf = render(
            &["PEMERINTAH DAERAH".into()],
            "example.go.id",
            &date,
            &rows,
            crate::outbox::sign::UNSIGNED,
        )
        .unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        let doc = lopdf::Document::load_mem(&pdf).unwrap();
        assert!(doc.get_pages().len() >= 3, "{}", doc.get_pages().len());
    }
}
