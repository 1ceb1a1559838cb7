//! E-mail verification: sign-up (and every request for a new link) raises the account's
//! `verify_version`; the notifications handler makes that version's link secret, stores its
//! hash beside the change record's sent-marker, and e-mails it. A link is single use, valid
//! 24 hours, and only for the latest version.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::audit::{Audit, Scope};
use super::credentials;
use super::records::{AccountRecord, Action, Actor, Target, TokenRecord, VerificationTokenRecord};
use super::team::invitations::until_next_hour;
use super::tx::{self, Tx};
use crate::app::App;
use crate::keys;
use crate::refusal::{Decided, Refusal};
use crate::secrets::{self, SecretKind};
use crate::store::{Condition, Key, Update, Write};

/// How long a verification link works (and how long an unverified account keeps its e-mail
/// against a new sign-up).
pub fn link_ttl() -> chrono::Duration {
    chrono::Duration::hours(24)
}

/// Verification links an account may ask for per hour (beyond the one of its sign-up).
pub const LINKS_PER_HOUR: i64 = 5;

/// Whether an unverified account is old enough for a new sign-up to replace it.
pub fn is_stale(account: &AccountRecord, now: DateTime<Utc>) -> bool {
    !account.email_verified && account.created_at + link_ttl() <= now
}

fn refused() -> Refusal {
    Refusal::Unauthenticated("the verification link is not valid".into())
}

/// Asks for a new verification e-mail: the account's `verify_version` rises (older links stop
/// working), at most [`LINKS_PER_HOUR`] times an hour.
pub async fn request_link(app: &App, aid: Uuid) -> Decided<()> {
    let account = credentials::load(app, aid).await?;
    if account.email_verified {
        return Err(Refusal::Conflict("the e-mail is already verified".into()));
    }
    let now = app.now();
    let mut tx = Tx::new();
    tx.add_or(
        Write::Update {
            key: keys::account(aid),
            update: Update::new()
                .add("verify_version", 1)
                .remove("verify_token_hash"),
            condition: Some(Condition::All(vec![
                Condition::Equals("verify_version".into(), account.verify_version.into()),
                Condition::Equals("email_verified".into(), false.into()),
                Condition::NotEquals("deleting".into(), true.into()),
            ])),
        },
        Refusal::Contended("the account changed meanwhile; try again".into()),
    )
    .add_or(
        Write::Update {
            key: keys::verification_rate(aid, &keys::hour_of(now)),
            update: Update::new()
                .add("count", 1)
                .set("ttl", (now + chrono::Duration::hours(2)).timestamp()),
            condition: Some(Condition::Below("count".into(), LINKS_PER_HOUR)),
        },
        Refusal::TooManyAttempts {
            detail: format!("at most {LINKS_PER_HOUR} verification e-mails per hour"),
            retry_after: until_next_hour(now),
        },
    );
    tx.commit(app.table.as_ref()).await?;
    if let Some(hash) = account.verify_token_hash {
        app.table.delete(&keys::token(&hash), None).await?;
    }
    Ok(())
}

/// Verifies the e-mail of the account the link was sent to; the link then stops working.
pub async fn verify(app: &App, secret: &str, by: &Audit) -> Decided<AccountRecord> {
    if secrets::parse(secret) != Some(SecretKind::Verification) {
        return Err(refused());
    }
    let digest = secrets::digest(secret);
    let item = app
        .table
        .get(&keys::token(&digest))
        .await?
        .ok_or_else(refused)?;
    let TokenRecord::Verification(link) = keys::from_item(item)? else {
        return Err(refused());
    };
    if link.expires_at <= app.now() {
        return Err(Refusal::Unauthenticated(
            "the verification link has expired; ask for a new one".into(),
        ));
    }
    let mut account = credentials::load(app, link.aid)
        .await
        .map_err(|_| refused())?;
    if account.verify_version != link.version || account.deleting {
        return Err(refused());
    }
    let mut tx = Tx::new();
    tx.add_or(
        Write::delete(keys::token(&digest)).when(Condition::Exists),
        refused(),
    )
    .add_or(
        Write::Update {
            key: keys::account(link.aid),
            update: Update::new()
                .set("email_verified", true)
                .remove("verify_token_hash"),
            condition: Some(Condition::All(vec![
                Condition::Equals("verify_version".into(), link.version.into()),
                Condition::NotEquals("deleting".into(), true.into()),
            ])),
        },
        refused(),
    )
    .add(by.by(Actor::account(link.aid)).write(
        app.now(),
        Scope::Account(link.aid),
        Action::EmailVerified,
        Target::new("account", link.aid),
        &["email_verified"],
    )?);
    tx.commit(app.table.as_ref()).await?;
    account.email_verified = true;
    account.verify_token_hash = None;
    Ok(account)
}

/// What the notifications handler needs to e-mail a verification link: a fresh secret, its
/// hash stored (with the account's current version) in the same transaction as the change
/// record's sent-marker. `None` when the account moved on (verified, a newer version, being
/// deleted) or this record was handled before.
pub async fn prepare_link(
    app: &App,
    account: &AccountRecord,
    marker: Write,
) -> Decided<Option<String>> {
    let expires_at = app.now() + link_ttl();
    let link = VerificationTokenRecord {
        aid: account.aid,
        version: account.verify_version,
        expires_at,
        ttl: expires_at.timestamp(),
    };
    let condition = Condition::All(vec![
        Condition::Equals("verify_version".into(), account.verify_version.into()),
        Condition::Equals("email_verified".into(), false.into()),
        Condition::NotEquals("deleting".into(), true.into()),
    ]);
    tx::prepare_link(
        app.table.as_ref(),
        marker,
        (SecretKind::Verification, &[]),
        &TokenRecord::Verification(link),
        (keys::account(account.aid), "verify_token_hash", condition),
    )
    .await
}

/// Undoes [`prepare_link`] when the e-mail could not be sent, so a retry prepares it again.
pub async fn unprepare_link(
    app: &App,
    account: &AccountRecord,
    secret: &str,
    marker: Key,
) -> Decided<()> {
    tx::unprepare_link(
        app.table.as_ref(),
        marker,
        secret,
        &keys::account(account.aid),
        "verify_token_hash",
    )
    .await
}
