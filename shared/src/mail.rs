//! The mailer port and its two adapters: SES (`aws-sdk-sesv2`, [`ses`]) and the local outbox (one
//! RFC 5322 `.eml` file per message, [`outbox`]). Messages carry a text and an HTML part; the domain
//! escapes every name it inserts, and adapters never let a CR/LF reach a header.
//!
//! Header safety, in both adapters:
//! - subjects and display names go through [`header_text`]: every control character (CR and LF
//!   included) becomes a space, so a name can never start a header line of its own;
//! - recipient addresses go through [`recipient`]: one plain address, nothing else; a CR, LF,
//!   `<`, `>`, `,` (or any other control, space or list character) refuses the message with
//!   [`MailError::Rejected`].

#[cfg(feature = "outbox")]
pub mod outbox;
#[cfg(feature = "ses")]
pub mod ses;

#[cfg(all(feature = "ses", feature = "outbox"))]
use std::path::Path;
#[cfg(all(feature = "ses", feature = "outbox"))]
use std::sync::Arc;

use async_trait::async_trait;

#[cfg(feature = "outbox")]
pub use outbox::OutboxMailer;
#[cfg(feature = "ses")]
pub use ses::SesMailer;

/// The sender of the local outbox when `MAIL_FROM` is not set.
pub const DEFAULT_FROM: &str = "Tenantry <no-reply@tenantry.local>";

/// One message to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The message itself is unacceptable (e.g. an invalid address); sending again won't help.
    #[error("the message was refused: {0}")]
    Rejected(String),
    /// The mail service could not be reached or failed; sending again may work.
    #[error("the mail service failed: {0}")]
    Unavailable(String),
}

/// Sends e-mail. Returns an id for the message (SES message id, or the outbox file name).
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    async fn send(&self, email: &Email) -> Result<String, MailError>;
}

/// The mailer the environment asks for: SES when `SES_ENDPOINT` or `MAIL_FROM` is set (the
/// sender is `MAIL_FROM`, required then; the client on the process's one SDK config,
/// [`crate::aws::config`]), else the local outbox under `data_dir/outbox` with [`DEFAULT_FROM`]
/// as sender.
#[cfg(all(feature = "ses", feature = "outbox"))]
pub async fn mailer_from_env(data_dir: &Path) -> anyhow::Result<Arc<dyn Mailer>> {
    if crate::aws::env_value("SES_ENDPOINT").is_some()
        || crate::aws::env_value("MAIL_FROM").is_some()
    {
        let mailer = SesMailer::from_env(crate::aws::config().await)?;
        tracing::info!(
            endpoint = crate::aws::env_value("SES_ENDPOINT").as_deref(),
            "e-mail goes through SES"
        );
        return Ok(Arc::new(mailer));
    }
    let dir = data_dir.join("outbox");
    tracing::info!(dir = %dir.display(), "e-mail goes to the local outbox");
    Ok(Arc::new(OutboxMailer::new(dir, DEFAULT_FROM.to_owned())))
}

/// Text that is safe in a header (subject, display name): every control character (CR, LF,
/// tab, NUL, DEL, C1) and Unicode line or paragraph separator becomes a space, runs of
/// white space shrink to one space, and the ends are trimmed. Non-ASCII text stays as it is;
/// the adapters RFC 2047-encode it where the wire format needs it.
pub fn header_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_control() || c.is_whitespace() {
            pending_space = true;
            continue;
        }
        if pending_space && !out.is_empty() {
            out.push(' ');
        }
        pending_space = false;
        out.push(c);
    }
    out
}

/// The recipient as one plain address (`local@domain`), or [`MailError::Rejected`]: an address
/// with a control character (CR, LF, …), white space, `<`, `>`, `,`, `;` or `"` could add
/// recipients or headers, and is never passed on.
#[cfg(any(feature = "ses", feature = "outbox"))]
pub fn recipient(to: &str) -> Result<lettre::Address, MailError> {
    let refuse = |why: &str| MailError::Rejected(format!("the recipient address {why}"));
    if to.is_empty() {
        return Err(refuse("is empty"));
    }
    if to
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '<' | '>' | ',' | ';' | '"'))
    {
        return Err(refuse(
            "contains a control character, white space or one of < > , ; \"",
        ));
    }
    to.parse::<lettre::Address>()
        .map_err(|err| refuse(&format!("is not a valid address ({err})")))
}

/// The sender (`Name <address>` or `address`) with its display name made header-safe, or an
/// explanation of what is wrong with it.
#[cfg(any(feature = "ses", feature = "outbox"))]
pub(crate) fn sender(from: &str) -> Result<lettre::message::Mailbox, String> {
    let mailbox = from
        .trim()
        .parse::<lettre::message::Mailbox>()
        .map_err(|err| format!("the sender {from:?} is not a valid mailbox ({err})"))?;
    let name = mailbox
        .name
        .as_deref()
        .map(header_text)
        .filter(|name| !name.is_empty());
    Ok(lettre::message::Mailbox::new(name, mailbox.email))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_text_never_keeps_a_line_break() {
        assert_eq!(
            header_text("Join Acme\r\nBcc: evil@example.com"),
            "Join Acme Bcc: evil@example.com"
        );
        assert_eq!(
            header_text("\u{0}a\tb\u{7f}c\u{85}d\u{2028}e\r"),
            "a b c d e"
        );
        assert_eq!(header_text("  Café  Ωmega  "), "Café Ωmega");
        assert_eq!(header_text("\r\n"), "");
    }

    #[test]
    #[cfg(any(feature = "ses", feature = "outbox"))]
    fn recipients_are_one_plain_address() {
        assert!(recipient("ann@example.com").is_ok());
        for bad in [
            "",
            "ann@example.com\r\nBcc: evil@example.com",
            "ann@example.com\nBcc: evil@example.com",
            "Ann <ann@example.com>",
            "ann@example.com, evil@example.com",
            "ann@example.com;evil@example.com",
            "ann @example.com",
            "\"ann\"@example.com",
            "ann",
            "ann@",
        ] {
            assert!(
                matches!(recipient(bad), Err(MailError::Rejected(_))),
                "{bad:?} must be rejected"
            );
        }
    }

    #[test]
    #[cfg(any(feature = "ses", feature = "outbox"))]
    fn senders_are_parsed_and_their_names_cleaned() {
        let from = sender(DEFAULT_FROM).expect("the default sender parses");
        assert_eq!(from.name.as_deref(), Some("Tenantry"));
        assert_eq!(from.email.to_string(), "no-reply@tenantry.local");
        assert!(sender("no-reply@tenantry.local").is_ok_and(|from| from.name.is_none()));
        assert!(sender("not an address").is_err());
    }
}
