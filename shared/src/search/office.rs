//! Text of Office Open XML (DOCX, XLSX, PPTX) and OpenDocument (ODT, ODS, ODP) files: ZIP
//! containers of XML parts, read with `zip` and `quick-xml` (no crate reads the text of all six
//! formats; each is only "the text nodes of these parts", so that part is written here). Run in
//! the extractor child, under its time and memory limits, and bounded here too: a container of
//! more than [`MAX_ENTRIES`] entries, a part that inflates beyond [`MAX_INFLATED`] bytes in all
//! or [`MAX_RATIO`] times its compressed size (a zip bomb), XML nested deeper than
//! [`MAX_DEPTH`], or a corrupt container is a reason, never a crash. quick-xml expands no
//! entity a document declares (only XML's five and character references), so entity expansion
//! bombs expand nothing.

use std::io::{Cursor, Read};

use quick_xml::events::Event;

/// Entries a container may have.
pub const MAX_ENTRIES: usize = 10_000;
/// Bytes the parts read may inflate to, in all.
pub const MAX_INFLATED: u64 = 256 * 1024 * 1024;
/// How many times its compressed size a part may inflate to (beyond the first MiB).
pub const MAX_RATIO: u64 = 200;
/// How deep XML may nest.
pub const MAX_DEPTH: usize = 256;
/// Empty cells a spreadsheet may hold (written one by one; a repeat count is not expanded).
pub const MAX_EMPTY_CELLS: usize = 1_000_000;

/// What a container is, and the parts its text is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Docx,
    Xlsx,
    Pptx,
    OpenDocument,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Self::Docx => "DOCX",
            Self::Xlsx => "XLSX",
            Self::Pptx => "PPTX",
            Self::OpenDocument => "OpenDocument",
        }
    }

    /// Whether entry `name` holds text of this format.
    fn holds_text(self, name: &str) -> bool {
        let xml = name.ends_with(".xml");
        match self {
            Self::Docx => {
                xml && (name == "word/document.xml"
                    || name.starts_with("word/header")
                    || name.starts_with("word/footer")
                    || name == "word/footnotes.xml"
                    || name == "word/endnotes.xml")
            }
            Self::Xlsx => xml && (name == "xl/sharedStrings.xml" || name.starts_with("xl/worksheets/sheet")),
            Self::Pptx => xml && (name.starts_with("ppt/slides/slide") || name.starts_with("ppt/notesSlides/")),
            Self::OpenDocument => name == "content.xml",
        }
    }
}

fn format_of(names: &[String], mimetype: Option<&str>) -> Option<Format> {
    let has = |n: &str| names.iter().any(|name| name == n);
    if mimetype.is_some_and(|m| m.starts_with("application/vnd.oasis.opendocument.")) {
        Some(Format::OpenDocument)
    } else if has("word/document.xml") {
        Some(Format::Docx)
    } else if has("xl/workbook.xml") {
        Some(Format::Xlsx)
    } else if has("ppt/presentation.xml") {
        Some(Format::Pptx)
    } else {
        None
    }
}

/// The extractor child's work for `kind` (`mail`, `html`, or a document: a ZIP container, Office
/// or OpenDocument, or a PDF).
///
/// # Errors
/// A reason, safe to log.
pub(super) fn child_text(kind: &str, bytes: Vec<u8>, max_chars: usize) -> Result<String, String> {
    match kind {
        "mail" => super::mail::mail_text(&bytes),
        "html" => super::mail::html_text(&bytes),
        _ if bytes.starts_with(b"PK\x03\x04") => office_text(&bytes, max_chars),
        _ if bytes.starts_with(super::sniff::OLE_MAGIC) => xls_text(&bytes, max_chars),
        _ if bytes.trim_ascii_start().starts_with(b"{\\rtf") => super::rtf::rtf_text(&bytes, max_chars),
        _ => super::extract::pdf_text_blocking(bytes),
    }
}

/// The text of the Office or OpenDocument file in `bytes`, up to `max_chars` characters.
///
/// # Errors
/// A reason, safe to log: not such a file, a corrupt container, a zip bomb, XML too deep.
pub fn office_text(bytes: &[u8], max_chars: usize) -> Result<String, String> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("corrupt ZIP container: {e}"))?;
    if archive.len() > MAX_ENTRIES {
        return Err(format!("a ZIP container of more than {MAX_ENTRIES} entries"));
    }
    let names: Vec<String> = archive.file_names().map(str::to_owned).collect();
    let mut budget = Budget { left: MAX_INFLATED };
    let mimetype = match archive.by_name("mimetype") {
        Ok(entry) => Some(String::from_utf8_lossy(&budget.read(entry)?).into_owned()),
        Err(_) => None,
    };
    let format = format_of(&names, mimetype.as_deref().map(str::trim))
        .ok_or_else(|| "a ZIP archive that is no Office or OpenDocument file".to_owned())?;
    let mut parts: Vec<&String> = names.iter().filter(|n| format.holds_text(n)).collect();
    parts.sort_by_key(|n| natural_key(n));
    let mut text = Text { out: String::new(), chars: 0, max_chars };
    for name in parts {
        let entry = archive.by_name(name).map_err(|e| format!("corrupt ZIP container: {e}"))?;
        // Parsed as it inflates: a part's memory is the parser's buffer, not the part.
        let part = std::io::BufReader::with_capacity(64 * 1024, budget.inflating(entry));
        xml_text(part, format, &mut text).map_err(|e| format!("{} part {name}: {e}", format.name()))?;
        if text.full() {
            break;
        }
    }
    Ok(text.out)
}

/// The text of a legacy Excel workbook (XLS, BIFF in an OLE container): every sheet's
/// non-empty cells, read with `calamine`. Other legacy Office documents (Word, PowerPoint
/// 97-2003) are a reason.
///
/// # Errors
/// A reason, safe to log.
pub fn xls_text(bytes: &[u8], max_chars: usize) -> Result<String, String> {
    use calamine::Reader as _;
    let mut book = calamine::Xls::new(Cursor::new(bytes))
        .map_err(|e| format!("a legacy Office document that is no readable Excel workbook: {e}"))?;
    let mut text = Text { out: String::new(), chars: 0, max_chars };
    for name in book.sheet_names() {
        text.push(&name);
        let sheet = book.worksheet_range(&name).map_err(|e| format!("XLS sheet {name}: {e}"))?;
        for (_, _, cell) in sheet.used_cells() {
            text.push(&cell.to_string());
            if text.full() {
                return Ok(text.out);
            }
        }
    }
    Ok(text.out)
}

/// `sheet10.xml` after `sheet9.xml`: digits compared as numbers.
fn natural_key(name: &str) -> (String, u64) {
    let digits: String = name.chars().filter(char::is_ascii_digit).collect();
    (name.chars().filter(|c| !c.is_ascii_digit()).collect(), digits.parse().unwrap_or(0))
}

/// Inflated bytes left to read.
struct Budget {
    left: u64,
}

impl Budget {
    /// An entry's bytes, within the budget and the ratio.
    fn read(&mut self, entry: zip::read::ZipFile<'_, Cursor<&[u8]>>) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        self.inflating(entry).read_to_end(&mut out).map_err(|e| reason_of(&e))?;
        Ok(out)
    }

    /// An entry's bytes as they inflate, within the budget and the ratio: reading past either
    /// is an error naming the zip bomb ([`reason_of`]).
    fn inflating<'b, E: Read>(&'b mut self, entry: ZipEntry<'b, E>) -> Inflating<'b, ZipEntry<'b, E>> {
        let compressed = entry.compressed_size().max(1);
        let by_ratio = compressed.saturating_mul(MAX_RATIO).max(1024 * 1024);
        Inflating { allowed: self.left.min(by_ratio), by_ratio: by_ratio < self.left, inner: entry, budget: self }
    }
}

type ZipEntry<'a, R> = zip::read::ZipFile<'a, R>;

/// A part inflating; what it inflates to is taken from the budget.
struct Inflating<'b, R> {
    inner: R,
    allowed: u64,
    by_ratio: bool,
    budget: &'b mut Budget,
}

/// The reason a zip bomb is refused, carried through the XML parser's I/O error.
#[derive(Debug)]
struct Bomb(String);

impl std::fmt::Display for Bomb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Bomb {}

impl<R: Read> Read for Inflating<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let n64 = n as u64;
        if n64 > self.allowed {
            return Err(std::io::Error::other(Bomb(if self.by_ratio {
                format!("a zip bomb: a part inflates more than {MAX_RATIO} times")
            } else {
                format!("a zip bomb: more than {MAX_INFLATED} bytes uncompressed")
            })));
        }
        self.allowed -= n64;
        self.budget.left -= n64;
        Ok(n)
    }
}

/// The reason for an I/O error while inflating: a zip bomb, or a corrupt container.
fn reason_of(e: &std::io::Error) -> String {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<Bomb>()) {
        Some(bomb) => bomb.0.clone(),
        None => format!("corrupt ZIP container: {e}"),
    }
}

/// Text gathered, capped.
struct Text {
    out: String,
    chars: usize,
    max_chars: usize,
}

impl Text {
    fn push(&mut self, piece: &str) {
        let piece = piece.trim();
        if piece.is_empty() || self.full() {
            return;
        }
        if !self.out.is_empty() {
            self.out.push(' ');
        }
        let room = self.max_chars.saturating_sub(self.chars);
        let taken: String = piece.chars().take(room).collect();
        self.chars += taken.chars().count() + 1;
        self.out.push_str(&taken);
    }

    fn full(&self) -> bool {
        self.chars >= self.max_chars
    }
}

/// The text nodes of one XML part (in an XLSX sheet, a cell's value only when it is not an
/// index into the shared strings, which are read themselves).
fn xml_text(xml: impl std::io::BufRead, format: Format, text: &mut Text) -> Result<(), String> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut depth = 0usize;
    let mut shared_cell = false;
    let mut in_value = false;
    let mut empty_cells = 0usize;
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(format!("XML nested deeper than {MAX_DEPTH}"));
                }
                if format == Format::Xlsx {
                    match e.local_name().as_ref() {
                        b"c" => {
                            shared_cell =
                                e.attributes().flatten().any(|a| a.key.as_ref() == b"t" && a.value.as_ref() == b"s")
                        }
                        b"v" => in_value = true,
                        _ => {}
                    }
                }
            }
            Ok(Event::Empty(e)) => {
                if matches!(e.local_name().as_ref(), b"c" | b"table-cell" | b"covered-table-cell") {
                    empty_cells += 1;
                    if empty_cells > MAX_EMPTY_CELLS {
                        return Err(format!("a sheet of more than {MAX_EMPTY_CELLS} empty cells"));
                    }
                }
            }
            Ok(Event::End(e)) => {
                depth = depth.saturating_sub(1);
                if e.local_name().as_ref() == b"v" {
                    in_value = false;
                }
            }
            Ok(Event::Text(t)) => {
                if format == Format::Xlsx && in_value && shared_cell {
                    continue;
                }
                let piece =
                    t.unescape().map(|s| s.into_owned()).unwrap_or_else(|_| String::from_utf8_lossy(&t).into_owned());
                text.push(&piece);
                if text.full() {
                    return Ok(());
                }
            }
            Ok(Event::CData(t)) => text.push(&String::from_utf8_lossy(&t)),
            Ok(Event::Eof) => return Ok(()),
            Ok(_) => {}
            Err(quick_xml::Error::Io(e)) => return Err(reason_of(&e)),
            Err(e) => return Err(format!("malformed XML: {e}")),
        }
        buf.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Write as _;

    fn container(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in entries {
            writer.start_file(*name, options).unwrap();
            writer.write_all(data).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    #[test]
    fn the_text_nodes_of_the_formats_parts_are_read() {
        let docx = container(&[(
            "word/document.xml",
            b"<w:document><w:body><w:p><w:r><w:t>okapi &amp; co</w:t></w:r></w:p></w:body></w:document>",
        )]);
        assert_eq!(office_text(&docx, 1000).unwrap(), "okapi & co");
        let xlsx = container(&[
            ("xl/workbook.xml", b"<workbook/>"),
            ("xl/sharedStrings.xml", b"<sst><si><t>tapir</t></si></sst>"),
            (
                "xl/worksheets/sheet2.xml",
                b"<worksheet><sheetData><row><c t=\"s\"><v>0</v></c><c><v>42.5</v></c></row></sheetData></worksheet>",
            ),
        ]);
        assert_eq!(office_text(&xlsx, 1000).unwrap(), "tapir 42.5");
        let odt = container(&[
            ("mimetype", b"application/vnd.oasis.opendocument.text"),
            ("content.xml", b"<office:document-content><text:p>quagga</text:p></office:document-content>"),
        ]);
        assert_eq!(office_text(&odt, 1000).unwrap(), "quagga");
    }

    #[test]
    fn hostile_containers_are_reasons() {
        let zeros = vec![0u8; 300 * 1024 * 1024];
        let bomb = container(&[("word/document.xml", &zeros)]);
        assert!(office_text(&bomb, 1000).unwrap_err().contains("zip bomb"));
        let deep = format!("<w:document>{}{}</w:document>", "<a>".repeat(1000), "</a>".repeat(1000));
        let nested = container(&[("word/document.xml", deep.as_bytes())]);
        assert!(office_text(&nested, 1000).unwrap_err().contains("nested deeper"));
        assert!(office_text(b"PK\x03\x04 truncated", 1000).unwrap_err().contains("corrupt"));
        let billion = b"<!DOCTYPE d [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]><w:document><w:t>&b;&b;&b; hyrax</w:t></w:document>";
        let text = office_text(&container(&[("word/document.xml", billion)]), 1000).unwrap();
        assert!(text.len() < 100 && text.contains("hyrax"), "{text}");
        let other = container(&[("readme.txt", b"hello")]);
        assert!(office_text(&other, 1000).unwrap_err().contains("no Office"));
        let cells = format!(
            "<worksheet><sheetData>{}</sheetData></worksheet>",
            "<c r=\"A1\" s=\"1\"/>".repeat(MAX_EMPTY_CELLS + 1)
        );
        let blanks = container(&[("xl/workbook.xml", b"<workbook/>"), ("xl/worksheets/sheet1.xml", cells.as_bytes())]);
        assert!(office_text(&blanks, 1000).unwrap_err().contains("empty cells"));
        let mut ole = crate::search::sniff::OLE_MAGIC.to_vec();
        ole.extend([0u8; 600]);
        assert!(xls_text(&ole, 1000).unwrap_err().contains("no readable Excel workbook"));
    }

    /// XML of a part: elements nested, text, entities (declared or not), CDATA, comments.
    fn xml() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            "[a-zA-Z äß]{1,12}",
            Just("&amp;".to_owned()),
            Just("&undeclared;".to_owned()),
            Just("&#228;".to_owned()),
            Just("&#xD800;".to_owned()),
            Just("<![CDATA[raw <text>]]>".to_owned()),
            Just("<!-- note -->".to_owned()),
            Just("<c r=\"A1\" s=\"1\"/>".to_owned()),
            Just("<c t=\"s\"><v>0</v></c>".to_owned()),
        ];
        let leaf = proptest::collection::vec(piece, 0..6).prop_map(|p| p.concat());
        leaf.prop_recursive(6, 64, 4, |inner| {
            (
                prop_oneof![Just("w:t"), Just("text:p"), Just("a:t"), Just("si"), Just("x")],
                proptest::collection::vec(inner, 0..4),
            )
                .prop_map(|(tag, children)| format!("<{tag}>{}</{tag}>", children.concat()))
        })
    }

    const PART_NAMES: [&str; 8] = [
        "word/document.xml",
        "word/header1.xml",
        "xl/workbook.xml",
        "xl/sharedStrings.xml",
        "xl/worksheets/sheet1.xml",
        "ppt/presentation.xml",
        "ppt/slides/slide1.xml",
        "content.xml",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Any container of generated parts is text of at most `max_chars` characters or a
        /// reason, never a panic.
        #[test]
        fn generated_containers_are_bounded_text_or_a_reason(
            parts in proptest::collection::btree_map(proptest::sample::select(&PART_NAMES[..]), xml(), 1..5),
            max_chars in 1usize..200,
        ) {
            let entries: Vec<(&str, &[u8])> = parts.iter().map(|(name, xml)| (*name, xml.as_bytes())).collect();
            if let Ok(text) = office_text(&container(&entries), max_chars) {
                prop_assert!(text.chars().count() <= max_chars + 1, "{text:?}");
            }
        }

        /// A real container with bytes flipped, cut or inserted anywhere is bounded text or a
        /// reason, never a panic.
        #[test]
        fn mutated_containers_are_bounded_text_or_a_reason(
            edits in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
        ) {
            let mut bytes = container(&[
                ("xl/workbook.xml", b"<workbook/>"),
                ("xl/sharedStrings.xml", b"<sst><si><t>tapir</t></si></sst>"),
                ("xl/worksheets/sheet1.xml", b"<worksheet><sheetData><row><c t=\"s\"><v>0</v></c></row></sheetData></worksheet>"),
            ]);
            for (at, byte, how) in edits {
                let i = at.index(bytes.len());
                match how {
                    0 => bytes[i] ^= byte | 1,
                    1 => bytes.truncate(i.max(4)),
                    _ => bytes.insert(i, byte),
                }
            }
            if let Ok(text) = office_text(&bytes, 100) {
                prop_assert!(text.chars().count() <= 101, "{text:?}");
            }
        }
    }
}
