//! Secrets handed to clients (session tokens, API tokens, invitation links): 256 bits from the
//! OS generator, a short prefix naming the kind (so secret scanners can recognise a leaked one),
//! a checksum (so a mistyped secret is refused without a database read). Only their SHA-256 is
//! ever stored.
//!
//! A login session and an API token also carry, before the random part, the id of the account
//! they were issued to; a run user's session the ids of its profile and user; an invitation
//! link those of its profile and invitee: a *claim*, not proof (anyone can write one; the
//! checksum is not keyed). It lets a request read what the caller will need (the membership,
//! the run user and its profile, the invitation) at the same time as the token itself
//! ([`claim`], [`pair_claim`]); the token's stored record decides who the caller is, and a claim
//! that disagrees only costs the reads made on its word.

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
/// Base64url of two 16-byte ids (the claim of a run user's session: its profile and user; of
/// an invitation link: its profile and invitee).
const PAIR_CLAIM_LEN: usize = 43;
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
    fn claims_account(self) -> bool {
        matches!(self, SecretKind::Session | SecretKind::ProfileToken)
    }

    /// The lengths of the claim a secret of this kind may carry. A run user's session or an
    /// invitation link made before its kind carried a claim has none, and still parses until
    /// it expires.
    fn claim_lens(self) -> &'static [usize] {
        match self {
            SecretKind::Session | SecretKind::ProfileToken => &[CLAIM_LEN],
            SecretKind::RunUser | SecretKind::Invitation => &[PAIR_CLAIM_LEN, 0],
            SecretKind::Verification | SecretKind::PasswordReset => &[0],
        }
    }
}

/// A new secret of `kind`, from the OS generator. Kinds that carry a claim are made with
/// [`generate_for`] and [`generate_claiming`].
pub fn generate(kind: SecretKind) -> Result<String, getrandom::Error> {
    make(kind, String::new())
}

/// A new session or API token of account `aid`, which it claims.
pub fn generate_for(kind: SecretKind, aid: uuid::Uuid) -> Result<String, getrandom::Error> {
    make(kind, URL_SAFE_NO_PAD.encode(aid.as_bytes()))
}

/// A new secret of `kind` that claims `ids` (none: no claim; a run user's session its profile
/// and user; an invitation link its profile and invitee).
pub fn generate_claiming(kind: SecretKind, ids: &[uuid::Uuid]) -> Result<String, getrandom::Error> {
    let bytes: Vec<u8> = ids.iter().flat_map(|id| *id.as_bytes()).collect();
    make(kind, URL_SAFE_NO_PAD.encode(bytes))
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
    if !kind.claims_account() {
        return None;
    }
    uuid::Uuid::from_slice(&claimed(secret, kind, CLAIM_LEN)?).ok()
}

/// The two ids a well-formed secret of `kind` claims (unproven; `None` for a secret of another
/// kind, or one that carries no such claim): a run user's session its profile and user, an
/// invitation link its profile and invitee.
pub fn pair_claim(secret: &str, kind: SecretKind) -> Option<(uuid::Uuid, uuid::Uuid)> {
    if parse(secret)? != kind {
        return None;
    }
    let ids = claimed(secret, kind, PAIR_CLAIM_LEN)?;
    let (pid, uid) = ids.split_at_checked(16)?;
    Some((
        uuid::Uuid::from_slice(pid).ok()?,
        uuid::Uuid::from_slice(uid).ok()?,
    ))
}

/// The bytes of the claim of `secret` (of `kind`, parsed), when it carries one of `len`.
fn claimed(secret: &str, kind: SecretKind, len: usize) -> Option<Vec<u8>> {
    let start = kind.prefix().len();
    if secret.len() != start + len + BODY_LEN + CHECK_LEN {
        return None;
    }
    URL_SAFE_NO_PAD.decode(secret.get(start..start + len)?).ok()
}

/// The kind of a well-formed secret whose checksum matches; `None` for anything else.
pub fn parse(secret: &str) -> Option<SecretKind> {
    let kind = SecretKind::ALL
        .into_iter()
        .find(|kind| secret.starts_with(kind.prefix()))?;
    let rest = &secret[kind.prefix().len()..];
    let body_len = kind
        .claim_lens()
        .iter()
        .map(|claim| BODY_LEN + claim)
        .find(|body_len| rest.len() == body_len + CHECK_LEN)?;
    if !rest.is_ascii() {
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
        match kind {
            SecretKind::Session | SecretKind::ProfileToken => {
                generate_for(kind, uuid::Uuid::now_v7()).expect("random")
            }
            SecretKind::RunUser | SecretKind::Invitation => {
                generate_claiming(kind, &[uuid::Uuid::now_v7(), uuid::Uuid::now_v7()])
                    .expect("random")
            }
            _ => generate(kind).expect("random"),
        }
    }

    #[test]
    fn sessions_and_api_tokens_claim_their_account_and_nothing_else_does() {
        let aid = uuid::Uuid::now_v7();
        for kind in SecretKind::ALL {
            let claimed = kind.claims_account().then_some(aid);
            let secret = if kind.claims_account() {
                generate_for(kind, aid).expect("random")
            } else {
                new(kind)
            };
            assert_eq!(claim(&secret), claimed, "{kind:?}");
        }
        // A claim of the wrong length for its kind does not parse at all.
        let unclaimed = make(SecretKind::Session, String::new()).expect("random");
        assert_eq!(parse(&unclaimed), None);
        assert_eq!(claim(&unclaimed), None);
    }

    #[test]
    fn run_users_sessions_and_invitation_links_claim_two_ids() {
        let (a, b) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        for kind in [SecretKind::RunUser, SecretKind::Invitation] {
            let secret = generate_claiming(kind, &[a, b]).expect("random");
            assert_eq!(parse(&secret), Some(kind));
            assert_eq!(pair_claim(&secret, kind), Some((a, b)));
            assert_eq!(claim(&secret), None, "no account");
            // One made before its kind carried a claim still parses, claiming nothing.
            let unclaimed = generate(kind).expect("random");
            assert_eq!(parse(&unclaimed), Some(kind));
            assert_eq!(pair_claim(&unclaimed, kind), None);
            // A claim of another length does not parse.
            let odd = make(kind, "A".repeat(CLAIM_LEN)).expect("random");
            assert_eq!(parse(&odd), None);
            // A secret of another kind claims nothing of this one.
            for other in SecretKind::ALL.into_iter().filter(|other| *other != kind) {
                assert_eq!(pair_claim(&new(other), kind), None, "{other:?}");
            }
        }
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
