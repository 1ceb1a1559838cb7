//! Secrets handed to clients (session tokens, API tokens, invitation links): 256 bits from the
//! OS generator, a short prefix naming the kind (so secret scanners can recognise a leaked one),
//! a checksum (so a mistyped secret is refused without a database read). Only their SHA-256 is
//! ever stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// What a secret is for; each kind has its own prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretKind {
    /// An account's login session.
    Session,
    /// A profile's API token.
    ProfileToken,
    /// A run user's session.
    RunUser,
    /// An invitation link.
    Invitation,
    /// An e-mail verification link.
    Verification,
    /// A password-reset link.
    PasswordReset,
}

impl SecretKind {
    pub const ALL: [SecretKind; 6] = [
        SecretKind::Session,
        SecretKind::ProfileToken,
        SecretKind::RunUser,
        SecretKind::Invitation,
        SecretKind::Verification,
        SecretKind::PasswordReset,
    ];

    pub fn prefix(self) -> &'static str {
        match self {
            SecretKind::Session => "tnys_",
            SecretKind::ProfileToken => "tnyp_",
            SecretKind::RunUser => "tnyr_",
            SecretKind::Invitation => "tnyi_",
            SecretKind::Verification => "tnyv_",
            SecretKind::PasswordReset => "tnyw_",
        }
    }
}

/// Base64url of 32 random bytes.
const BODY_LEN: usize = 43;
/// Base64url of the first 4 bytes of SHA-256(prefix + body).
const CHECK_LEN: usize = 6;

fn checksum(prefix: &str, body: &str) -> String {
    let digest = Sha256::new()
        .chain_update(prefix.as_bytes())
        .chain_update(body.as_bytes())
        .finalize();
    URL_SAFE_NO_PAD.encode(&digest[..4])
}

/// A new secret of `kind`, from the OS generator.
pub fn generate(kind: SecretKind) -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    let body = URL_SAFE_NO_PAD.encode(bytes);
    let prefix = kind.prefix();
    let check = checksum(prefix, &body);
    Ok(format!("{prefix}{body}{check}"))
}

/// The kind of a well-formed secret whose checksum matches; `None` for anything else.
pub fn parse(secret: &str) -> Option<SecretKind> {
    let kind = SecretKind::ALL
        .into_iter()
        .find(|kind| secret.starts_with(kind.prefix()))?;
    let rest = &secret[kind.prefix().len()..];
    if rest.len() != BODY_LEN + CHECK_LEN || !rest.is_ascii() {
        return None;
    }
    let (body, check) = rest.split_at(BODY_LEN);
    let expected = checksum(kind.prefix(), body);
    let same: bool = subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), check.as_bytes()).into();
    same.then_some(kind)
}

/// The SHA-256 of a secret, hex encoded: what the store keeps.
pub fn digest(secret: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(secret.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_parse_as_their_kind_and_differ() {
        for kind in SecretKind::ALL {
            let a = generate(kind).expect("random");
            let b = generate(kind).expect("random");
            assert_ne!(a, b);
            assert_eq!(parse(&a), Some(kind));
            assert!(a.starts_with(kind.prefix()));
        }
    }

    #[test]
    fn a_mistyped_secret_fails_its_checksum() {
        let secret = generate(SecretKind::Session).expect("random");
        let mut chars: Vec<char> = secret.chars().collect();
        let i = SecretKind::Session.prefix().len() + 5;
        chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        let typo: String = chars.into_iter().collect();
        assert_eq!(parse(&typo), None);
        assert_eq!(parse(&secret[..secret.len() - 1]), None);
        assert_eq!(parse("tnys_short"), None);
        assert_eq!(parse("nonsense"), None);
    }

    #[test]
    fn digest_is_hex_sha256() {
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
