//! Credentials and sessions: the account behind an e-mail and a password (throttled by
//! `throttle`), login sessions and logout.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::audit::{Audit, Scope};
use super::records::{
    AccountRecord, Action, Actor, EmailClaim, SessionRecord, Target, TokenRecord,
};
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
///
/// The attempt is reserved in the throttle (per e-mail and per source address) before anything
/// is read; a right password gives it back, at the same time as the session is written (one
/// round trip for both).
pub async fn login(
    app: &App,
    email: &str,
    password: &str,
    source: &SourceAddress,
    by: &Audit,
) -> Decided<Session> {
    let reservation = throttle::reserve_login(app, email, Some(source)).await?;
    match find_and_verify(app, email, password, by).await {
        Err(Refusal::InvalidCredentials) => Err(Refusal::InvalidCredentials),
        Err(refusal) => {
            reservation.release(app).await;
            Err(refusal)
        }
        Ok(account) => {
            let ((), session) = tokio::join!(
                reservation.release(app),
                open_audited_session(app, account.aid, Some(by))
            );
            session
        }
    }
}

/// A new login session for `aid` (one write).
pub async fn open_session(app: &App, aid: Uuid) -> Decided<Session> {
    open_audited_session(app, aid, None).await
}

/// A new login session for `aid`; with `by`, recorded as a login in the account's audit log in
/// the same transaction (two writes instead of one).
pub async fn open_audited_session(app: &App, aid: Uuid, by: Option<&Audit>) -> Decided<Session> {
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
    let item = keys::to_indexed_item(
        &keys::token(&digest),
        (
            &keys::account_sessions(aid),
            &keys::session_index_sk(&digest),
        ),
        &record,
    )?;
    match by {
        None => app.table.put(item, None).await?,
        Some(by) => {
            // The entry's key is a fresh UUID v7: a resent transaction (the SDK's idempotency
            // token) writes it once.
            let entry = by.by(Actor::account(aid)).write(
                now,
                Scope::Account(aid),
                Action::LoginSucceeded,
                Target::new("account", aid),
                &[],
            )?;
            app.table.transact(vec![Write::put(item), entry]).await?
        }
    }
    Ok(Session { token, expires_at })
}

/// Revokes every login session of `aid` but the one whose secret has the digest `keep`.
pub async fn revoke_sessions(app: &App, aid: Uuid, keep: Option<&str>) -> Decided<()> {
    let doomed = session_keys(app, aid, keep).await?;
    for chunk in doomed.chunks(MAX_TRANSACTION_WRITES) {
        let writes = chunk.iter().cloned().map(Write::delete).collect();
        app.table.transact(writes).await?;
    }
    Ok(())
}

/// The sessions of `aid` but the one whose secret has the digest `keep`, to delete.
pub async fn session_keys(app: &App, aid: Uuid, keep: Option<&str>) -> Decided<Vec<Key>> {
    let items = query_all(app.table.as_ref(), Query::gsi1(keys::account_sessions(aid))).await?;
    let kept = keep.map(keys::token);
    Ok(items
        .iter()
        .filter_map(Key::of)
        .filter(|key| Some(key) != kept.as_ref())
        .collect())
}

/// Reads the account behind `email` and verifies `password`. Whether the e-mail is unknown or the
/// password wrong, the same work is done: two reads, one argon2 verification at the same cost,
/// and one write (a wrong password's `login.failed` entry; for an unknown e-mail a put whose
/// condition cannot hold, which writes nothing in the same time).
async fn find_and_verify(
    app: &App,
    email: &str,
    password: &str,
    by: &Audit,
) -> Decided<AccountRecord> {
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
            record_failure(app, Uuid::nil(), by, Some(Condition::Exists)).await;
            return Err(Refusal::InvalidCredentials);
        }
    };
    let verdict = verify_and_rehash(app, &account, password).await;
    if matches!(verdict, Err(Refusal::InvalidCredentials)) {
        record_failure(app, account.aid, by, None).await;
    }
    verdict.map(|()| account)
}

/// Writes the `login.failed` entry of account `aid` (for an unknown e-mail: `aid` nil and a
/// condition that cannot hold, so nothing is written). The throttle's reservation, the one
/// change a failed login makes, was written before the password was checked (it must be), so
/// the entry cannot join its transaction: it is a write of its own. A failure to write it is
/// logged, never answered: the answer must not differ from an unknown e-mail's.
async fn record_failure(app: &App, aid: Uuid, by: &Audit, condition: Option<Condition>) {
    let entry = by.by(Actor::account(aid)).write(
        app.now(),
        Scope::Account(aid),
        Action::LoginFailed,
        Target::new("account", aid),
        &[],
    );
    let Ok(Write::Put { item, .. }) = entry else {
        return;
    };
    match app.table.put(item, condition).await {
        Ok(()) | Err(crate::store::StoreError::ConditionFailed) => {}
        Err(error) => tracing::warn!(%error, "writing a failed login's audit entry failed"),
    }
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

/// Revokes the caller's own session, recorded as `session.revoked` in the same transaction.
pub async fn logout_audited(app: &App, aid: Uuid, token_digest: &str, by: &Audit) -> Decided<()> {
    let entry = by.write(
        app.now(),
        Scope::Account(aid),
        Action::SessionRevoked,
        Target::new("account", aid),
        &[],
    )?;
    app.table
        .transact(vec![Write::delete(keys::token(token_digest)), entry])
        .await?;
    Ok(())
}
