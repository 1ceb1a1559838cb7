//! Reading sent e-mail back: the local outbox's `.eml` files, the SES emulator's `GET /store`,
//! and the links inside a message.
//!
//! `aws-ses-v2-local`'s `GET /store` answers
//! `{"templates": {…}, "emails": [{"messageId", "from", "replyTo": [..],
//! "destination": {"to": [..], "cc": [..], "bcc": [..]}, "subject",
//! "body": {"text"?, "html"?}, "attachments": [..], "at": <epoch seconds>}, …]}`,
//! the emails in sending order. It is one store for every test of the run: pick messages by
//! their message id or a recipient unique to the test ([`ses_emails_to`]).

use std::path::{Path, PathBuf};

use http_body_util::BodyExt as _;
use serde_json::Value;

/// Every `.eml` file in the outbox directory `dir` with its content, oldest first (the file
/// names are UUID v7). An outbox that does not exist yet is empty.
pub fn outbox_messages(dir: impl AsRef<Path>) -> Vec<(PathBuf, String)> {
    let dir = dir.as_ref();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(err) => panic!("reading the outbox {}: {err}", dir.display()),
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| {
            entry
                .unwrap_or_else(|err| panic!("reading the outbox {}: {err}", dir.display()))
                .path()
        })
        .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path)
                .unwrap_or_else(|err| panic!("reading {}: {err}", path.display()));
            (path, String::from_utf8_lossy(&bytes).into_owned())
        })
        .collect()
}

/// The outbox messages whose `To` header names `to` (case-insensitively).
pub fn outbox_messages_to(dir: impl AsRef<Path>, to: &str) -> Vec<(PathBuf, String)> {
    outbox_messages(dir)
        .into_iter()
        .filter(|(_, eml)| {
            header_values(eml, "To")
                .iter()
                .any(|value| value.to_lowercase().contains(&to.to_lowercase()))
        })
        .collect()
}

/// The invitation link's secret (`tnyi_…`) in an e-mail's text.
pub fn invitation_secret(text: &str) -> String {
    secret_of("tnyi_", text)
}

/// The verification link's secret (`tnyv_…`) in an e-mail's text.
pub fn verification_secret(text: &str) -> String {
    secret_of("tnyv_", text)
}

/// The password-reset link's secret (`tnyw_…`) in an e-mail's text.
pub fn reset_secret(text: &str) -> String {
    secret_of("tnyw_", text)
}

/// The first secret with `prefix` in an e-mail's text.
pub fn secret_of(prefix: &str, text: &str) -> String {
    let start = text
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} secret in {text}"));
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect()
}

/// The first `http://` or `https://` link in `text` (an `.eml` file, a text body, …).
pub fn find_link(text: &str) -> Option<String> {
    find_links(text).into_iter().next()
}

/// Every `http://` or `https://` link in `text`, in order: a link runs to the next white
/// space, quote or angle bracket, without trailing sentence punctuation.
pub fn find_links(text: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut rest = text;
    while let Some(start) = [rest.find("https://"), rest.find("http://")]
        .into_iter()
        .flatten()
        .min()
    {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>'))
            .unwrap_or(tail.len());
        let link = tail[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')']);
        links.push(link.to_owned());
        rest = &tail[end..];
    }
    links
}

/// The values of the top-level header `name` (case-insensitive) of an RFC 5322 message,
/// unfolded, in order.
pub fn header_values(eml: &str, name: &str) -> Vec<String> {
    headers(head(eml))
        .into_iter()
        .filter(|(field, _)| field.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
        .collect()
}

/// One leaf of a MIME message: its headers (unfolded) and its body as written in the file
/// (still transfer-encoded).
#[derive(Clone, Debug)]
pub struct EmlPart {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl EmlPart {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// The leaf parts of a message (nested multiparts flattened), or the message itself when it
/// is not multipart.
pub fn eml_parts(eml: &str) -> Vec<EmlPart> {
    let (head, body) = split_message(eml);
    let headers = headers(head);
    let boundary = headers
        .iter()
        .find(|(field, _)| field.eq_ignore_ascii_case("Content-Type"))
        .and_then(|(_, value)| boundary(value));
    let Some(boundary) = boundary else {
        return vec![EmlPart {
            headers,
            body: body.to_owned(),
        }];
    };
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    // The text before the first delimiter is the preamble, after the closing one the epilogue.
    for chunk in body.split(&delimiter).skip(1) {
        if chunk.starts_with("--") {
            break;
        }
        let chunk = chunk.strip_prefix("\r\n").unwrap_or(chunk);
        let chunk = chunk.strip_suffix("\r\n").unwrap_or(chunk);
        parts.extend(eml_parts(chunk));
    }
    parts
}

/// Everything `GET {endpoint}/store` of the SES emulator answers (shape in the module docs).
/// Panics when the emulator does not answer with JSON.
pub async fn ses_store(endpoint: &str) -> Value {
    let url = format!("{}/store", endpoint.trim_end_matches('/'));
    let uri: http::Uri = url
        .parse()
        .unwrap_or_else(|err| panic!("{url} is not a URL: {err}"));
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<hyper::body::Bytes>>();
    let response = client
        .get(uri)
        .await
        .unwrap_or_else(|err| panic!("GET {url}: {err}"));
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap_or_else(|err| panic!("GET {url}: reading the body: {err}"))
        .to_bytes();
    assert!(
        status.is_success(),
        "GET {url} answered {status}: {}",
        String::from_utf8_lossy(&body)
    );
    serde_json::from_slice(&body)
        .unwrap_or_else(|err| panic!("GET {url} answered something else than JSON: {err}"))
}

/// The e-mails of a store (see [`ses_store`]) with `to` among their `To` recipients
/// (case-insensitively), in sending order.
pub fn ses_emails_to(store: &Value, to: &str) -> Vec<Value> {
    store["emails"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|email| {
            email["destination"]["to"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .any(|address| address.eq_ignore_ascii_case(to))
        })
        .cloned()
        .collect()
}

/// The header section of a message (without the empty line).
fn head(eml: &str) -> &str {
    split_message(eml).0
}

fn split_message(eml: &str) -> (&str, &str) {
    if let Some(at) = eml.find("\r\n\r\n") {
        (&eml[..at], &eml[at + 4..])
    } else if let Some(at) = eml.find("\n\n") {
        (&eml[..at], &eml[at + 2..])
    } else {
        (eml, "")
    }
}

/// Header fields, each unfolded (a line starting with white space continues the previous one).
fn headers(head: &str) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    fields
}

/// The `boundary` parameter of a `multipart/*` content type.
fn boundary(content_type: &str) -> Option<String> {
    if !content_type
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("multipart/")
    {
        return None;
    }
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_end_at_white_space_quotes_and_punctuation() {
        let text = "Open https://a.example/x?t=1. Or <http://b.example/y> or \"https://c.example\"";
        assert_eq!(
            find_links(text),
            [
                "https://a.example/x?t=1",
                "http://b.example/y",
                "https://c.example"
            ]
        );
        assert_eq!(find_link("no link here"), None);
    }

    #[test]
    fn parts_and_headers_are_read_back() {
        let eml = "Subject: a\r\n b\r\nContent-Type: multipart/alternative;\r\n boundary=\"XY\"\r\n\r\n\
                   --XY\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XY\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n--XY--\r\n";
        assert_eq!(header_values(eml, "subject"), ["a b"]);
        let parts = eml_parts(eml);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].header("content-type"), Some("text/plain"));
        assert_eq!(parts[0].body, "hello");
        assert_eq!(parts[1].body, "<p>hi</p>");
    }
}
