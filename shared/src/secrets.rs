//! Secrets handed to clients (session tokens, API tokens, invitation links): 256 bits from the
//! OS generator, a short prefix naming the kind (so secret scanners can recognise a leaked one),
//! a checksum (so a mistyped secret is refused without a database read). Only their SHA-256 is
//! ever stored.
//!
//! A login session and an API token also carry, before the random part, the id of the account
//! they were issued to: a *claim*, not proof (anyone can write one; the checksum is not keyed).
//! It lets a request read the caller's membership at the same time as the token itself
//! ([`claim`]); the token's stored record decides who the caller is, and a claim that disagrees
//! only costs the reads made on its word.

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
/// Base64url of a 16-byte id (the claim of a session or an API token).
const CLAIM_LEN: usize = 22;
/// Base64url of the first 4 bytes of SHA-256(prefix + body).
const CHECK_LEN: usize = 6;

fn checksum(prefix: &str, body: &str) -> String {
    let digest = Sha256::new()
        .chain_update(prefix.as_bytes())
        .chain_update(body.as_bytes())
        .finalize();
    URL_SAFE_NO_PAD.encode(&digest[..4])
}

impl SecretKind {
    /// Whether secrets of this kind carry the id of their account (see the module's text).
    fn claims(self) -> bool {
        matches!(self, SecretKind::Session | SecretKind::ProfileToken)
    }
}

/// A new secret of `kind`, from the OS generator. Kinds that carry a claim are made with
/// [`generate_for`].
pub fn generate(kind: SecretKind) -> Result<String, getrandom::Error> {
    make(kind, String::new())
}

/// A new session or API token of account `aid`, which it claims.
pub fn generate_for(kind: SecretKind, aid: uuid::Uuid) -> Result<String, getrandom::Error> {
    make(kind, URL_SAFE_NO_PAD.encode(aid.as_bytes()))
}

fn make(kind: SecretKind, claim: String) -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    let body = claim + &URL_SAFE_NO_PAD.encode(bytes);
    let prefix = kind.prefix();
    let check = checksum(prefix, &body);
    Ok(format!("{prefix}{body}{check}"))
}

/// The account a well-formed session or API token claims to belong to (unproven).
pub fn claim(secret: &str) -> Option<uuid::Uuid> {
    let kind = parse(secret)?;
    if !kind.claims() {
        return None;
    }
    let encoded = secret.get(kind.prefix().len()..kind.prefix().len() + CLAIM_LEN)?;
    let bytes = URL_SAFE_NO_PAD.decode(encoded).ok()?;
    uuid::Uuid::from_slice(&bytes).ok()
}

/// The kind of a well-formed secret whose checksum matches; `None` for anything else.
pub fn parse(secret: &str) -> Option<SecretKind> {
    let kind = SecretKind::ALL
        .into_iter()
        .find(|kind| secret.starts_with(kind.prefix()))?;
    let rest = &secret[kind.prefix().len()..];
    let body_len = BODY_LEN + if kind.claims() { CLAIM_LEN } else { 0 };
    if rest.len() != body_len + CHECK_LEN || !rest.is_ascii() {
        return None;
    }
    let (body, check) = rest.split_at(body_len);
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

    fn new(kind: SecretKind) -> String {
        if kind.claims() {
            generate_for(kind, uuid::Uuid::now_v7()).expect("random")
        } else {
            generate(kind).expect("random")
        }
    }

    #[test]
    fn sessions_and_api_tokens_claim_their_account_and_nothing_else_does() {
        let aid = uuid::Uuid::now_v7();
        for kind in SecretKind::ALL {
            let claimed = kind.claims().then_some(aid);
            let secret = if kind.claims() {
                generate_for(kind, aid).expect("random")
            } else {
                generate(kind).expect("random")
            };
            assert_eq!(claim(&secret), claimed, "{kind:?}");
        }
        // A claim of the wrong length for its kind does not parse at all.
        let unclaimed = make(SecretKind::Session, String::new()).expect("random");
        assert_eq!(parse(&unclaimed), None);
        assert_eq!(claim(&unclaimed), None);
    }

    #[test]
    fn generated_secrets_parse_as_their_kind_and_differ() {
        for kind in SecretKind::ALL {
            let a = new(kind);
            let b = new(kind);
            assert_ne!(a, b);
            assert_eq!(parse(&a), Some(kind));
            assert!(a.starts_with(kind.prefix()));
        }
    }

    #[test]
    fn a_mistyped_secret_fails_its_checksum() {
        let secret = new(SecretKind::Session);
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
