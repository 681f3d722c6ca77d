//! The large Office documents of the extraction figures (#16): a DOCX of paragraphs and an XLSX
//! export of rows (shared strings and numbers), each about `target` bytes compressed, with the
//! parts and markup the usual writers produce. Written here with `zip` because the Python
//! writers take minutes for documents of this size; the tests' fixtures are real writers'.

use std::io::{Cursor, Write as _};

use anyhow::Context as _;

/// A word of a 5,000-word synthetic vocabulary, drawn by `n`: text that compresses as prose
/// does (about 3:1), not as one repeated word would.
fn word(n: u64) -> String {
    const SYLLABLES: [&str; 16] =
        ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "be", "du", "fa", "go", "hi", "ju", "pe", "so"];
    let mut i = (n % 5_000) + 17;
    let mut out = String::new();
    while i > 0 {
        out.push_str(SYLLABLES[(i % 16) as usize]);
        i /= 16;
    }
    out
}

/// A pseudo-random sequence (an LCG): the same documents every run.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn words(&mut self, count: usize) -> String {
        (0..count).map(|_| word(self.next())).collect::<Vec<_>>().join(" ")
    }
}

fn zip_of(parts: &[(&str, &[u8])]) -> anyhow::Result<Vec<u8>> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in parts {
        writer.start_file(*name, options).context("a zip entry")?;
        writer.write_all(data).context("a zip entry")?;
    }
    Ok(writer.finish().context("the zip directory")?.into_inner())
}

/// Grows a document until it compresses to about `target` bytes: one measured sample, then the
/// size scaled to it.
fn sized(target: usize, build: impl Fn(usize) -> anyhow::Result<Vec<u8>>) -> anyhow::Result<Vec<u8>> {
    let sample_units = 2_000;
    let sample = build(sample_units)?.len().max(1);
    build(sample_units * target / sample)
}

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/></Types>"#;

/// A DOCX of about `target` bytes: paragraphs of 40 words, in runs as Word writes them, the
/// `marker` in the last paragraph.
///
/// # Errors
/// When the container cannot be written.
pub fn docx(target: usize, marker: &str) -> anyhow::Result<Vec<u8>> {
    sized(target, |paragraphs| {
        let mut draw = Draw(7);
        let mut xml = String::from(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>"#,
        );
        for _ in 0..paragraphs {
            xml.push_str(r#"<w:p><w:pPr><w:pStyle w:val="Normal"/></w:pPr><w:r><w:t xml:space="preserve">"#);
            xml.push_str(&draw.words(40));
            xml.push_str("</w:t></w:r></w:p>");
        }
        xml.push_str(&format!("<w:p><w:r><w:t>{marker}</w:t></w:r></w:p></w:body></w:document>"));
        zip_of(&[("[Content_Types].xml", CONTENT_TYPES.as_bytes()), ("word/document.xml", xml.as_bytes())])
    })
}

/// An XLSX export of about `target` bytes: rows of a text cell (a shared string), two numbers
/// and a short text, the `marker` in the last row.
///
/// # Errors
/// When the container cannot be written.
pub fn xlsx(target: usize, marker: &str) -> anyhow::Result<Vec<u8>> {
    sized(target, |rows| {
        let mut draw = Draw(11);
        let mut strings = String::from(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">"#,
        );
        let mut sheet = String::from(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#,
        );
        for r in 1..=rows {
            strings.push_str(&format!("<si><t>{}</t></si>", draw.words(3)));
            let (amount, quantity) = (draw.next() % 1_000_000, draw.next() % 500);
            sheet.push_str(&format!(
                r#"<row r="{r}"><c r="A{r}" t="s"><v>{}</v></c><c r="B{r}"><v>{}.{:02}</v></c><c r="C{r}"><v>{quantity}</v></c><c r="D{r}" t="inlineStr"><is><t>{}</t></is></c></row>"#,
                r - 1,
                amount / 100,
                amount % 100,
                draw.words(2)
            ));
        }
        strings.push_str("</sst>");
        let last = rows + 1;
        sheet.push_str(&format!(
            r#"<row r="{last}"><c r="A{last}" t="inlineStr"><is><t>{marker}</t></is></c></row></sheetData></worksheet>"#
        ));
        zip_of(&[
            ("[Content_Types].xml", CONTENT_TYPES.as_bytes()),
            ("xl/workbook.xml", br#"<workbook><sheets><sheet name="Export" sheetId="1"/></sheets></workbook>"#),
            ("xl/sharedStrings.xml", strings.as_bytes()),
            ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
        ])
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_documents_have_the_size_asked_and_their_text_is_read() {
        for (name, doc) in [("docx", super::docx(400_000, "wombat")), ("xlsx", super::xlsx(400_000, "wombat"))] {
            let doc = doc.expect("generate");
            assert!((300_000..500_000).contains(&doc.len()), "{name}: {} bytes", doc.len());
        }
    }
}
