//! Checks on values clients send, shared by every route that takes them.

use crate::error::ApiError;

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_EMAIL_CHARS: usize = 254;
pub const MAX_URL_CHARS: usize = 2048;

/// A trimmed display name of 1 to 100 characters, without control characters (so it can never
/// break a header or a CSV line).
pub fn name(field: &str, value: &str) -> Result<String, ApiError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ApiError::Validation(format!("{field}: must not be empty")));
    }
    if trimmed.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::Validation(format!(
            "{field}: at most {MAX_NAME_CHARS} characters are allowed"
        )));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ApiError::Validation(format!(
            "{field}: control characters are not allowed"
        )));
    }
    Ok(trimmed.to_owned())
}

/// An e-mail address, normalised (trimmed, lower-cased) and checked for a plausible shape.
pub fn email(value: &str) -> Result<String, ApiError> {
    let email = value.trim().to_lowercase();
    let bad = |why: &str| Err(ApiError::Validation(format!("email: {why}")));
    if email.is_empty() {
        return bad("must not be empty");
    }
    if email.chars().count() > MAX_EMAIL_CHARS {
        return bad("too long");
    }
    if email
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\"\\".contains(c))
    {
        return bad("contains characters an address cannot have");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return bad("an address needs an @");
    };
    if local.is_empty() || domain.contains('@') || !domain.contains('.') {
        return bad("not a valid address");
    }
    if domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") {
        return bad("not a valid domain");
    }
    Ok(email)
}

/// An absolute http or https URL.
pub fn http_url(field: &str, value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.chars().count() > MAX_URL_CHARS {
        return Err(ApiError::Validation(format!("{field}: too long")));
    }
    let parsed = url::Url::parse(value)
        .map_err(|error| ApiError::Validation(format!("{field}: not a valid URL ({error})")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(ApiError::Validation(format!(
            "{field}: must be an http or https URL"
        )));
    }
    Ok(parsed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            email("  Ann@Example.COM ").ok().as_deref(),
            Some("ann@example.com")
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "a@b",
            "a b@example.com",
            "a@@b.c",
            "a@b..c",
            "x\r\n@b.c",
        ] {
            assert!(email(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(name("name", "  Acme ").ok().as_deref(), Some("Acme"));
        assert!(name("name", "   ").is_err());
        assert!(name("name", &"x".repeat(101)).is_err());
        assert!(name("name", &"x".repeat(100)).is_ok());
        assert!(name("name", "a\r\nBcc: x").is_err());
    }

    #[test]
    fn urls_must_be_http() {
        assert!(http_url("logo_url", "https://example.com/logo.png").is_ok());
        assert!(http_url("logo_url", "javascript:alert(1)").is_err());
        assert!(http_url("logo_url", "ftp://example.com/x").is_err());
        assert!(http_url("logo_url", "not a url").is_err());
    }
}
