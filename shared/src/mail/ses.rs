//! The SES adapter: SES v2 `SendEmail` with simple content (subject, text and HTML body, all
//! UTF-8); SES builds the MIME message. The endpoint is overridable with `SES_ENDPOINT` (the
//! `aws-ses-v2-local` emulator in tests).

use std::fmt::Write as _;

use anyhow::Context as _;
use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::error::{DisplayErrorContext, SdkError};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use base64::Engine as _;
use lettre::message::Mailbox;

use super::{Email, MailError, Mailer, header_text, recipient, sender};
use crate::aws::env_value;

pub use crate::aws::OPERATION_TIMEOUT;

const CHARSET: &str = "UTF-8";

/// Sends through SES v2.
#[derive(Clone, Debug)]
pub struct SesMailer {
    client: Client,
    /// The `FromEmailAddress` as SES wants it, or why the configured sender is unusable.
    from: Result<String, String>,
}

impl SesMailer {
    /// Sends with `client` as `from` (`Name <address>` or `address`, a verified SES identity).
    pub fn new(client: Client, from: String) -> SesMailer {
        SesMailer {
            client,
            from: sender(&from).and_then(|mailbox| from_address(&mailbox)),
        }
    }

    /// The sender from `MAIL_FROM` (required) and a client from [`SesMailer::client`].
    pub fn from_env(sdk: &aws_config::SdkConfig) -> anyhow::Result<SesMailer> {
        let from = env_value("MAIL_FROM")
            .context("MAIL_FROM is not set: sending through SES needs a verified sender address")?;
        sender(&from)
            .and_then(|mailbox| from_address(&mailbox))
            .map_err(anyhow::Error::msg)
            .context("MAIL_FROM")?;
        Ok(SesMailer::new(SesMailer::client(sdk), from))
    }

    /// An SES v2 client from a loaded SDK config, with an operation timeout
    /// ([`OPERATION_TIMEOUT`] unless the config sets one) and the endpoint overridden by
    /// `SES_ENDPOINT` when it is set.
    pub fn client(sdk: &aws_config::SdkConfig) -> Client {
        let mut config =
            aws_sdk_sesv2::config::Builder::from(sdk).timeout_config(crate::aws::timeouts(sdk));
        if let Some(endpoint) = env_value("SES_ENDPOINT") {
            config = config.endpoint_url(endpoint);
        }
        Client::from_conf(config.build())
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, email: &Email) -> Result<String, MailError> {
        let to = recipient(&email.to)?;
        let from = self.from.clone().map_err(MailError::Unavailable)?;
        let mut body = Body::builder();
        if !email.text.is_empty() || email.html.trim().is_empty() {
            body = body.text(content(&email.text)?);
        }
        if !email.html.trim().is_empty() {
            body = body.html(content(&email.html)?);
        }
        let message = Message::builder()
            .subject(content(&header_text(&email.subject))?)
            .body(body.build())
            .build();
        let output = self
            .client
            .send_email()
            .from_email_address(from)
            .destination(Destination::builder().to_addresses(to.to_string()).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(send_error)?;
        let id = output.message_id().unwrap_or_default().to_owned();
        if id.is_empty() {
            tracing::warn!("SES accepted an e-mail but returned no message id");
        } else {
            tracing::info!(message_id = %id, "e-mail sent through SES");
        }
        Ok(id)
    }
}

fn content(data: &str) -> Result<Content, MailError> {
    Content::builder()
        .data(data)
        .charset(CHARSET)
        .build()
        .map_err(|err| MailError::Rejected(format!("{}", DisplayErrorContext(&err))))
}

/// Bad requests and rejected messages are the message's fault; everything else (throttling,
/// a paused account, the network, a timeout) may pass on another try.
fn send_error(err: SdkError<SendEmailError>) -> MailError {
    let detail = format!("SES SendEmail: {}", DisplayErrorContext(&err));
    match err.as_service_error() {
        Some(service) if service.is_bad_request_exception() || service.is_message_rejected() => {
            MailError::Rejected(detail)
        }
        _ => MailError::Unavailable(detail),
    }
}

/// `FromEmailAddress`: `address`, or `Name <address>` with a non-ASCII name as RFC 2047
/// encoded-words (SES requires them there).
fn from_address(mailbox: &Mailbox) -> Result<String, String> {
    let mut out = String::new();
    let written = match mailbox.name.as_deref() {
        Some(name) if !name.is_ascii() => {
            write!(out, "{} <{}>", encoded_words(name), mailbox.email)
        }
        _ => write!(out, "{mailbox}"),
    };
    written
        .map(|()| out)
        .map_err(|_| format!("the sender {mailbox:?} cannot be written as an address"))
}

/// RFC 2047 "B" encoded-words of at most 75 characters, never splitting a character.
fn encoded_words(text: &str) -> String {
    // 45 octets are 60 base64 characters; with `=?UTF-8?B?` and `?=` a word is 72 long.
    const CHUNK: usize = 45;
    let mut chunks = Vec::new();
    let mut start = 0;
    for (at, c) in text.char_indices() {
        if at + c.len_utf8() - start > CHUNK {
            chunks.push(&text[start..at]);
            start = at;
        }
    }
    chunks.push(&text[start..]);
    chunks
        .iter()
        .map(|chunk| {
            format!(
                "=?UTF-8?B?{}?=",
                base64::engine::general_purpose::STANDARD.encode(chunk)
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_names_are_quoted_or_encoded() {
        let plain = sender("Tenantry <no-reply@tenantry.local>").and_then(|m| from_address(&m));
        assert_eq!(plain.as_deref(), Ok("Tenantry <no-reply@tenantry.local>"));
        let bare = sender("no-reply@tenantry.local").and_then(|m| from_address(&m));
        assert_eq!(bare.as_deref(), Ok("no-reply@tenantry.local"));
        let accented = sender("Café <no-reply@tenantry.local>").and_then(|m| from_address(&m));
        assert_eq!(
            accented.as_deref(),
            Ok("=?UTF-8?B?Q2Fmw6k=?= <no-reply@tenantry.local>")
        );
    }

    #[test]
    fn encoded_words_stay_short_and_whole() {
        let name = "Ω".repeat(100);
        let words = encoded_words(&name);
        let mut decoded = String::new();
        for word in words.split(' ') {
            assert!(word.len() <= 75, "{word} is too long");
            let inner = word
                .strip_prefix("=?UTF-8?B?")
                .and_then(|w| w.strip_suffix("?="))
                .unwrap_or_default();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(inner)
                .unwrap_or_default();
            decoded.push_str(&String::from_utf8(bytes).unwrap_or_default());
        }
        assert_eq!(decoded, name);
    }
}
