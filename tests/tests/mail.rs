//! The two mail adapters with real parts: SES v2 against the `aws-ses-v2-local` emulator (what
//! was sent is read back from its `GET /store`), and the local outbox's `.eml` files. A CR/LF
//! in a subject never adds a header, and a recipient that could add one is refused.
//!
//! The SES tests need `SES_TEST_ENDPOINT` (set by `scripts/test.sh`); without it they fail.

use base64::Engine as _;
use serde_json::{Value, json};
use shared::mail::{DEFAULT_FROM, Email, MailError, Mailer, OutboxMailer, SesMailer};
use tenantry_tests::{fixtures, mailbox};

/// What a hostile profile or account name tries to slip into a header.
const INJECTION: &str = "\r\nBcc: evil@example.com";

fn recipient(tag: &str) -> String {
    format!("{tag}-{}@example.com", uuid::Uuid::now_v7().simple())
}

/// An invitation link longer than a quoted-printable line (76 characters).
fn invitation_link() -> String {
    format!(
        "https://tenantry.local/v1/invitations/{}/accept?token=inv_{}",
        uuid::Uuid::now_v7(),
        "Ab3-_x".repeat(8)
    )
}

/// An invitation e-mail. The subject carries the names as they are (the adapters make it
/// header-safe); the bodies are fixed text around the link (bodies may have line breaks).
fn invitation(to: &str, inviter: &str, profile: &str, link: &str) -> Email {
    Email {
        to: to.to_owned(),
        subject: format!("{inviter} invited you to {profile}"),
        text: format!(
            "You are invited to a profile on Tenantry, Zoë.\n\nAccept the invitation:\n{link}\n\n\
             The link works once.\n"
        ),
        html: format!(
            "<p>You are invited to a profile on Tenantry, Zoë.</p>\n\
             <p><a href=\"{link}\">Accept the invitation</a></p>\n"
        ),
    }
}

/// Recipient strings that try to add a recipient or a header.
const BAD_RECIPIENTS: [&str; 6] = [
    "victim@example.com\r\nBcc: evil@example.com",
    "victim@example.com\nBcc: evil@example.com",
    "victim@example.com, evil@example.com",
    "Victim <victim@example.com>",
    "<evil@example.com>",
    "victim@example.com>\r\n",
];

// ---------------------------------------------------------------------------------------------
// SES, against aws-ses-v2-local
// ---------------------------------------------------------------------------------------------

/// The stored message with this SES message id.
fn stored(store: &Value, message_id: &str) -> Value {
    store["emails"]
        .as_array()
        .unwrap_or_else(|| panic!("GET /store has no `emails` list: {store}"))
        .iter()
        .find(|email| email["messageId"] == message_id)
        .cloned()
        .unwrap_or_else(|| panic!("message {message_id} is not in the SES store: {store}"))
}

/// No stored message has `evil@example.com` among its recipients.
fn assert_nothing_to_evil(store: &Value) {
    for email in store["emails"].as_array().into_iter().flatten() {
        let destination = email["destination"].to_string();
        assert!(
            !destination.contains("evil@example.com"),
            "a message went to the injected recipient: {email}"
        );
    }
}

#[tokio::test]
async fn ses_sends_subject_and_both_bodies_and_no_injected_header() {
    let endpoint = fixtures::ses_test_endpoint();
    let mailer = SesMailer::new(fixtures::ses_client().await, DEFAULT_FROM.to_owned());
    let to = recipient("ses");
    let link = invitation_link();
    let email = invitation(&to, "Ann", &format!("Acme{INJECTION}"), &link);

    let id = mailer
        .send(&email)
        .await
        .unwrap_or_else(|err| panic!("SES (the emulator) refused the message: {err}"));
    assert!(!id.is_empty(), "SES returns a message id");

    let store = mailbox::ses_store(&endpoint).await;
    let sent = stored(&store, &id);
    assert_eq!(sent["from"], DEFAULT_FROM);
    assert_eq!(sent["destination"]["to"], json!([to]));
    assert_eq!(sent["destination"]["cc"], json!([]));
    assert_eq!(sent["destination"]["bcc"], json!([]));
    let subject = sent["subject"].as_str().unwrap_or_default();
    assert_eq!(subject, "Ann invited you to Acme Bcc: evil@example.com");
    assert!(
        !subject.chars().any(char::is_control),
        "no control character in the subject: {subject:?}"
    );
    assert_eq!(sent["body"]["text"], email.text.as_str());
    assert_eq!(sent["body"]["html"], email.html.as_str());
    let text = sent["body"]["text"].as_str().unwrap_or_default();
    assert_eq!(mailbox::find_link(text), Some(link.clone()));
    assert_eq!(
        mailbox::ses_emails_to(&store, &to).len(),
        1,
        "one message to {to}"
    );
    assert_nothing_to_evil(&store);
}

#[tokio::test]
async fn ses_keeps_unicode_subjects_and_bodies() {
    let endpoint = fixtures::ses_test_endpoint();
    let mailer = SesMailer::new(fixtures::ses_client().await, DEFAULT_FROM.to_owned());
    let to = recipient("ses-unicode");
    let email = invitation(
        &to,
        "Zoë",
        &format!("Café Ωmega{INJECTION}"),
        "https://x.test/a",
    );

    let id = mailer.send(&email).await.expect("sent");
    let sent = stored(&mailbox::ses_store(&endpoint).await, &id);
    assert_eq!(
        sent["subject"],
        "Zoë invited you to Café Ωmega Bcc: evil@example.com"
    );
    assert_eq!(sent["body"]["text"], email.text.as_str());
}

#[tokio::test]
async fn ses_refuses_recipients_that_would_add_a_recipient_or_a_header() {
    let endpoint = fixtures::ses_test_endpoint();
    let mailer = SesMailer::new(fixtures::ses_client().await, DEFAULT_FROM.to_owned());
    for bad in BAD_RECIPIENTS {
        let email = invitation(bad, "Ann", "Acme", "https://x.test/a");
        let result = mailer.send(&email).await;
        assert!(
            matches!(result, Err(MailError::Rejected(_))),
            "{bad:?} must be rejected, got {result:?}"
        );
    }
    assert_nothing_to_evil(&mailbox::ses_store(&endpoint).await);
}

#[tokio::test]
async fn ses_sender_names_never_carry_a_line_break() {
    let endpoint = fixtures::ses_test_endpoint();
    let client = fixtures::ses_client().await;
    let to = recipient("ses-sender");
    let email = invitation(&to, "Ann", "Acme", "https://x.test/a");
    // A sender with a line break is no mailbox at all: a configuration error, nothing is sent.
    for from in [
        "\"Acme\r\nBcc: evil@example.com\" <no-reply@tenantry.local>",
        "Acme\r\nBcc: evil@example.com <no-reply@tenantry.local>",
        "Acme\r\n Bcc <no-reply@tenantry.local>",
    ] {
        let result = SesMailer::new(client.clone(), from.to_owned())
            .send(&email)
            .await;
        assert!(
            matches!(result, Err(MailError::Unavailable(_))),
            "the sender {from:?} must be refused, got {result:?}"
        );
    }
    // Other control characters in a quoted name become spaces.
    let mailer = SesMailer::new(
        client,
        "\"Acme\tTeam\" <no-reply@tenantry.local>".to_owned(),
    );
    let id = mailer.send(&email).await.expect("sent");
    let store = mailbox::ses_store(&endpoint).await;
    assert_eq!(
        stored(&store, &id)["from"],
        "Acme Team <no-reply@tenantry.local>"
    );
    assert_eq!(
        mailbox::ses_emails_to(&store, &to).len(),
        1,
        "only that one was sent"
    );
    assert_nothing_to_evil(&store);
}

#[tokio::test]
async fn ses_unreachable_is_unavailable() {
    // Nothing listens on port 1 of the loopback: the connection is refused at once.
    let sdk = shared::aws::loader()
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sesv2::config::Credentials::new(
            "local", "local", None, None, "tests",
        ))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    let client = aws_sdk_sesv2::Client::from_conf(
        aws_sdk_sesv2::config::Builder::from(&sdk)
            .endpoint_url("http://127.0.0.1:1")
            .build(),
    );
    let mailer = SesMailer::new(client, DEFAULT_FROM.to_owned());
    let result = mailer
        .send(&invitation(
            "ann@example.com",
            "Ann",
            "Acme",
            "https://x.test/a",
        ))
        .await;
    assert!(
        matches!(result, Err(MailError::Unavailable(_))),
        "got {result:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The local outbox
// ---------------------------------------------------------------------------------------------

/// Lines of the file that start a header named `name` (case-insensitive), anywhere in the
/// file: in the message header, in a part header, or smuggled into a body.
fn header_lines<'a>(eml: &'a str, name: &str) -> Vec<&'a str> {
    let prefix = format!("{}:", name.to_ascii_lowercase());
    eml.split("\r\n")
        .filter(|line| line.to_ascii_lowercase().starts_with(&prefix))
        .collect()
}

/// A header value with its RFC 2047 "B" encoded-words (UTF-8) decoded.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut previous_encoded = false;
    for (index, token) in value.split(' ').enumerate() {
        let encoded = token
            .get(..10)
            .filter(|prefix| prefix.eq_ignore_ascii_case("=?utf-8?b?"))
            .and_then(|_| token[10..].strip_suffix("?="));
        match encoded {
            Some(b64) => {
                if index > 0 && !previous_encoded {
                    out.push(' ');
                }
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap_or_else(|err| panic!("{token:?} is no base64 encoded-word: {err}"));
                out.push_str(&String::from_utf8(bytes).expect("UTF-8 in an encoded-word"));
                previous_encoded = true;
            }
            None => {
                if index > 0 {
                    out.push(' ');
                }
                out.push_str(token);
                previous_encoded = false;
            }
        }
    }
    out
}

fn part<'a>(parts: &'a [mailbox::EmlPart], content_type: &str) -> &'a mailbox::EmlPart {
    parts
        .iter()
        .find(|part| {
            part.header("Content-Type")
                .is_some_and(|value| value.to_ascii_lowercase().starts_with(content_type))
        })
        .unwrap_or_else(|| panic!("no {content_type} part"))
}

#[tokio::test]
async fn outbox_writes_one_rfc5322_file_per_message() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let dir = data.path().join("outbox");
    let mailer = OutboxMailer::new(dir.clone(), DEFAULT_FROM.to_owned());
    let to = recipient("outbox");
    let link = invitation_link();
    let email = invitation(&to, "Ann", &format!("Acme{INJECTION}"), &link);

    let name = mailer.send(&email).await.expect("written");
    let messages = mailbox::outbox_messages(&dir);
    assert_eq!(messages.len(), 1, "one file per message");
    let (path, eml) = &messages[0];
    assert_eq!(
        path.file_name().and_then(|n| n.to_str()),
        Some(name.as_str())
    );
    let id = name.strip_suffix(".eml").expect("named <id>.eml");
    let id = uuid::Uuid::parse_str(id).expect("the file is named after a UUID");
    assert_eq!(id.get_version_num(), 7, "a UUID v7");

    // Every line ends with CRLF: no bare CR or LF anywhere.
    assert!(
        !eml.replace("\r\n", "").contains(['\r', '\n']),
        "bare CR or LF in the file"
    );

    // The header.
    assert_eq!(
        mailbox::header_values(eml, "Subject"),
        ["Ann invited you to Acme Bcc: evil@example.com"]
    );
    assert_eq!(
        header_lines(eml, "Subject").len(),
        1,
        "exactly one Subject line"
    );
    assert!(
        header_lines(eml, "Bcc").is_empty(),
        "no Bcc header anywhere:\n{eml}"
    );
    assert_eq!(
        mailbox::header_values(eml, "From"),
        ["Tenantry <no-reply@tenantry.local>"]
    );
    assert_eq!(mailbox::header_values(eml, "To"), [to.as_str()]);
    let date = mailbox::header_values(eml, "Date");
    assert_eq!(date.len(), 1);
    chrono::DateTime::parse_from_rfc2822(&date[0])
        .unwrap_or_else(|err| panic!("Date {:?} is not RFC 2822: {err}", date[0]));
    assert_eq!(
        mailbox::header_values(eml, "Message-ID"),
        [format!("<{id}@tenantry.local>")]
    );
    assert_eq!(mailbox::header_values(eml, "MIME-Version"), ["1.0"]);
    let content_type = mailbox::header_values(eml, "Content-Type");
    assert!(
        content_type.len() == 1 && content_type[0].starts_with("multipart/alternative"),
        "Content-Type {content_type:?}"
    );

    // The parts: text as it is (8bit), HTML in base64, both UTF-8.
    let parts = mailbox::eml_parts(eml);
    assert_eq!(parts.len(), 2, "a text and an HTML part");
    let text = part(&parts, "text/plain");
    assert!(
        text.header("Content-Type")
            .is_some_and(|v| v.to_ascii_lowercase().contains("charset=utf-8"))
    );
    assert_eq!(text.header("Content-Transfer-Encoding"), Some("8bit"));
    assert_eq!(text.body, email.text.replace('\n', "\r\n"));
    let html = part(&parts, "text/html");
    assert!(
        html.header("Content-Type")
            .is_some_and(|v| v.to_ascii_lowercase().contains("charset=utf-8"))
    );
    assert_eq!(html.header("Content-Transfer-Encoding"), Some("base64"));
    let html_body: String = html.body.split_whitespace().collect();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(html_body)
        .expect("the HTML part is base64");
    assert_eq!(
        String::from_utf8(decoded).expect("UTF-8"),
        email.html.replace('\n', "\r\n")
    );

    // The link can be read straight out of the file.
    assert_eq!(mailbox::find_link(eml), Some(link));
    assert_eq!(mailbox::outbox_messages_to(&dir, &to).len(), 1);
}

#[tokio::test]
async fn outbox_encodes_unicode_subjects_and_keeps_the_header_ascii() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let dir = data.path().join("outbox");
    let mailer = OutboxMailer::new(dir.clone(), DEFAULT_FROM.to_owned());
    let to = recipient("outbox-unicode");
    let email = invitation(
        &to,
        "Zoë",
        &format!("Café Ωmega{INJECTION}"),
        "https://x.test/a",
    );

    mailer.send(&email).await.expect("written");
    let messages = mailbox::outbox_messages(&dir);
    assert_eq!(messages.len(), 1);
    let eml = &messages[0].1;
    let head = eml.split("\r\n\r\n").next().unwrap_or_default();
    assert!(head.is_ascii(), "the header is ASCII (RFC 2047):\n{head}");
    assert_eq!(header_lines(eml, "Subject").len(), 1);
    assert!(header_lines(eml, "Bcc").is_empty(), "no Bcc header:\n{eml}");
    let subject = mailbox::header_values(eml, "Subject");
    assert_eq!(subject.len(), 1);
    assert_eq!(
        decode_words(&subject[0]),
        "Zoë invited you to Café Ωmega Bcc: evil@example.com"
    );
    // The text part is UTF-8 as it is.
    let parts = mailbox::eml_parts(eml);
    assert!(
        part(&parts, "text/plain")
            .body
            .contains("on Tenantry, Zoë.")
    );
}

#[tokio::test]
async fn outbox_refuses_recipients_that_would_add_a_recipient_or_a_header() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let dir = data.path().join("outbox");
    let mailer = OutboxMailer::new(dir.clone(), DEFAULT_FROM.to_owned());
    for bad in BAD_RECIPIENTS {
        let result = mailer
            .send(&invitation(bad, "Ann", "Acme", "https://x.test/a"))
            .await;
        assert!(
            matches!(result, Err(MailError::Rejected(_))),
            "{bad:?} must be rejected, got {result:?}"
        );
    }
    assert!(mailbox::outbox_messages(&dir).is_empty(), "nothing written");
}

#[tokio::test]
async fn outbox_files_sort_in_sending_order() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let dir = data.path().join("outbox");
    let mailer = OutboxMailer::new(dir.clone(), DEFAULT_FROM.to_owned());
    let mut names = Vec::new();
    for n in 0..3 {
        let to = format!("reader{n}@example.com");
        names.push(
            mailer
                .send(&invitation(&to, "Ann", "Acme", "https://x.test/a"))
                .await
                .expect("written"),
        );
    }
    let files: Vec<String> = mailbox::outbox_messages(&dir)
        .iter()
        .filter_map(|(path, _)| path.file_name()?.to_str().map(str::to_owned))
        .collect();
    assert_eq!(files, names);
    for (n, (_, eml)) in mailbox::outbox_messages(&dir).iter().enumerate() {
        assert_eq!(
            mailbox::header_values(eml, "To"),
            [format!("reader{n}@example.com")]
        );
    }
}

#[tokio::test]
async fn without_ses_settings_mail_goes_to_the_outbox_under_the_data_dir() {
    for name in ["SES_ENDPOINT", "MAIL_FROM"] {
        assert!(
            std::env::var(name).map_or(true, |v| v.trim().is_empty()),
            "{name} is set: this test checks the default (outbox) mailer; run it without {name}"
        );
    }
    let data = tempfile::tempdir().expect("a temporary directory");
    let mailer = shared::mail::mailer_from_env(data.path())
        .await
        .expect("the default mailer");
    let to = recipient("default");
    let name = mailer
        .send(&invitation(&to, "Ann", "Acme", "https://x.test/a"))
        .await
        .expect("written");
    let messages = mailbox::outbox_messages(data.path().join("outbox"));
    assert_eq!(messages.len(), 1);
    assert!(messages[0].0.ends_with(&name));
    assert_eq!(
        mailbox::header_values(&messages[0].1, "From"),
        [DEFAULT_FROM]
    );
}
