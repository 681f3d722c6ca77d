//! `Content-Disposition` values for downloads (RFC 6266, with RFC 5987 `filename*` for
//! non-ASCII names), and which types may be shown inline at all. Written by hand: the crates
//! that exist parse this header, none builds it.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::keys::ContentType;

/// The types a browser may show inline from our origins: they run no script. Raster images,
/// PDF, plain text, audio and video. Everything else (HTML, XHTML, SVG, XML, scripts, and any
/// type not listed) is always served as an attachment.
pub const INLINE_TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/avif",
    "image/bmp",
    "application/pdf",
    "text/plain",
    "audio/*",
    "video/*",
];

/// RFC 5987 `attr-char` minus what must be escaped: everything but these is percent-encoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// Whether the browser saves the file or shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DispositionKind {
    /// Save as a file (the default).
    #[default]
    Attachment,
    /// Show in the browser where it can.
    Inline,
}

impl DispositionKind {
    /// Parses the `disposition` query parameter.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "attachment" => Some(Self::Attachment),
            "inline" => Some(Self::Inline),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Attachment => "attachment",
            Self::Inline => "inline",
        }
    }

    /// What a download of `content_type` is served as when `self` is asked for: inline only
    /// for [`INLINE_TYPES`], an attachment otherwise.
    pub fn for_type(self, content_type: &ContentType) -> Self {
        let essence = content_type.essence();
        let inert = INLINE_TYPES.iter().any(|t| match t.strip_suffix("/*") {
            Some(major) => essence.split('/').next() == Some(major),
            None => *t == essence,
        });
        if inert {
            self
        } else {
            Self::Attachment
        }
    }
}

/// The header value for `filename`: a quoted ASCII fallback in which anything non-ASCII, a
/// quote, a backslash or a control character becomes `_`, plus `filename*=UTF-8''…` whenever
/// the fallback differs from the name. The result never holds CR, LF or an unbalanced quote.
pub fn content_disposition(kind: DispositionKind, filename: &str) -> String {
    let fallback: String = filename
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '_',
        })
        .collect();
    let fallback = if fallback.trim().is_empty() { "download".to_owned() } else { fallback };
    if fallback == filename {
        format!("{}; filename=\"{fallback}\"", kind.as_str())
    } else {
        let clean: String = filename.chars().filter(|c| !c.is_control()).collect();
        format!(
            "{}; filename=\"{fallback}\"; filename*=UTF-8''{}",
            kind.as_str(),
            utf8_percent_encode(&clean, ATTR_CHAR)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_content_is_always_an_attachment_and_inert_types_may_be_inline() {
        let of = |raw: &str| DispositionKind::Inline.for_type(&ContentType::parse(raw).unwrap());
        for active in [
            "text/html",
            "text/html; charset=utf-8",
            "application/xhtml+xml",
            "image/svg+xml",
            "text/xml",
            "application/xml",
            "application/javascript",
            "text/javascript",
            "application/octet-stream",
            "text/csv",
        ] {
            assert_eq!(of(active), DispositionKind::Attachment, "{active}");
        }
        for inert in
            ["image/png", "IMAGE/JPEG", "application/pdf", "text/plain; charset=utf-8", "video/mp4", "audio/ogg"]
        {
            assert_eq!(of(inert), DispositionKind::Inline, "{inert}");
        }
        let png = ContentType::parse("image/png").unwrap();
        assert_eq!(DispositionKind::Attachment.for_type(&png), DispositionKind::Attachment);
    }

    #[test]
    fn ascii_names_are_quoted_plainly() {
        assert_eq!(
            content_disposition(DispositionKind::Attachment, "report 2024.pdf"),
            "attachment; filename=\"report 2024.pdf\""
        );
        assert_eq!(content_disposition(DispositionKind::Inline, "a.png"), "inline; filename=\"a.png\"");
    }

    #[test]
    fn non_ascii_names_get_a_fallback_and_an_encoded_filename_star() {
        assert_eq!(
            content_disposition(DispositionKind::Attachment, "Größe €.txt"),
            "attachment; filename=\"Gr__e _.txt\"; filename*=UTF-8''Gr%C3%B6%C3%9Fe%20%E2%82%AC.txt"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        #[test]
        fn any_name_gives_one_printable_ascii_header_value(name in "\\PC*|.{0,300}", inline in proptest::bool::ANY) {
            let kind = if inline { DispositionKind::Inline } else { DispositionKind::Attachment };
            let value = content_disposition(kind, &name);
            proptest::prop_assert!(value.bytes().all(|b| (0x20..0x7f).contains(&b)), "{value:?}");
            proptest::prop_assert_eq!(value.matches('"').count(), 2);
            proptest::prop_assert!(value.starts_with(kind.as_str()));
            proptest::prop_assert!(lambda_http::http::HeaderValue::from_str(&value).is_ok());
        }
    }

    #[test]
    fn quotes_backslashes_and_line_breaks_cannot_inject_anything() {
        let value = content_disposition(DispositionKind::Attachment, "a\"; filename=evil.exe\r\nX-Injected: 1\\");
        assert!(!value.contains('\r') && !value.contains('\n'));
        assert_eq!(value.matches('"').count(), 2, "{value}");
        assert!(value.starts_with("attachment; filename=\"a_; filename=evil.exe__X-Injected: 1_\"; filename*=UTF-8''"));
    }
}
