//! Passwords: a forgotten one reset through a link e-mailed to the account's address, and a
//! known one changed. A reset proves the mailbox, so it also verifies the e-mail: an address
//! squatted by someone else is always recoverable by its real owner.
//!
//! A reset request is an item (`ACCOUNT#aid / RESET#<rid>`); the notifications handler makes
//! its link secret, stores the hash beside the change record's sent-marker and e-mails it.

use uuid::Uuid;

use super::audit::{Audit, Scope};
use super::credentials;
use super::records::{Action, Actor, ResetRequestRecord, ResetTokenRecord, Target, TokenRecord};
use super::tx::{self, Tx};
use crate::app::App;
use crate::email::Email;
use crate::keys;
use crate::password;
use crate::refusal::{Decided, Refusal};
use crate::secrets::{self, SecretKind};
use crate::store::{Condition, Key, Query, Update, Write, query_all};

/// How long a reset link works.
pub fn link_ttl() -> chrono::Duration {
    chrono::Duration::hours(1)
}

/// Reset e-mails per account (so per e-mail) and hour; requests beyond it send nothing.
pub const RESETS_PER_HOUR: i64 = 5;

fn refused() -> Refusal {
    Refusal::Unauthenticated("the reset link is not valid".into())
}

/// Asks for a reset e-mail. The answer is the same whether or not an account uses the
/// e-mail, and whether or not the hourly limit held it back (only a malformed address is
/// refused). Both paths make the same calls: the e-mail's claim is read, then one transaction
/// writes the request on the condition that the claimed account exists and is not being
/// deleted; for an unknown e-mail it names an account that cannot exist, so it writes nothing.
pub async fn request_reset(app: &App, email: &str) -> Decided<()> {
    let email = Email::parse(email)?;
    let claim = app.table.get(&keys::email_claim(&email)).await?;
    let aid = match claim {
        Some(item) => keys::from_item::<super::records::EmailClaim>(item)?.aid,
        None => Uuid::nil(),
    };
    let now = app.now();
    let expires_at = now + link_ttl();
    let request = ResetRequestRecord {
        rid: Uuid::now_v7(),
        aid,
        email,
        created_at: now,
        expires_at,
        token_hash: None,
        ttl: expires_at.timestamp(),
    };
    let mut tx = Tx::new();
    tx.add(Write::Check {
        key: keys::account(aid),
        condition: Condition::All(vec![
            Condition::Exists,
            Condition::NotEquals("deleting".into(), true.into()),
        ]),
    })
    .add(Write::put_new(keys::to_item(
        &keys::reset_request(aid, request.rid),
        &request,
    )?))
    .add_or(
        Write::Update {
            key: keys::reset_rate(aid, &keys::hour_of(now)),
            update: Update::new()
                .add("count", 1)
                .set("ttl", (now + chrono::Duration::hours(2)).timestamp()),
            condition: Some(Condition::Below("count".into(), RESETS_PER_HOUR)),
        },
        Refusal::TooManyAttempts {
            detail: String::new(),
            retry_after: std::time::Duration::from_secs(1),
        },
    );
    match tx.commit(app.table.as_ref()).await {
        // No such account, past the hourly limit, or raced: nothing is sent, and nothing tells.
        Ok(()) | Err(Refusal::TooManyAttempts { .. }) | Err(Refusal::Contended(_)) => Ok(()),
        Err(refusal) => Err(refusal),
    }
}

/// Sets a new password with a reset link: the link (and every other pending reset of the
/// account) stops working, the e-mail counts as verified, every session is revoked.
pub async fn confirm_reset(app: &App, secret: &str, new_password: &str, by: &Audit) -> Decided<()> {
    password::check_policy(new_password)?;
    if secrets::parse(secret) != Some(SecretKind::PasswordReset) {
        return Err(refused());
    }
    let digest = secrets::digest(secret);
    let item = app
        .table
        .get(&keys::token(&digest))
        .await?
        .ok_or_else(refused)?;
    let TokenRecord::Reset(link) = keys::from_item(item)? else {
        return Err(refused());
    };
    if link.expires_at <= app.now() {
        return Err(Refusal::Unauthenticated(
            "the reset link has expired; ask for a new one".into(),
        ));
    }
    let password_hash = password::hash(new_password.to_owned(), app.config.password_cost).await?;
    let mut tx = Tx::new();
    tx.add_or(
        Write::delete(keys::token(&digest)).when(Condition::Exists),
        refused(),
    )
    .add(Write::delete(keys::reset_request(link.aid, link.rid)))
    .add_or(
        credentials::claim_hash(&link.email, link.aid, &password_hash),
        refused(),
    )
    .add_or(
        Write::Update {
            key: keys::account(link.aid),
            update: Update::new()
                .set("password_hash", password_hash)
                .set("email_verified", true)
                .set("failed_logins", 0)
                .remove("failed_since"),
            condition: Some(Condition::All(vec![
                Condition::Exists,
                Condition::NotEquals("deleting".into(), true.into()),
            ])),
        },
        refused(),
    )
    .add(by.by(Actor::account(link.aid)).write(
        app.now(),
        Scope::Account(link.aid),
        Action::PasswordReset,
        Target::new("account", link.aid),
        &["password"],
    )?);
    let doomed = ended_by_new_password(app, link.aid, None).await?;
    tx.commit_deleting(app.table.as_ref(), doomed).await
}

/// The query of account `aid`'s pending reset requests.
pub fn resets_query(aid: Uuid) -> Query {
    Query::partition(keys::account_partition(aid)).prefix(keys::RESET_PREFIX)
}

/// Every pending reset request of `aid` with its link, to delete with a password change.
async fn reset_keys(app: &App, aid: Uuid) -> Decided<Vec<Key>> {
    let items = query_all(app.table.as_ref(), resets_query(aid)).await?;
    let mut doomed = Vec::new();
    for item in items {
        let Some(key) = Key::of(&item) else { continue };
        let request: ResetRequestRecord = keys::from_item(item)?;
        doomed.extend(request.token_hash.map(|hash| keys::token(&hash)));
        doomed.push(key);
    }
    Ok(doomed)
}

/// What a new password ends: the account's pending reset requests with their links, and its
/// sessions but `keep`. Read together.
async fn ended_by_new_password(app: &App, aid: Uuid, keep: Option<&str>) -> Decided<Vec<Key>> {
    let (resets, sessions) = tokio::join!(
        reset_keys(app, aid),
        credentials::session_keys(app, aid, keep)
    );
    let mut doomed = resets?;
    doomed.extend(sessions?);
    Ok(doomed)
}

/// Changes the caller's password (the current one re-entered, throttled like a login); every
/// other session of the account is revoked, the caller's own (`keep`) stays.
pub async fn change_password(
    app: &App,
    aid: Uuid,
    keep: &str,
    current_password: &str,
    new_password: &str,
    by: &Audit,
) -> Decided<()> {
    password::check_policy_of("new_password", new_password)?;
    let account = credentials::load(app, aid).await?;
    let passed = credentials::check_password(app, &account, current_password).await?;
    let password_hash = password::hash(new_password.to_owned(), app.config.password_cost).await?;
    let mut tx = Tx::new();
    passed.guard(&mut tx);
    let gone = || Refusal::Unauthenticated("the account no longer exists".into());
    tx.add_or(
        credentials::claim_hash(&account.email, aid, &password_hash),
        gone(),
    )
    .add_or(
        Write::Update {
            key: keys::account(aid),
            update: Update::new().set("password_hash", password_hash),
            condition: Some(Condition::Exists),
        },
        gone(),
    )
    .add(by.write(
        app.now(),
        Scope::Account(aid),
        Action::PasswordChanged,
        Target::new("account", aid),
        &["password"],
    )?);
    let doomed = ended_by_new_password(app, aid, Some(keep)).await?;
    tx.commit_deleting(app.table.as_ref(), doomed).await
}

/// What the notifications handler needs to e-mail a reset link: a fresh secret, its hash
/// stored in the same transaction as the change record's sent-marker. `None` when the request
/// is gone (used, or its account deleted) or this record was handled before.
pub async fn prepare_link(
    app: &App,
    request: &ResetRequestRecord,
    marker: Write,
) -> Decided<Option<String>> {
    let link = ResetTokenRecord {
        aid: request.aid,
        email: request.email.clone(),
        rid: request.rid,
        expires_at: request.expires_at,
        ttl: request.expires_at.timestamp(),
    };
    let holder = keys::reset_request(request.aid, request.rid);
    tx::prepare_link(
        app.table.as_ref(),
        marker,
        (SecretKind::PasswordReset, &[]),
        &TokenRecord::Reset(link),
        (holder, "token_hash", Condition::Exists),
    )
    .await
}

/// Undoes [`prepare_link`] when the e-mail could not be sent, so a retry prepares it again.
pub async fn unprepare_link(
    app: &App,
    request: &ResetRequestRecord,
    secret: &str,
    marker: Key,
) -> Decided<()> {
    tx::unprepare_link(
        app.table.as_ref(),
        marker,
        secret,
        &keys::reset_request(request.aid, request.rid),
        "token_hash",
    )
    .await
}
