//! Checks on values clients send, shared by every rule that takes them. E-mail addresses have
//! a type of their own: [`crate::email::Email`].

use crate::email::is_format;
use crate::refusal::{Decided, Refusal};

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_URL_CHARS: usize = 2048;

/// A trimmed display name of 1 to 100 characters, without control characters (so it can never
/// break a header or a CSV line) and without format characters (bidirectional overrides,
/// zero-width characters: so `"Invoice \u{202e}gpj.exe"` cannot pass for something else).
pub fn name(field: &str, value: &str) -> Decided<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(Refusal::invalid(field, "must not be empty"));
    }
    if trimmed.chars().count() > MAX_NAME_CHARS {
        return Err(Refusal::invalid(
            field,
            format!("at most {MAX_NAME_CHARS} characters are allowed"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(Refusal::invalid(
            field,
            "control characters are not allowed",
        ));
    }
    if trimmed.chars().any(is_format) {
        return Err(Refusal::invalid(
            field,
            "invisible format characters (such as bidirectional overrides) are not allowed",
        ));
    }
    Ok(trimmed.to_owned())
}

/// An absolute http or https URL.
pub fn http_url(field: &str, value: &str) -> Decided<String> {
    let value = value.trim();
    if value.chars().count() > MAX_URL_CHARS {
        return Err(Refusal::invalid(field, "too long"));
    }
    let parsed = url::Url::parse(value)
        .map_err(|error| Refusal::invalid(field, format!("not a valid URL ({error})")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(Refusal::invalid(field, "must be an http or https URL"));
    }
    Ok(parsed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(name("name", "  Acme ").ok().as_deref(), Some("Acme"));
        assert!(name("name", "   ").is_err());
        assert!(name("name", &"x".repeat(101)).is_err());
        assert!(name("name", &"x".repeat(100)).is_ok());
        assert!(name("name", "a\r\nBcc: x").is_err());
    }

    #[test]
    fn names_refuse_invisible_format_characters() {
        assert!(name("name", "Invoice \u{202e}gpj.exe").is_err());
        assert!(name("name", "Ac\u{200b}me").is_err());
        assert!(name("name", "Acme \u{2066}x\u{2069}").is_err());
        assert_eq!(
            name("name", "Café Zürich").ok().as_deref(),
            Some("Café Zürich")
        );
    }

    #[test]
    fn urls_must_be_http() {
        assert!(http_url("logo_url", "https://example.com/logo.png").is_ok());
        assert!(http_url("logo_url", "javascript:alert(1)").is_err());
        assert!(http_url("logo_url", "ftp://example.com/x").is_err());
        assert!(http_url("logo_url", "not a url").is_err());
    }
}
