//! Attachments of a request: which files an applicant may attach, how large, and of which
//! types, recognised by their content (never by the name or the declared type).

/// Largest attachment accepted: 10 MiB.
pub const MAX_SIZE: usize = 10 * 1024 * 1024;

/// Most files one request holds, by default (`attachments.max_per_request`).
pub const DEFAULT_MAX_PER_REQUEST: usize = 20;

/// Largest image decoded, in pixels: an A3 page scanned at 400 dpi (4,677 × 6,614) is 31
/// million. With at most 4 bytes a pixel, decoding a JPEG takes at most 200 MB; a PNG is
/// decoded row by row.
pub const MAX_PIXELS: u64 = 50_000_000;

/// Largest side of an image, in pixels.
pub const MAX_SIDE: usize = 20_000;

/// Most bytes the compressed (Flate) streams of one PDF may inflate to, all together: the
/// check of a 10 MiB file stays bounded in time and memory, whatever it claims to hold.
pub const MAX_PDF_INFLATED: u64 = 256 * 1024 * 1024;

/// Most memory the PNG decoder may allocate.
const PNG_DECODER_BYTES: usize = 64 * 1024 * 1024;

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

/// The media type of a file, recognised by its first bytes: PDF, PNG or JPEG; `None` for
/// anything else. [`check`] then reads the whole file.
pub fn media_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if bytes.starts_with(PNG_SIGNATURE) {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else {
        None
    }
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Why a file is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Not a PDF, PNG or JPEG file by its first bytes.
    #[error("not a PDF, PNG or JPEG file")]
    Unrecognised,
    /// It starts like one of them but is not one as a whole.
    #[error("it starts like a {kind} file but is not one: {why}")]
    Malformed {
        /// `PDF`, `PNG` or `JPEG`.
        kind: &'static str,
        /// What is wrong.
        why: String,
    },
}

/// The media type of a file, checked over the whole file: a PDF must parse as one (header,
/// cross-reference table, trailer, a catalogue with pages) and end at its last `%%EOF`; a PNG
/// must decode, every chunk's checksum included, and end at `IEND`; a JPEG must decode and
/// end at its EOI marker. The work is bounded: at most [`MAX_PIXELS`] decoded, at most
/// [`MAX_PDF_INFLATED`] inflated. A file with something else appended (a PDF followed by
/// HTML) is refused.
pub fn check(bytes: &[u8]) -> Result<&'static str, Refused> {
    let media_type = media_type(bytes).ok_or(Refused::Unrecognised)?;
    let (kind, result) = match media_type {
        "application/pdf" => ("PDF", check_pdf(bytes)),
        "image/png" => ("PNG", check_png(bytes)),
        _ => ("JPEG", check_jpeg(bytes)),
    };
    result.map_err(|why| Refused::Malformed { kind, why })?;
    Ok(media_type)
}

fn check_pdf(bytes: &[u8]) -> Result<(), String> {
    let end = bytes.trim_ascii_end();
    if !end.ends_with(b"%%EOF") {
        return Err("it does not end with %%EOF".into());
    }
    pdf_prescan(bytes)?;
    let doc = lopdf::Document::load_mem(bytes).map_err(|e| format!("{e}"))?;
    let pages = doc
        .catalog()
        .and_then(|c| c.get(b"Pages"))
        .and_then(lopdf::Object::as_reference)
        .and_then(|id| doc.get_dictionary(id))
        .and_then(|p| p.get(b"Count"))
        .and_then(lopdf::Object::as_i64)
        .map_err(|e| format!("no page tree: {e}"))?;
    if pages < 1 {
        return Err("it has no pages".into());
    }
    Ok(())
}

/// What the PDF parser would do without bounds is refused before it runs: compressed data
/// that inflates beyond [`MAX_PDF_INFLATED`] (in total, layers of compression included), LZW
/// compression (obsolete, and unbounded in the parser), names that hide their letters behind
/// `#xx` escapes (which would hide a filter's name from this check), and `/Prev` chains of
/// cross-reference sections that loop or run longer than 1,000 sections.
fn pdf_prescan(bytes: &[u8]) -> Result<(), String> {
    if find(bytes, b"LZW").is_some() {
        return Err("LZW compression is not accepted".into());
    }
    for (i, w) in bytes.windows(3).enumerate() {
        if w[0] == b'#'
            && let (Some(h), Some(l)) = (hex(w[1]), hex(w[2]))
            && (h << 4 | l).is_ascii_alphanumeric()
            && bytes[..i]
                .iter()
                .rev()
                .take_while(|b| !b" \t\r\n\x0c()<>[]{}%".contains(b))
                .any(|b| *b == b'/')
        {
            return Err("a name spells a letter or digit as #xx".into());
        }
    }
    xref_chain(bytes)?;
    let mut budget = MAX_PDF_INFLATED;
    inflate_streams(bytes, &mut budget)
}

/// Follow the cross-reference sections from the last `startxref` through their `/Prev`
/// entries: a chain that comes back to a section (the parser would follow it for ever) or
/// that runs past 1,000 sections is refused.
fn xref_chain(bytes: &[u8]) -> Result<(), String> {
    let number = |text: &[u8]| -> Option<usize> {
        let text = text.trim_ascii_start();
        let end = text
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(text.len());
        std::str::from_utf8(&text[..end]).ok()?.parse().ok()
    };
    let Some(last) = bytes.windows(9).rposition(|w| w == b"startxref") else {
        return Err("it has no startxref".into());
    };
    let mut offset = number(&bytes[last + 9..]).ok_or("its startxref is not a number")?;
    let mut seen = Vec::new();
    loop {
        if seen.contains(&offset) {
            return Err("its cross-reference sections loop (/Prev)".into());
        }
        if seen.len() == 1000 {
            return Err("it has more than 1,000 cross-reference sections".into());
        }
        seen.push(offset);
        let Some(section) = bytes.get(offset..) else {
            return Ok(());
        };
        let end = [find(section, b"startxref"), find(section, b"stream")]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(section.len());
        match find(&section[..end], b"/Prev") {
            Some(at) => match number(&section[at + 5..end]) {
                Some(prev) => offset = prev,
                None => return Ok(()),
            },
            None => return Ok(()),
        }
    }
}

/// Every stream's data through [`inflate_within`].
fn inflate_streams(bytes: &[u8], budget: &mut u64) -> Result<(), String> {
    let mut at = 0;
    while let Some(i) = find(&bytes[at..], b"stream") {
        let start = at + i + b"stream".len();
        at = start;
        let data = match bytes.get(start..) {
            Some([b'\r', b'\n', rest @ ..]) | Some([b'\n', rest @ ..]) => rest,
            _ => continue,
        };
        inflate_within(data, budget, 0)?;
    }
    Ok(())
}

/// Inflate zlib `data` (if it is zlib) into nothing, counting against `budget`. A layer
/// whose output is zlib itself (a chain of Flate filters) is kept, up to [`MAX_NESTED`], and
/// inflated in turn, a few levels deep.
fn inflate_within(data: &[u8], budget: &mut u64, depth: u8) -> Result<(), String> {
    use std::io::Read;
    if depth > 3 || !is_zlib(data) {
        return Ok(());
    }
    let over = || {
        format!(
            "its compressed streams inflate to more than {} MiB",
            MAX_PDF_INFLATED / 1024 / 1024
        )
    };
    let mut decoder = flate2::read::ZlibDecoder::new(data);
    let mut buf = vec![0u8; 16 * 1024];
    let mut first = true;
    loop {
        let n = match decoder.read(&mut buf) {
            Ok(0) | Err(_) => return Ok(()),
            Ok(n) => n,
        };
        *budget = budget.checked_sub(n as u64).ok_or_else(over)?;
        if first && n >= 2 && is_zlib(&buf[..n]) {
            let mut layer = buf[..n].to_vec();
            let limit = (*budget).min(MAX_NESTED) + 1;
            // A read error ends the layer where it broke, as the parser would.
            let _ = (&mut decoder).take(limit).read_to_end(&mut layer);
            let more = (layer.len() - n) as u64;
            if more >= limit {
                return Err(over());
            }
            *budget = budget.checked_sub(more).ok_or_else(over)?;
            return inflate_within(&layer, budget, depth + 1);
        }
        first = false;
    }
}

/// Most bytes of one layer of compression kept to inflate the next.
const MAX_NESTED: u64 = 32 * 1024 * 1024;

fn is_zlib(data: &[u8]) -> bool {
    data.len() >= 2
        && data[0] & 0x0f == 8
        && data[0] >> 4 <= 7
        && (u16::from(data[0]) << 8 | u16::from(data[1])) % 31 == 0
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn check_png(bytes: &[u8]) -> Result<(), String> {
    // The chunks, one after the other up to IEND, and nothing after it.
    let mut at = PNG_SIGNATURE.len();
    loop {
        let header = bytes
            .get(at..at + 8)
            .ok_or("it ends before its IEND chunk")?;
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let next = at
            .checked_add(12)
            .and_then(|n| n.checked_add(len))
            .filter(|n| *n <= bytes.len())
            .ok_or("a chunk runs past the end of the file")?;
        if &header[4..8] == b"IEND" {
            if next != bytes.len() {
                return Err("something follows its IEND chunk".into());
            }
            break;
        }
        at = next;
    }
    let mut decoder = png::Decoder::new_with_limits(
        std::io::Cursor::new(bytes),
        png::Limits {
            bytes: PNG_DECODER_BYTES,
        },
    );
    decoder.ignore_checksums(false);
    let mut reader = decoder.read_info().map_err(|e| e.to_string())?;
    let info = reader.info();
    image_size(info.width as usize, info.height as usize)?;
    while reader.next_row().map_err(|e| e.to_string())?.is_some() {}
    reader.finish().map_err(|e| e.to_string())
}

fn check_jpeg(bytes: &[u8]) -> Result<(), String> {
    use zune_jpeg::zune_core::options::DecoderOptions;
    if !bytes.ends_with(&[0xff, 0xd9]) {
        return Err("it does not end with its EOI marker".into());
    }
    let options = DecoderOptions::default()
        .set_max_width(MAX_SIDE)
        .set_max_height(MAX_SIDE)
        .set_strict_mode(true);
    let mut decoder =
        zune_jpeg::JpegDecoder::new_with_options(std::io::Cursor::new(bytes), options);
    decoder.decode_headers().map_err(|e| format!("{e:?}"))?;
    let (w, h) = decoder.dimensions().ok_or("it has no frame header")?;
    image_size(w, h)?;
    decoder.decode().map_err(|e| format!("{e:?}"))?;
    Ok(())
}

fn image_size(w: usize, h: usize) -> Result<(), String> {
    if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE || (w as u64) * (h as u64) > MAX_PIXELS {
        return Err(format!(
            "{w} × {h} pixels: at most {MAX_SIDE} on a side and {MAX_PIXELS} in all"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PDF: &[u8] = include_bytes!("../../tests/fixtures/letter.pdf");
    const PNG: &[u8] = include_bytes!("../../tests/fixtures/scan.png");
    const JPEG: &[u8] = include_bytes!("../../tests/fixtures/scan.jpg");

    fn cat(a: &[u8], b: &[u8]) -> Vec<u8> {
        [a, b].concat()
    }

    fn malformed(bytes: &[u8]) -> String {
        match check(bytes) {
            Err(Refused::Malformed { why, .. }) => why,
            other => panic!("{other:?}"),
        }
    }

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

    #[test]
    fn whole_files_pass() {
        assert_eq!(check(PDF), Ok("application/pdf"));
        assert_eq!(check(PNG), Ok("image/png"));
        assert_eq!(check(JPEG), Ok("image/jpeg"));
        assert_eq!(check(b"<html></html>"), Err(Refused::Unrecognised));
    }

    #[test]
    fn polyglots_and_broken_files_are_refused() {
        // The attacker's file: a PDF header, then a page of HTML.
        let polyglot = b"%PDF-1.4\n<html><script>alert(1)</script></html>\n%%EOF\n";
        assert!(!malformed(polyglot).is_empty());
        assert!(malformed(b"%PDF-1.4\n<html><script>alert(1)</script></html>").contains("%%EOF"));
        // A real PDF, PNG or JPEG with HTML after its end.
        let html = b"<html><script>alert(1)</script></html>";
        assert!(malformed(&cat(PDF, html)).contains("%%EOF"));
        assert!(malformed(&cat(PNG, html)).contains("IEND"));
        assert!(malformed(&cat(JPEG, html)).contains("EOI"));
        // Truncated, or with a byte changed.
        assert!(check(&PDF[..PDF.len() / 2]).is_err());
        assert!(check(&PNG[..PNG.len() - 20]).is_err());
        let mut bad_crc = PNG.to_vec();
        let idat = PNG.windows(4).position(|w| w == b"IDAT").unwrap();
        bad_crc[idat + 10] ^= 0xff;
        assert!(check(&bad_crc).is_err());
        let mut cut = JPEG[..JPEG.len() / 2].to_vec();
        cut.extend_from_slice(&[0xff, 0xd9]);
        assert!(check(&cut).is_err());
        // A PDF whose page tree is missing.
        let no_pages = replace(PDF, "/Pages 2 0 R", "/Pagez 2 0 R");
        let why = malformed(&no_pages);
        assert!(why.contains("page"), "{why}");
    }

    #[test]
    fn decoding_is_bounded() {
        // A PNG that claims 100,000 × 100,000 pixels is refused from its header.
        let mut huge = PNG.to_vec();
        huge[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        huge[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let crc = crc32(&huge[12..29]);
        huge[29..33].copy_from_slice(&crc.to_be_bytes());
        let started = std::time::Instant::now();
        assert!(check(&huge).is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert!(image_size(20_001, 10).is_err());
        assert!(image_size(10_000, 5_001).is_err());
        assert!(image_size(4_677, 6_614).is_ok());

        // Flate data that inflates past the budget, in one layer or two.
        use std::io::Write;
        let zeros = vec![0u8; 2 * 1024 * 1024];
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(&zeros).unwrap();
        let bomb = e.finish().unwrap();
        let stream = |data: &[u8]| {
            [
                b"1 0 obj\n<< /Length 9 >>\nstream\n".as_slice(),
                data,
                b"\nendstream",
            ]
            .concat()
        };
        let mut budget = 1024 * 1024;
        assert!(inflate_streams(&stream(&bomb), &mut budget).is_err());
        let mut budget = 4 * 1024 * 1024;
        assert!(inflate_streams(&stream(&bomb), &mut budget).is_ok());
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(&bomb).unwrap();
        let twice = e.finish().unwrap();
        let mut budget = 1024 * 1024;
        assert!(inflate_streams(&stream(&twice), &mut budget).is_err());
        let mut budget = 8 * 1024 * 1024;
        assert!(inflate_streams(&stream(&twice), &mut budget).is_ok());
        assert!(budget < 8 * 1024 * 1024 - 2 * 1024 * 1024);

        // What the parser would not bound is refused before it runs.
        let lzw = replace(PDF, "/FlateDecode", "/LZWDecode");
        assert!(malformed(&lzw).contains("LZW"));
        let hidden = replace(PDF, "/FlateDecode", "/Fl#61teDecode");
        assert!(malformed(&hidden).contains("#xx"));
        // `#20` (a space) in a name is ordinary.
        assert!(pdf_prescan(b"%PDF-1.4 /Arial#20Bold startxref 0 %%EOF").is_ok());
    }

    #[test]
    fn a_cross_reference_chain_that_loops_ends() {
        // The trailer's /Prev points at its own section.
        let xref = PDF.windows(5).position(|w| w == b"\nxref").unwrap() + 1;
        let looped = replace(PDF, "/Root 1 0 R", &format!("/Root 1 0 R /Prev {xref}"));
        let started = std::time::Instant::now();
        assert!(malformed(&looped).contains("loop"));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    /// `from` replaced by `to` in `bytes` (the first time).
    fn replace(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
        let at = bytes
            .windows(from.len())
            .position(|w| w == from.as_bytes())
            .unwrap();
        [&bytes[..at], to.as_bytes(), &bytes[at + from.len()..]].concat()
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut h = flate2::Crc::new();
        h.update(data);
        h.sum()
    }
}
