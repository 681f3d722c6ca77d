//! Parse, don't validate: the newtypes every boundary turns raw input into.
//!
//! [`FileKey`] is an object key that can never escape a storage root, [`OriginalFilename`] a
//! user's file name safe to store and to put in a header, [`ContentType`] a media type safe to
//! sign and echo, [`Checksum`] a SHA-256 digest in base64.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Serialize, Serializer};
use uuid::Uuid;

/// Serialises a string newtype as its string.
macro_rules! serialize_as_str {
    ($($name:ident),*) => {$(
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    )*};
}
serialize_as_str!(FileKey, OriginalFilename, ContentType);

/// The prefix of every generated key (the seed's `path_prefix="uploads"`).
pub const UPLOAD_PREFIX: &str = "uploads";

/// Why some input was refused; the message is safe to show to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);

impl From<InvalidInput> for String {
    fn from(e: InvalidInput) -> Self {
        e.0
    }
}

fn invalid(msg: impl Into<String>) -> InvalidInput {
    InvalidInput(msg.into())
}

/// A storage key: 1–1024 bytes of `/`-separated segments, each non-empty and never `.`, `..`
/// or starting with a dot, with no control character and no backslash. Any other character
/// (spaces, `+`, non-ASCII) is allowed, as S3 allows it: keys written by other systems stay
/// addressable. No key can name a path outside the storage root, or the local backend's
/// `.tmp/` and `.meta/` folders. Keys this service generates are plain ASCII.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileKey(String);

impl FileKey {
    /// Validates `raw` as a key.
    ///
    /// # Errors
    /// [`InvalidInput`] when the key is empty, too long, or has a forbidden segment or character.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        if raw.is_empty() || raw.len() > 1024 {
            return Err(invalid("file_key must be 1 to 1024 bytes long"));
        }
        if raw.chars().any(|c| c.is_control() || c == '\\') {
            return Err(invalid("file_key must not contain control characters or backslashes"));
        }
        if raw.split('/').any(|segment| segment.is_empty() || segment.starts_with('.')) {
            return Err(invalid("file_key has an empty or dot-leading path segment"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// A fresh key `uploads/<uuid><ext>` for a file called `filename`; the extension is kept
    /// only when it is short and alphanumeric, and is lower-cased.
    pub fn generate(filename: &OriginalFilename) -> Self {
        let ext = filename
            .as_str()
            .rsplit_once('.')
            .map(|(_, ext)| ext)
            .filter(|ext| !ext.is_empty() && ext.len() <= 10 && ext.bytes().all(|b| b.is_ascii_alphanumeric()))
            .map(|ext| format!(".{}", ext.to_ascii_lowercase()))
            .unwrap_or_default();
        Self(format!("{UPLOAD_PREFIX}/{}{ext}", Uuid::new_v4()))
    }

    /// The key as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the key is under the service's upload prefix (`uploads/`), as every key it
    /// generates is.
    pub fn is_upload(&self) -> bool {
        self.0.strip_prefix(UPLOAD_PREFIX).is_some_and(|rest| rest.starts_with('/'))
    }
}

/// Read back only through [`FileKey::parse`]: a key from outside (a queue message) is checked
/// as any other.
impl<'de> serde::Deserialize<'de> for FileKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <String as serde::Deserialize>::deserialize(deserializer)?;
        Self::parse(&raw).map_err(|e| serde::de::Error::custom(e.0))
    }
}

impl fmt::Display for FileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name the user gave the file: 1–255 bytes, no control characters, no invisible format
/// characters (general category Cf: bidi overrides and isolates, zero-width characters), no
/// path separators, not `.` or `..`. Stored as given; [`crate::disposition`] makes it
/// header-safe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalFilename(String);

impl OriginalFilename {
    /// Validates a file name.
    ///
    /// # Errors
    /// [`InvalidInput`] naming the rule that was broken.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        if raw.trim().is_empty() {
            return Err(invalid("filename must not be empty"));
        }
        if raw.len() > 255 {
            return Err(invalid("filename must be at most 255 bytes long"));
        }
        if raw.chars().any(char::is_control) {
            return Err(invalid("filename must not contain control characters"));
        }
        if raw.chars().any(is_format_character) {
            return Err(invalid("filename must not contain invisible format characters (bidi or zero-width)"));
        }
        if raw.contains(['/', '\\']) || raw == "." || raw == ".." {
            return Err(invalid("filename must be a plain name, not a path"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// A name this service validated when it stored it (read back from the database): kept as
    /// stored, so a rule added later never makes an existing file unreadable.
    pub(crate) fn from_stored(raw: String) -> Self {
        Self(raw)
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether `c` is a Unicode format character (general category Cf): bidi embeddings,
/// overrides and isolates, zero-width spaces and joiners, the byte-order mark, and the like,
/// which would make a name read differently from what it is.
fn is_format_character(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory as _};
    c.general_category() == GeneralCategory::Format
}

/// A media type such as `text/plain; charset=utf-8`: at most 100 bytes of printable ASCII with a
/// `type/subtype` of token characters. Kept exactly as given because signed uploads bind it; its
/// essence (`type/subtype`, lower-cased) is computed once, here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType {
    raw: String,
    essence: String,
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
}

impl ContentType {
    /// Validates a media type.
    ///
    /// # Errors
    /// [`InvalidInput`] when it is empty, too long, or not `type/subtype[; params]`.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(invalid("content_type must not be empty"));
        }
        if raw.len() > 100 {
            return Err(invalid("content_type must be at most 100 bytes long"));
        }
        if !raw.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(invalid("content_type must be printable ASCII"));
        }
        let essence = raw.split(';').next().unwrap_or_default().trim();
        match essence.split_once('/') {
            Some((t, s)) if is_token(t) && is_token(s) => {
                Ok(Self { essence: essence.to_ascii_lowercase(), raw: raw.to_owned() })
            }
            _ => Err(invalid("content_type must look like `type/subtype`")),
        }
    }

    /// The media type as given.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// `type/subtype`, lower-cased, without parameters.
    pub fn essence(&self) -> &str {
        &self.essence
    }

    /// Whether `other` (as a store reports it) names this same media type, parameters included,
    /// ignoring case and surrounding space.
    pub fn same_as(&self, other: &str) -> bool {
        other.trim().eq_ignore_ascii_case(&self.raw)
    }
}

/// `UPLOAD_ALLOWED_CONTENT_TYPES`: exact types and `type/*` wildcards; empty allows any type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContentTypePolicy {
    patterns: Vec<String>,
}

impl ContentTypePolicy {
    /// Parses a comma-separated list such as `image/*,application/pdf`.
    ///
    /// # Errors
    /// A message describing the first malformed entry.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut patterns = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let lower = entry.to_ascii_lowercase();
            match lower.split_once('/') {
                Some((t, "*")) if is_token(t) => {}
                Some((t, s)) if is_token(t) && is_token(s) => {}
                _ => return Err(format!("`{entry}` is not a media type or `type/*` pattern")),
            }
            patterns.push(lower);
        }
        Ok(Self { patterns })
    }

    /// Whether `content_type` may be uploaded.
    pub fn allows(&self, content_type: &ContentType) -> bool {
        if self.patterns.is_empty() {
            return true;
        }
        let essence = content_type.essence();
        self.patterns.iter().any(|p| match p.strip_suffix("/*") {
            Some(major) => essence.split('/').next() == Some(major),
            None => *p == essence,
        })
    }
}

/// A SHA-256 digest, carried in standard base64 (as S3's `x-amz-checksum-sha256`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checksum([u8; 32]);

impl Serialize for Checksum {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base64())
    }
}

impl Checksum {
    /// Parses a base64 SHA-256 digest.
    ///
    /// # Errors
    /// [`InvalidInput`] unless it is base64 of exactly 32 bytes.
    pub fn parse_base64(raw: &str) -> Result<Self, InvalidInput> {
        let bytes = STANDARD.decode(raw.trim()).map_err(|_| invalid("checksum_sha256 must be base64"))?;
        let digest: [u8; 32] =
            bytes.try_into().map_err(|_| invalid("checksum_sha256 must be the base64 of a 32-byte SHA-256 digest"))?;
        Ok(Self(digest))
    }

    /// Wraps a computed digest.
    pub fn from_digest(digest: [u8; 32]) -> Self {
        Self(digest)
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        use sha2::Digest as _;
        Self(sha2::Sha256::digest(bytes).into())
    }

    /// The digest in standard base64.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// The digest in lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// A CRC-64/NVME of a whole object, carried in standard base64 of its 8 big-endian bytes (as
/// S3's `x-amz-checksum-crc64nvme`): the full-object checksum S3 keeps of every object, multipart
/// ones included, where it keeps no whole-object SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crc64(u64);

impl Serialize for Crc64 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base64())
    }
}

impl Crc64 {
    /// Parses a base64 CRC-64/NVME.
    ///
    /// # Errors
    /// [`InvalidInput`] unless it is base64 of exactly 8 bytes.
    pub fn parse_base64(raw: &str) -> Result<Self, InvalidInput> {
        let bytes = STANDARD.decode(raw.trim()).map_err(|_| invalid("checksum_crc64nvme must be base64"))?;
        let value: [u8; 8] =
            bytes.try_into().map_err(|_| invalid("checksum_crc64nvme must be the base64 of an 8-byte CRC-64/NVME"))?;
        Ok(Self(u64::from_be_bytes(value)))
    }

    /// Wraps a computed value.
    pub fn from_value(value: u64) -> Self {
        Self(value)
    }

    /// The CRC-64/NVME of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        let mut digest = crc64fast_nvme::Digest::new();
        digest.write(bytes);
        Self(digest.sum64())
    }

    /// The value in standard base64.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0.to_be_bytes())
    }

    /// The value in lower-case hex.
    pub fn to_hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_could_escape_the_root_are_refused() {
        for bad in [
            "",
            "../etc/passwd",
            "a/../../b",
            "/abs",
            "a//b",
            "a/./b",
            ".hidden",
            "a/.meta/x",
            "a\\b",
            "a\nb",
            "a\u{0}b",
            "a/",
        ] {
            assert!(FileKey::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(FileKey::parse(&"a".repeat(1025)).is_err());
        assert!(FileKey::parse("uploads/0b1c.pdf").is_ok());
        assert!(FileKey::parse("uploads/Rapport été+2025 (1).pdf").is_ok());
    }

    #[test]
    fn generated_keys_keep_a_short_lowercase_extension_only() {
        let key = FileKey::generate(&OriginalFilename::parse("Report Q3.PDF").unwrap());
        assert!(key.as_str().starts_with("uploads/") && key.as_str().ends_with(".pdf"));
        assert!(FileKey::parse(key.as_str()).is_ok());
        let key = FileKey::generate(&OriginalFilename::parse("weird.ext;rm -rf").unwrap());
        assert!(!key.as_str().contains(';'));
        assert!(FileKey::parse(key.as_str()).is_ok());
        let key = FileKey::generate(&OriginalFilename::parse("noext").unwrap());
        assert_eq!(key.as_str().len(), "uploads/".len() + 36);
    }

    #[test]
    fn filenames_with_controls_paths_or_excess_length_are_refused() {
        for bad in ["", "   ", "a\nb", "a\rb", "a\u{0}b", "a\u{7f}", "dir/x.txt", "c:\\x.txt", "..", "."] {
            assert!(OriginalFilename::parse(bad).is_err(), "{bad:?}");
        }
        assert!(OriginalFilename::parse(&"é".repeat(128)).is_err(), "256 bytes");
        assert!(OriginalFilename::parse(&"a".repeat(255)).is_ok());
        assert!(OriginalFilename::parse("Überweisung März \"final\".pdf").is_ok());
    }

    #[test]
    fn filenames_with_each_kind_of_format_character_are_refused() {
        // Bidi embeddings and overrides, isolates, zero-width space / joiners, word joiner,
        // byte-order mark, soft hyphen, an Arabic number sign, a tag character.
        for c in [
            '\u{202A}',
            '\u{202B}',
            '\u{202C}',
            '\u{202D}',
            '\u{202E}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{200E}',
            '\u{200F}',
            '\u{2060}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{0600}',
            '\u{E0041}',
        ] {
            let name = format!("invoice{c}gpj.exe");
            assert!(OriginalFilename::parse(&name).is_err(), "U+{:04X}", c as u32);
        }
        assert!(OriginalFilename::parse("Überweisung März 😀 عربى.pdf").is_ok());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        #[test]
        fn any_string_is_a_filename_or_a_reason_and_generates_a_safe_key(raw in "\\PC*|.{0,300}") {
            match OriginalFilename::parse(&raw) {
                Ok(name) => {
                    proptest::prop_assert!(name.as_str().len() <= 255);
                    proptest::prop_assert!(!name.as_str().chars().any(|c| c.is_control() || is_format_character(c)));
                    proptest::prop_assert!(!name.as_str().contains(['/', '\\']));
                    let key = FileKey::generate(&name);
                    proptest::prop_assert!(key.as_str().is_ascii() && key.as_str().starts_with("uploads/"));
                    proptest::prop_assert_eq!(FileKey::parse(key.as_str()), Ok(key));
                }
                Err(e) => proptest::prop_assert!(!e.0.is_empty()),
            }
        }

        #[test]
        fn any_string_is_a_key_or_a_reason_and_no_key_leaves_the_root(raw in "\\PC*|[a-z./\\\\]{0,20}") {
            if let Ok(key) = FileKey::parse(&raw) {
                let path = std::path::Path::new(key.as_str());
                proptest::prop_assert!(path.is_relative());
                proptest::prop_assert!(path.components().all(|c| matches!(c, std::path::Component::Normal(_))));
            }
        }

        #[test]
        fn any_string_is_a_content_type_or_a_reason(raw in "\\PC*|[a-zA-Z/;= +*.-]{0,40}") {
            if let Ok(ct) = ContentType::parse(&raw) {
                proptest::prop_assert!(ct.as_str().bytes().all(|b| (0x20..0x7f).contains(&b)));
                proptest::prop_assert!(ct.essence().contains('/'));
            }
        }
    }

    #[test]
    fn content_types_must_be_type_slash_subtype() {
        assert_eq!(ContentType::parse("Text/Plain; charset=utf-8").unwrap().essence(), "text/plain");
        for bad in ["", "text", "text/", "/plain", "text/plain\r\nX: y", "tëxt/plain"] {
            assert!(ContentType::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_policy_matches_exact_types_and_wildcards() {
        let policy = ContentTypePolicy::parse("image/*, application/pdf").unwrap();
        let ct = |s| ContentType::parse(s).unwrap();
        assert!(policy.allows(&ct("image/png")));
        assert!(policy.allows(&ct("Application/PDF")));
        assert!(!policy.allows(&ct("text/plain")));
        assert!(!policy.allows(&ct("imagex/png")));
        assert!(ContentTypePolicy::parse("").unwrap().allows(&ct("text/plain")));
        assert!(ContentTypePolicy::parse("*/*").is_err());
    }

    #[test]
    fn checksums_round_trip_and_refuse_wrong_lengths() {
        let c = Checksum::from_digest([7; 32]);
        assert_eq!(Checksum::parse_base64(&c.to_base64()).unwrap(), c);
        assert!(Checksum::parse_base64("AAAA").is_err());
        assert!(Checksum::parse_base64("not base64!").is_err());
    }
}
