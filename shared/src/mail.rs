//! The mailer port and its two adapters: SES (`aws-sdk-sesv2`) and the local outbox (one
//! RFC 5322 `.eml` file per message). Messages carry a text and an HTML part; the domain
//! escapes every name it inserts, and adapters never let a CR/LF reach a header.

use async_trait::async_trait;

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
