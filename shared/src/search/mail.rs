//! Text of mails (EML: subject, senders and recipients, every text body, and the text of text
//! and mail attachments, whatever their transfer encoding and charset) with `mail-parser`, and
//! the visible text of HTML (scripts, styles and markup dropped) with its HTML-to-text decoder.
//! Both run in the extractor child, under its limits.

use mail_parser::{Address, Message, MessageParser};

/// How deep mails attached to mails are read.
const MAX_NESTED: usize = 3;

/// The text of the mail in `bytes`.
///
/// # Errors
/// A reason, safe to log, when the bytes are no mail.
pub(super) fn mail_text(bytes: &[u8]) -> Result<String, String> {
    let message = MessageParser::default().parse(bytes).ok_or_else(|| "not a mail message".to_owned())?;
    let mut out = Vec::new();
    message_text(&message, 0, &mut out);
    if out.is_empty() {
        return Err("a mail message without headers or text".to_owned());
    }
    Ok(out.join("\n"))
}

fn addresses(address: Option<&Address<'_>>, out: &mut Vec<String>) {
    for addr in address.into_iter().flat_map(Address::iter) {
        out.extend(addr.name().map(str::to_owned));
        out.extend(addr.address().map(str::to_owned));
    }
}

fn message_text(message: &Message<'_>, depth: usize, out: &mut Vec<String>) {
    out.extend(message.subject().map(str::to_owned));
    addresses(message.from(), out);
    addresses(message.to(), out);
    addresses(message.cc(), out);
    for i in 0..message.text_body_count() {
        out.extend(message.body_text(i).map(|t| t.into_owned()));
    }
    if message.text_body_count() == 0 {
        for i in 0..message.html_body_count() {
            out.extend(message.body_html(i).map(|h| mail_parser::decoders::html::html_to_text(&h)));
        }
    }
    for attachment in message.attachments() {
        if let Some(inner) = attachment.message().filter(|_| depth < MAX_NESTED) {
            message_text(inner, depth + 1, out);
        } else if attachment.is_text_html() {
            out.extend(attachment.text_contents().map(mail_parser::decoders::html::html_to_text));
        } else if attachment.is_text() {
            out.extend(attachment.text_contents().map(str::to_owned));
        }
    }
}

/// The visible text of the HTML in `bytes` (decoded from whatever encoding it is in).
///
/// # Errors
/// A reason when the bytes are not text.
pub(super) fn html_text(bytes: &[u8]) -> Result<String, String> {
    let html = super::sniff::decode_text(bytes)?;
    Ok(mail_parser::decoders::html::html_to_text(&html))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MAIL: &[u8] = b"From: Erika Mustermann <erika@example.com>\r\nTo: buchhaltung@example.com\r\n\
Subject: Rechnung =?utf-8?q?f=C3=BCr_M=C3=A4rz?=\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\r\nGr=FC=DFe aus K=F6ln\r\n--b1\r\n\
Content-Type: text/plain; name=notes.txt\r\nContent-Disposition: attachment; filename=notes.txt\r\n\
Content-Transfer-Encoding: base64\r\n\r\nYXR0YWNobWVudHdvcmQ=\r\n--b1--\r\n";

    #[test]
    fn a_mails_headers_bodies_and_text_attachments_are_read() {
        let text = mail_text(MAIL).unwrap();
        for word in ["März", "Erika", "buchhaltung@example.com", "Grüße", "Köln", "attachmentword"] {
            assert!(text.contains(word), "{word} in {text}");
        }
        assert!(mail_text(b"").is_err());
    }

    #[test]
    fn html_keeps_only_visible_text() {
        let html = b"<html><head><title>t</title><style>.x{color:red}</style></head><body>\
<script>var hidden = 'scriptword';</script><p>visible &amp; <b>shown</b></p></body></html>";
        let text = html_text(html).unwrap();
        assert!(text.contains("visible & shown") && !text.contains("scriptword") && !text.contains("color"), "{text}");
    }

    /// A part of a generated mail: a text body in some transfer encoding and charset, or a
    /// multipart of parts (nested, with a boundary that may be missing or wrong).
    fn part() -> impl Strategy<Value = String> {
        let leaf = (
            prop_oneof![Just("7bit"), Just("base64"), Just("quoted-printable"), Just("x-unknown")],
            prop_oneof![Just("utf-8"), Just("iso-8859-1"), Just("windows-1252"), Just("utf-16"), Just("nonsense")],
            "[ -~äöü=\r\n]{0,80}",
        )
            .prop_map(|(encoding, charset, body)| {
                format!("Content-Type: text/plain; charset={charset}\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n{body}\r\n")
            });
        leaf.prop_recursive(8, 32, 3, |inner| {
            ("[a-z]{1,6}", proptest::collection::vec(inner, 0..3), any::<bool>()).prop_map(
                |(boundary, parts, closed)| {
                    let mut out = format!("Content-Type: multipart/mixed; boundary={boundary}\r\n\r\n");
                    for part in parts {
                        out.push_str(&format!("--{boundary}\r\n{part}"));
                    }
                    if closed {
                        out.push_str(&format!("--{boundary}--\r\n"));
                    }
                    out
                },
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Generated mails, of any nesting, encoding and charset, are text or a reason.
        #[test]
        fn generated_mails_are_text_or_a_reason(subject in "[ -~]{0,40}", body in part()) {
            let mail = format!("From: a@example.com\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n{body}");
            let _ = mail_text(mail.as_bytes());
        }

        /// A real mail with bytes flipped, cut or inserted anywhere is text or a reason.
        #[test]
        fn mutated_mails_are_text_or_a_reason(
            edits in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
        ) {
            let mut bytes = MAIL.to_vec();
            for (at, byte, how) in edits {
                let i = at.index(bytes.len().max(1)).min(bytes.len().saturating_sub(1));
                match how {
                    0 if !bytes.is_empty() => bytes[i] ^= byte | 1,
                    1 => bytes.truncate(i),
                    _ => bytes.insert(i, byte),
                }
            }
            let _ = mail_text(&bytes);
        }

        /// Any bytes are visible text or a reason as HTML.
        #[test]
        fn any_bytes_are_html_text_or_a_reason(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = html_text(&bytes);
        }
    }
}
