//! The local outbox: every message becomes one RFC 5322 file `<id>.eml` (the id a UUID v7, so
//! the file names sort in sending order) under one directory, and one log line names the file.
//!
//! The message is built with `lettre`'s message builder: `From`, `To`, `Subject` (RFC 2047
//! encoded when not ASCII), `Date`, `Message-ID`, `MIME-Version: 1.0`, and a
//! `multipart/alternative` body with a `text/plain` and a `text/html` part, both UTF-8. The
//! text part is written `8bit`, line by line as it is, so links stay whole and can be read out
//! of the file (quoted-printable would cut lines longer than 76 characters with soft line
//! breaks); the HTML part is base64.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use async_trait::async_trait;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, Message, MultiPart, SinglePart};

use super::{Email, MailError, Mailer, header_text, recipient, sender};

/// RFC 5322's longest line, without its CRLF.
const MAX_LINE_OCTETS: usize = 998;

/// Writes each message as one `.eml` file under a directory (created on first use).
#[derive(Clone, Debug)]
pub struct OutboxMailer {
    dir: PathBuf,
    /// The parsed sender, or why it is unusable (reported by every `send`).
    from: Result<Mailbox, String>,
}

impl OutboxMailer {
    /// An outbox in `dir`, sending as `from` (`Name <address>` or `address`).
    pub fn new(dir: PathBuf, from: String) -> OutboxMailer {
        OutboxMailer {
            dir,
            from: sender(&from),
        }
    }

    /// The directory the `.eml` files are written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, email: &Email) -> Result<String, MailError> {
        let to = recipient(&email.to)?;
        let from = self.from.clone().map_err(MailError::Unavailable)?;
        let id = uuid::Uuid::now_v7();
        let message = message(from, to, email, &id.to_string())?;
        let name = format!("{id}.eml");
        let path = self.dir.join(&name);
        write_file(&self.dir, &path, &message.formatted())
            .await
            .map_err(|err| MailError::Unavailable(format!("writing {}: {err}", path.display())))?;
        tracing::info!(file = %path.display(), "e-mail written to the outbox");
        Ok(name)
    }
}

/// The whole message. The subject is made header-safe here (the builder would RFC 2047-encode
/// a CR/LF, but a subject has no business carrying one).
fn message(
    from: Mailbox,
    to: lettre::Address,
    email: &Email,
    id: &str,
) -> Result<Message, MailError> {
    let message_id = format!("<{id}@{}>", from.email.domain());
    let builder = Message::builder()
        .from(from)
        .to(Mailbox::new(None, to))
        .subject(header_text(&email.subject))
        .date(SystemTime::from(chrono::Utc::now()))
        .message_id(Some(message_id));
    let text = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .body(text_body(&email.text));
    let built = if email.html.trim().is_empty() {
        builder.singlepart(text)
    } else {
        let html = SinglePart::builder()
            .header(ContentType::TEXT_HTML)
            .body(html_body(&email.html));
        builder.multipart(MultiPart::alternative().singlepart(text).singlepart(html))
    };
    built.map_err(|err| MailError::Rejected(format!("building the message: {err}")))
}

/// The text part, `8bit`: CRLF line endings, no control characters but tab, and every line
/// within RFC 5322's 998 octets. A text with a longer line (the domain never writes one) is
/// left to the builder's own choice of encoding instead.
fn text_body(text: &str) -> Body {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let clean: String = text
        .chars()
        .filter(|&c| c == '\n' || c == '\t' || !c.is_control())
        .collect();
    let lines: Vec<&str> = clean.split('\n').collect();
    if lines.iter().all(|line| line.len() <= MAX_LINE_OCTETS) {
        // Checked above: what `8bit` allows (no NUL, no bare CR or LF, short lines).
        Body::dangerous_pre_encoded(
            lines.join("\r\n").into_bytes(),
            ContentTransferEncoding::EightBit,
        )
    } else {
        Body::new(clean)
    }
}

/// The HTML part, base64.
fn html_body(html: &str) -> Body {
    Body::new_with_encoding(html.to_owned(), ContentTransferEncoding::Base64)
        .unwrap_or_else(Body::new)
}

/// Writes the file whole or not at all: a reader of the directory never sees half a message.
async fn write_file(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    tokio::fs::create_dir_all(dir).await?;
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    if let Err(err) = tokio::fs::write(&partial, bytes).await {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(err);
    }
    if let Err(err) = tokio::fs::rename(&partial, path).await {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(err);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_links_stay_on_one_line_in_the_text_part() {
        let link = format!(
            "https://tenantry.local/v1/invitations/accept?token={}",
            "x".repeat(200)
        );
        let body = text_body(&format!("Hello,\n\nOpen {link}\r\nBye\r"));
        assert_eq!(body.encoding(), ContentTransferEncoding::EightBit);
        let written = String::from_utf8_lossy(body.as_ref()).into_owned();
        assert_eq!(written, format!("Hello,\r\n\r\nOpen {link}\r\nBye\r\n"));
    }

    #[test]
    fn control_characters_never_reach_the_text_part() {
        let body = text_body("a\u{0}b\u{7}c\u{1b}d\te");
        assert_eq!(body.as_ref(), b"abcd\te");
    }
}
