//! What a document really is, read from its first bytes, and its text when it is text in any
//! encoding. The indexer believes the bytes before the declared type: a PDF sent as
//! `text/plain` is read as a PDF, a PNG sent as `text/plain` is not read as text, and text in
//! UTF-16 (with a byte-order mark) or a legacy single-byte encoding such as Windows-1252 is
//! decoded (`encoding_rs`, with `chardetng` guessing the encoding when the bytes are not UTF-8).

/// A format told by its magic number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    /// A PDF document (`%PDF-`).
    Pdf,
    /// A ZIP container: an Office Open XML or OpenDocument file, or another archive.
    Zip,
    /// An OLE compound file: a legacy Office document (an XLS workbook, or Word or PowerPoint
    /// 97-2003).
    Ole,
    /// A Rich Text Format document (`{\rtf`).
    Rtf,
    /// A mail: it starts with mail headers.
    Mail,
    /// An HTML page: it starts with `<!DOCTYPE html` or `<html`.
    Html,
    /// Something that is certainly not text (an image, an archive, an executable, ...): its name.
    Binary(&'static str),
}

/// The first bytes of an OLE compound file.
pub const OLE_MAGIC: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";

/// Magic numbers of formats that are never read as text, and their names.
const BINARY_MAGIC: &[(&[u8], &str)] = &[
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xFF\xD8\xFF", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"\x1F\x8B", "a gzip stream"),
    (b"7z\xBC\xAF\x27\x1C", "a 7-Zip archive"),
    (b"Rar!\x1A\x07", "a RAR archive"),
    (b"\x7FELF", "an ELF executable"),
    (b"MZ", "a Windows executable"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
];

/// How many first bytes [`detect`] looks at.
pub const SNIFF_BYTES: usize = 1024;

/// The format the first bytes of a document show, if any.
pub fn detect(head: &[u8]) -> Option<Detected> {
    // PDF readers accept the header anywhere in the first kilobyte.
    let window = &head[..head.len().min(SNIFF_BYTES)];
    if window.windows(5).any(|w| w == b"%PDF-") {
        return Some(Detected::Pdf);
    }
    if head.starts_with(b"PK\x03\x04") {
        return Some(Detected::Zip);
    }
    if head.starts_with(OLE_MAGIC) {
        return Some(Detected::Ole);
    }
    let start = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head).trim_ascii_start();
    if start.starts_with(b"{\\rtf") {
        return Some(Detected::Rtf);
    }
    let starts_with = |prefix: &[u8]| start.len() >= prefix.len() && start[..prefix.len()].eq_ignore_ascii_case(prefix);
    if [b"<!doctype html".as_slice(), b"<html"].iter().any(|p| starts_with(p)) {
        return Some(Detected::Html);
    }
    const MAIL_HEADERS: [&[u8]; 10] = [
        b"received:",
        b"return-path:",
        b"delivered-to:",
        b"mime-version:",
        b"message-id:",
        b"from:",
        b"to:",
        b"date:",
        b"subject:",
        b"x-mozilla-status:",
    ];
    if MAIL_HEADERS.iter().any(|h| starts_with(h)) && head.windows(8).any(|w| w.eq_ignore_ascii_case(b"subject:")) {
        return Some(Detected::Mail);
    }
    BINARY_MAGIC.iter().find(|(magic, _)| head.starts_with(magic)).map(|(_, name)| Detected::Binary(name))
}

/// The text of `bytes` whatever their encoding, or why they are not text: UTF-8, UTF-16 or
/// UTF-8 with a byte-order mark, else (not UTF-8) the legacy encoding `chardetng` finds most
/// likely. Bytes holding NUL without a byte-order mark are binary (or UTF-16 without one, which
/// no guess decodes reliably). Control characters other than whitespace are dropped, so the
/// text can go into any index (PostgreSQL refuses NUL in text).
///
/// # Errors
/// A reason, safe to log, when the bytes are not text.
pub fn decode_text(bytes: &[u8]) -> Result<String, String> {
    let decoded = if let Some((encoding, bom)) = encoding_rs::Encoding::for_bom(bytes) {
        encoding.decode_without_bom_handling(&bytes[bom..]).0.into_owned()
    } else if bytes.contains(&0) {
        return Err("not text: it holds NUL bytes (binary, or UTF-16 without a byte-order mark)".to_owned());
    } else {
        match std::str::from_utf8(bytes) {
            Ok(text) => text.to_owned(),
            Err(_) => {
                let mut detector = chardetng::EncodingDetector::new();
                detector.feed(bytes, true);
                let encoding = detector.guess(None, true);
                tracing::debug!(encoding = encoding.name(), "text decoded from a legacy encoding");
                encoding.decode_without_bom_handling(bytes).0.into_owned()
            }
        }
    };
    Ok(decoded.chars().filter(|c| !c.is_control() || c.is_whitespace()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_are_told_by_their_first_bytes() {
        assert_eq!(detect(b"%PDF-1.7\n..."), Some(Detected::Pdf));
        assert_eq!(detect(b"\n\n%PDF-1.4"), Some(Detected::Pdf));
        assert_eq!(detect(b"PK\x03\x04rest"), Some(Detected::Zip));
        assert_eq!(detect(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1...."), Some(Detected::Ole));
        assert_eq!(detect(b"{\\rtf1\\ansi Hallo}"), Some(Detected::Rtf));
        assert!(matches!(detect(b"\x89PNG\r\n\x1a\n...."), Some(Detected::Binary(_))));
        assert_eq!(detect(b"Kunde;Strasse\n"), None);
        assert_eq!(detect(b"Received: from mx\r\nSubject: Rechnung\r\n\r\nbody"), Some(Detected::Mail));
        assert_eq!(detect(b"  <!DOCTYPE html><html>"), Some(Detected::Html));
        assert_eq!(detect(b"Subject line without headers"), None);
        assert_eq!(detect(b""), None);
    }

    #[test]
    fn legacy_and_utf16_text_is_decoded() {
        // "Müller;Straße" in Windows-1252.
        let cp1252 = b"Kunde;Stra\xDFe;Ort\nM\xFCller;Hauptstra\xDFe 5;K\xF6ln\n";
        let text = decode_text(cp1252).unwrap();
        assert!(text.contains("Müller") && text.contains("Straße") && text.contains("Köln"), "{text}");
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend("Quittung Zürich".encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(decode_text(&utf16).unwrap(), "Quittung Zürich");
        let mut utf8_bom = b"\xEF\xBB\xBF".to_vec();
        utf8_bom.extend("Grüße".as_bytes());
        assert_eq!(decode_text(&utf8_bom).unwrap(), "Grüße");
        assert!(decode_text(b"abc\x00def").is_err());
        assert_eq!(decode_text(b"bell\x07 and\ttab").unwrap(), "bell and\ttab");
    }

    proptest! {
        /// Any bytes are text without NUL or other control characters (whitespace aside), or a
        /// reason; UTF-8 text without control characters comes back as it was.
        #[test]
        fn any_bytes_decode_to_clean_text_or_a_reason(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(text) = decode_text(&bytes) {
                prop_assert!(!text.chars().any(|c| c.is_control() && !c.is_whitespace()), "{text:?}");
            }
        }

        #[test]
        fn clean_utf8_text_comes_back_unchanged(text in "[^\\p{Cc}]{0,200}") {
            prop_assume!(!text.starts_with('\u{feff}'));
            prop_assert_eq!(decode_text(text.as_bytes()).unwrap(), text);
        }
    }
}
