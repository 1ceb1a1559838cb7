//! Credentials and sessions: the account behind an e-mail and a password (throttled by
//! `throttle`), login sessions and logout.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::records::{AccountRecord, EmailClaim, SessionRecord, TokenRecord};
use super::throttle::{self, SourceAddress};
use crate::app::App;
use crate::email::Email;
use crate::keys;
use crate::password::{self, Verdict};
use crate::refusal::{Decided, Refusal};
use crate::secrets::{self, SecretKind};
use crate::store::{Condition, Key, MAX_TRANSACTION_WRITES, Query, Update, Write, query_all};

/// The account `aid`; a caller whose account is gone is no longer signed in.
pub async fn load(app: &App, aid: Uuid) -> Decided<AccountRecord> {
    match app.table.get(&keys::account(aid)).await? {
        Some(item) => Ok(keys::from_item(item)?),
        None => Err(Refusal::Unauthenticated(
            "the account no longer exists".into(),
        )),
    }
}

/// A new session: the secret (shown once) and when it expires.
pub struct Session {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// Checks e-mail and password. Unknown e-mail and wrong password get the same answer, in about
/// the same time. Too many failures for one e-mail (known or not) or from one source address
/// within the window get 429 until it passes.
pub async fn login(
    app: &App,
    email: &str,
    password: &str,
    source: &SourceAddress,
) -> Decided<Session> {
    let account = verify_credentials(app, email, password, source).await?;
    open_session(app, account.aid).await
}

/// A new login session for `aid` (one write).
pub async fn open_session(app: &App, aid: Uuid) -> Decided<Session> {
    let now = app.now();
    let expires_at =
        now + chrono::Duration::from_std(app.config.session_ttl).map_err(|_| Refusal::Internal)?;
    let token = secrets::generate_for(SecretKind::Session, aid).map_err(|_| Refusal::Internal)?;
    let record = TokenRecord::Session(SessionRecord {
        aid,
        created_at: now,
        expires_at,
        ttl: expires_at.timestamp(),
    });
    let digest = secrets::digest(&token);
    // Listed under the account (GSI1 `SESSIONS#<aid>`), so all of them can be revoked. The key
    // is the digest of 256 fresh random bits: no item can be there already, so the write needs
    // no condition, and a plain put is safe to send twice (the SDK does when an answer is lost;
    // a put guarded by "not exists" then failed on its own first write, as the fault run showed).
    app.table
        .put(
            keys::to_indexed_item(
                &keys::token(&digest),
                (
                    &keys::account_sessions(aid),
                    &keys::session_index_sk(&digest),
                ),
                &record,
            )?,
            None,
        )
        .await?;
    Ok(Session { token, expires_at })
}

/// Revokes every login session of `aid` but the one whose secret has the digest `keep`.
pub async fn revoke_sessions(app: &App, aid: Uuid, keep: Option<&str>) -> Decided<()> {
    let items = query_all(app.table.as_ref(), Query::gsi1(keys::account_sessions(aid))).await?;
    let kept = keep.map(keys::token);
    let doomed: Vec<Key> = items
        .iter()
        .filter_map(Key::of)
        .filter(|key| Some(key) != kept.as_ref())
        .collect();
    for chunk in doomed.chunks(MAX_TRANSACTION_WRITES) {
        let writes = chunk.iter().cloned().map(Write::delete).collect();
        app.table.transact(writes).await?;
    }
    Ok(())
}

/// The account whose e-mail and password these are. The attempt is reserved in the throttle
/// (per e-mail and per source address) before anything is read; a right password gives it back.
pub async fn verify_credentials(
    app: &App,
    email: &str,
    password: &str,
    source: &SourceAddress,
) -> Decided<AccountRecord> {
    let reservation = throttle::reserve_login(app, email, Some(source)).await?;
    let outcome = find_and_verify(app, email, password).await;
    if !matches!(outcome, Err(Refusal::InvalidCredentials)) {
        reservation.release(app).await;
    }
    outcome
}

/// Reads the account behind `email` and verifies `password`. Whether the e-mail is unknown or the
/// password wrong, the same work is done: two reads and one argon2 verification at the same cost.
async fn find_and_verify(app: &App, email: &str, password: &str) -> Decided<AccountRecord> {
    let cost = app.config.password_cost;
    let claim = match Email::parse(email) {
        Ok(email) => app.table.get(&keys::email_claim(&email)).await?,
        Err(_) => None,
    };
    let aid = match claim {
        Some(claim) => Some(keys::from_item::<EmailClaim>(claim)?.aid),
        None => None,
    };
    // No account: read a key that never exists, as the known path reads the account.
    let account = app
        .table
        .get(&keys::account(aid.unwrap_or(Uuid::nil())))
        .await?;
    let account = match (aid, account) {
        (Some(_), Some(item)) => keys::from_item::<AccountRecord>(item)?,
        _ => {
            password::verify_dummy(password.to_owned(), cost).await?;
            return Err(Refusal::InvalidCredentials);
        }
    };
    verify_and_rehash(app, &account, password).await?;
    Ok(account)
}

/// Verifies `password` as `account`'s when it is re-entered (issuing a token, deleting a
/// profile), throttled by the same per-e-mail counter as logins: the attempt is reserved first,
/// and past the limit refused (429) without looking at the password.
pub async fn check_password(app: &App, account: &AccountRecord, password: &str) -> Decided<()> {
    let reservation = throttle::reserve_reentry(app, &account.email).await?;
    let outcome = verify_and_rehash(app, account, password).await;
    if !matches!(outcome, Err(Refusal::InvalidCredentials)) {
        reservation.release(app).await;
    }
    outcome
}

/// Verifies `password` against the account's hash; a right password hashed at a lower cost than
/// today's is re-hashed.
async fn verify_and_rehash(app: &App, account: &AccountRecord, password: &str) -> Decided<()> {
    let verdict = password::verify(
        password.to_owned(),
        account.password_hash.clone(),
        app.config.password_cost,
    )
    .await?;
    match verdict {
        Verdict::Wrong => Err(Refusal::InvalidCredentials),
        Verdict::Right => Ok(()),
        Verdict::RightButRehash => {
            let rehashed = password::hash(password.to_owned(), app.config.password_cost).await?;
            app.table
                .update(
                    &keys::account(account.aid),
                    Update::new().set("password_hash", rehashed),
                    Some(Condition::Exists),
                )
                .await?;
            Ok(())
        }
    }
}

/// Revokes the session whose secret has this digest.
pub async fn logout(app: &App, token_digest: &str) -> Decided<()> {
    app.table.delete(&keys::token(token_digest), None).await?;
    Ok(())
}
