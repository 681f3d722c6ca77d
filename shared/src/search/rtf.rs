//! The text of a Rich Text Format document. Written here: the one RTF crate on the registry
//! (`rtf-parser`) reads every `\'hh` escape as Latin-1 whatever the document's `\ansicpg` code
//! page says (a Cyrillic or Greek RTF comes out as accented Latin letters), tokenises the whole
//! document into memory before reading it, and panics on an unpaired `\u` surrogate. Text is a
//! small part of RTF: groups, control words, escapes and the destinations that hold no text,
//! read here in one pass with bounded nesting, code pages through `codepage` + `encoding_rs`.

/// How deep `{` groups may nest.
pub const MAX_GROUP_DEPTH: usize = 1_000;

/// Destinations whose text is not the document's (tables of fonts, colours and styles, document
/// properties, pictures, embedded objects, field instructions, themes, ...).
const SKIPPED: &[&str] = &[
    "fonttbl",
    "colortbl",
    "stylesheet",
    "info",
    "pict",
    "object",
    "objdata",
    "fldinst",
    "listtable",
    "listoverridetable",
    "revtbl",
    "rsidtbl",
    "generator",
    "xmlnstbl",
    "themedata",
    "colorschememapping",
    "datastore",
    "latentstyles",
    "filetbl",
    "bkmkstart",
    "bkmkend",
    "nonshppict",
    "shpinst",
    "mmathPr",
    "pgdsctbl",
    "protusertbl",
    "xform",
];

/// A group's state.
#[derive(Clone, Copy)]
struct Group {
    skip: bool,
    /// Characters to skip after a `\u` (its fallback), `\ucN`.
    uc: usize,
}

/// The text of the RTF document in `bytes`, up to `max_chars` characters.
///
/// # Errors
/// A reason, safe to log: not RTF, groups nested deeper than [`MAX_GROUP_DEPTH`].
pub fn rtf_text(bytes: &[u8], max_chars: usize) -> Result<String, String> {
    if !bytes.trim_ascii_start().starts_with(b"{\\rtf") {
        return Err("not an RTF document".to_owned());
    }
    let mut reader =
        Reader { out: Out::new(max_chars), stack: Vec::new(), group: Group { skip: false, uc: 1 }, pending_skip: 0 };
    let mut i = 0;
    while i < bytes.len() && !reader.out.full() {
        i = reader.step(bytes, i)?;
    }
    reader.out.flush();
    let words = reader.out.text.split_whitespace().collect::<Vec<_>>().join(" ");
    Ok(words.chars().take(max_chars).collect())
}

struct Reader {
    out: Out,
    stack: Vec<Group>,
    group: Group,
    /// Fallback characters of the last `\u` still to skip.
    pending_skip: usize,
}

impl Reader {
    /// Reads what starts at `i`; the index after it.
    fn step(&mut self, bytes: &[u8], i: usize) -> Result<usize, String> {
        match bytes[i] {
            b'{' => {
                if self.stack.len() >= MAX_GROUP_DEPTH {
                    return Err(format!("RTF groups nested deeper than {MAX_GROUP_DEPTH}"));
                }
                self.stack.push(self.group);
                self.pending_skip = 0;
                Ok(i + 1)
            }
            b'}' => {
                if let Some(outer) = self.stack.pop() {
                    self.group = outer;
                }
                self.pending_skip = 0;
                Ok(i + 1)
            }
            b'\\' => self.control(bytes, i + 1),
            b'\r' | b'\n' => Ok(i + 1),
            byte => {
                self.character(byte);
                Ok(i + 1)
            }
        }
    }

    /// A character of the text (a byte in the code page), unless it is a `\u`'s fallback.
    fn character(&mut self, byte: u8) {
        if !self.skipped_fallback() {
            self.byte(byte);
        }
    }

    /// Whether this character is a `\u`'s fallback, to be skipped.
    fn skipped_fallback(&mut self) -> bool {
        if self.pending_skip > 0 {
            self.pending_skip -= 1;
            return true;
        }
        false
    }

    fn byte(&mut self, byte: u8) {
        if !self.group.skip {
            self.out.byte(byte);
        }
    }

    fn text(&mut self, text: &str) {
        if !self.group.skip {
            self.out.push(text);
        }
    }

    /// A control word or symbol after a backslash at `i`; the index after it.
    fn control(&mut self, bytes: &[u8], i: usize) -> Result<usize, String> {
        let Some(&first) = bytes.get(i) else { return Ok(i) };
        if !first.is_ascii_alphabetic() {
            return Ok(self.symbol(bytes, i, first));
        }
        let word_end = i + bytes[i..].iter().take(32).take_while(|b| b.is_ascii_alphabetic()).count();
        let word = std::str::from_utf8(&bytes[i..word_end]).unwrap_or_default();
        let digits_start = word_end + usize::from(bytes.get(word_end) == Some(&b'-'));
        let end = digits_start
            + bytes[digits_start.min(bytes.len())..].iter().take(10).take_while(|b| b.is_ascii_digit()).count();
        let param = if end > digits_start {
            std::str::from_utf8(&bytes[word_end..end]).ok().and_then(|p| p.parse::<i64>().ok())
        } else {
            None
        };
        let next = if bytes.get(end) == Some(&b' ') { end + 1 } else { end };
        self.word(word, param);
        Ok(next)
    }

    fn symbol(&mut self, bytes: &[u8], i: usize, symbol: u8) -> usize {
        match symbol {
            b'\'' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(byte) = hex {
                    self.character(byte);
                    return i + 3;
                }
                i + 1
            }
            b'*' => {
                // An ignorable destination: one this reader does not know, so its text is not
                // the document's.
                self.group.skip = true;
                i + 1
            }
            b'~' => {
                self.text(" ");
                i + 1
            }
            b'_' => {
                self.text("-");
                i + 1
            }
            b'\r' | b'\n' => {
                self.text("\n");
                i + 1
            }
            b'{' | b'}' | b'\\' => {
                self.character(symbol);
                i + 1
            }
            _ => i + 1,
        }
    }

    fn word(&mut self, word: &str, param: Option<i64>) {
        match word {
            "par" | "line" | "sect" | "page" | "row" | "cell" | "tab" | "lquote" | "rquote" => {
                let text = match word {
                    "lquote" | "rquote" => "'",
                    _ => " ",
                };
                self.text(text);
            }
            "emdash" | "endash" => self.text("-"),
            "ansicpg" => {
                if let Some(encoding) = param.and_then(|p| u16::try_from(p).ok()).and_then(codepage::to_encoding) {
                    self.out.flush();
                    self.out.encoding = encoding;
                }
            }
            "uc" => self.group.uc = param.and_then(|p| usize::try_from(p).ok()).unwrap_or(1).min(16),
            "u" => {
                if let Some(unit) = param {
                    // Negative parameters are the upper half of the 16-bit range.
                    let unit = u16::try_from(unit.rem_euclid(65_536)).unwrap_or(0xFFFD);
                    if !self.group.skip {
                        self.out.unit(unit);
                    }
                    self.pending_skip = self.group.uc;
                }
            }
            _ if SKIPPED.contains(&word) => self.group.skip = true,
            _ => {}
        }
    }
}

/// Text gathered: bytes in the document's code page, UTF-16 units of `\u`, capped.
struct Out {
    text: String,
    bytes: Vec<u8>,
    units: Vec<u16>,
    encoding: &'static encoding_rs::Encoding,
    max_chars: usize,
}

impl Out {
    fn new(max_chars: usize) -> Self {
        Self {
            text: String::new(),
            bytes: Vec::new(),
            units: Vec::new(),
            encoding: encoding_rs::WINDOWS_1252,
            max_chars,
        }
    }

    fn byte(&mut self, byte: u8) {
        self.flush_units();
        self.bytes.push(byte);
    }

    fn unit(&mut self, unit: u16) {
        self.flush_bytes();
        self.units.push(unit);
    }

    fn push(&mut self, text: &str) {
        self.flush();
        self.text.push_str(text);
    }

    fn flush(&mut self) {
        self.flush_bytes();
        self.flush_units();
    }

    fn flush_bytes(&mut self) {
        if !self.bytes.is_empty() {
            let (decoded, _) = self.encoding.decode_without_bom_handling(&self.bytes);
            let decoded: String = decoded.chars().filter(|c| !c.is_control()).collect();
            self.text.push_str(&decoded);
            self.bytes.clear();
        }
    }

    fn flush_units(&mut self) {
        if !self.units.is_empty() {
            let decoded: String = char::decode_utf16(self.units.drain(..))
                .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                .filter(|c| !c.is_control())
                .collect();
            self.text.push_str(&decoded);
        }
    }

    fn full(&self) -> bool {
        // Bytes are a bound on characters: the check is cheap and never stops early.
        self.text.len() >= self.max_chars.saturating_mul(4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn text_escapes_code_pages_and_unicode_are_read_and_tables_skipped() {
        let rtf = br"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0\fswiss Helvetica;}}{\colortbl;\red0\green0\blue0;}
{\*\generator Writer;}{\info{\title Hidden title}}\pard Stra\'dfe und M\'fcller,\par
{\b fett} \u8364?uro\uc2\u26085\'93\'fa end\par {\*\unknowndest secret}Schluss}";
        let text = rtf_text(rtf, 10_000).unwrap();
        assert_eq!(text, "Straße und Müller, fett €uro日 end Schluss");
        let cyrillic = br"{\rtf1\ansi\ansicpg1251 \'cf\'f0\'e8\'e2\'e5\'f2}";
        assert_eq!(rtf_text(cyrillic, 100).unwrap(), "Привет");
        // A surrogate pair, and an unpaired surrogate.
        assert_eq!(rtf_text(br"{\rtf1 \u-10179?\u-8704? \u-10179?}", 100).unwrap(), "😀 \u{FFFD}");
    }

    #[test]
    fn hostile_rtf_is_a_reason_or_bounded_text() {
        let deep = format!("{{\\rtf1 {}x{}}}", "{".repeat(5_000), "}".repeat(5_000));
        assert!(rtf_text(deep.as_bytes(), 100).unwrap_err().contains("nested deeper"));
        assert!(rtf_text(b"plain text", 100).is_err());
        let long = format!("{{\\rtf1 {}}}", "wort ".repeat(100_000));
        assert_eq!(rtf_text(long.as_bytes(), 1_000).unwrap().chars().count(), 1_000);
    }

    proptest! {
        /// Any bytes after an RTF header are text without control characters, never a panic.
        #[test]
        fn any_rtf_body_reads_to_clean_text(body in proptest::collection::vec(any::<u8>(), 0..800)) {
            let mut bytes = b"{\\rtf1 ".to_vec();
            bytes.extend(body);
            if let Ok(text) = rtf_text(&bytes, 500) {
                prop_assert!(!text.chars().any(char::is_control), "{text:?}");
            }
        }

        /// RTF made of groups, control words, escapes and text in any mix reads without panic.
        #[test]
        fn generated_rtf_reads(pieces in proptest::collection::vec(prop_oneof![
            Just("{".to_owned()), Just("}".to_owned()), Just("\\par ".to_owned()), Just("\\*".to_owned()),
            "\\\\u-?[0-9]{1,6}\\??", "\\\\'[0-9a-fA-F]{0,2}", "\\\\uc[0-9]{1,3} ", "\\\\ansicpg[0-9]{3,5} ",
            "\\\\[a-z]{1,12}-?[0-9]{0,4} ?", "[a-zA-Z äöü]{1,10}",
        ], 0..200)) {
            let rtf = format!("{{\\rtf1 {}}}", pieces.concat());
            if let Ok(text) = rtf_text(rtf.as_bytes(), 200) {
                prop_assert!(!text.chars().any(char::is_control), "{text:?}");
            }
        }
    }
}
