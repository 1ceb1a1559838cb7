//! An e-mail address that can only hold its normalised form: NFC, lower case, the domain in
//! ASCII (IDNA), checked for a plausible shape. Every lookup and every claim goes through it,
//! so two spellings of one visible address can never make two accounts.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::refusal::{Decided, Refusal};

pub const MAX_EMAIL_CHARS: usize = 254;

/// A normalised e-mail address.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// Normalises and checks `value`; refuses it as field `email`.
    pub fn parse(value: &str) -> Decided<Email> {
        Email::parse_as("email", value)
    }

    /// The same, naming `field` in the refusal.
    pub fn parse_as(field: &str, value: &str) -> Decided<Email> {
        let bad = |why: &str| Err(Refusal::invalid(field, why));
        let nfc: String = icu_normalizer::ComposingNormalizerBorrowed::new_nfc()
            .normalize(value.trim())
            .to_lowercase();
        if nfc.is_empty() {
            return bad("must not be empty");
        }
        if nfc.chars().count() > MAX_EMAIL_CHARS {
            return bad("too long");
        }
        if nfc.chars().any(|c| {
            c.is_whitespace() || c.is_control() || is_format(c) || "<>()[],;:\"\\".contains(c)
        }) {
            return bad("contains characters an address cannot have");
        }
        let Some((local, domain)) = nfc.split_once('@') else {
            return bad("an address needs an @");
        };
        if local.is_empty() || domain.contains('@') || !domain.contains('.') {
            return bad("not a valid address");
        }
        if domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") {
            return bad("not a valid domain");
        }
        let Ok(ascii) = idna::domain_to_ascii(domain) else {
            return bad("not a valid domain");
        };
        if ascii.is_empty() || ascii.contains("..") {
            return bad("not a valid domain");
        }
        let email = format!("{local}@{ascii}");
        if email.chars().count() > MAX_EMAIL_CHARS {
            return bad("too long");
        }
        Ok(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Unicode format characters (category Cf: bidirectional overrides and isolates, zero-width
/// joiners, soft hyphens, …): invisible, so they let two texts look alike.
pub fn is_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{0600}'..='\u{0605}' | '\u{061C}' | '\u{06DD}' | '\u{070F}'
        | '\u{08E2}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFB}' | '\u{110BD}' | '\u{110CD}' | '\u{13430}'..='\u{1343F}'
        | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}' | '\u{E0001}'
        | '\u{E0020}'..='\u{E007F}')
}

impl TryFrom<String> for Email {
    type Error = Refusal;
    fn try_from(value: String) -> Decided<Email> {
        Email::parse(&value)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> String {
        email.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(value: &str) -> Option<String> {
        Email::parse(value).ok().map(String::from)
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            parsed("  Ann@Example.COM ").as_deref(),
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
            "ann\u{202e}@example.com",
            "a\u{200b}nn@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn one_visible_address_is_one_email() {
        // "é" precomposed and as "e" + combining acute accent.
        assert_eq!(
            parsed("ren\u{e9}@example.com"),
            parsed("rene\u{301}@example.com")
        );
        // A Unicode domain and its ASCII (punycode) form.
        assert_eq!(
            parsed("ann@B\u{fc}cher.example").as_deref(),
            Some("ann@xn--bcher-kva.example")
        );
        assert_eq!(
            parsed("ann@bücher.example"),
            parsed("ann@xn--bcher-kva.example")
        );
    }
}
