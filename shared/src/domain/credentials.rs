//! Credentials and sessions: the account behind an e-mail and a password, the login throttle,
//! login sessions and logout.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::records::{AccountRecord, EmailClaim, SessionRecord, TokenRecord};
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
/// the same time. Too many failures on one account within the window get 429 until it passes.
pub async fn login(app: &App, email: &str, password: &str) -> Decided<Session> {
    let account = verify_credentials(app, email, password).await?;
    open_session(app, account.aid).await
}

/// A new login session for `aid` (one write).
pub async fn open_session(app: &App, aid: Uuid) -> Decided<Session> {
    let now = app.now();
    let expires_at =
        now + chrono::Duration::from_std(app.config.session_ttl).map_err(|_| Refusal::Internal)?;
    let token = secrets::generate(SecretKind::Session).map_err(|_| Refusal::Internal)?;
    let record = TokenRecord::Session(SessionRecord {
        aid,
        created_at: now,
        expires_at,
        ttl: expires_at.timestamp(),
    });
    let digest = secrets::digest(&token);
    // Listed under the account (GSI1 `SESSIONS#<aid>`), so all of them can be revoked.
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
            Some(Condition::NotExists),
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

/// The account whose e-mail and password these are; counts failures toward the throttle.
pub async fn verify_credentials(app: &App, email: &str, password: &str) -> Decided<AccountRecord> {
    let cost = app.config.password_cost;
    let claim = match Email::parse(email) {
        Ok(email) => app.table.get(&keys::email_claim(&email)).await?,
        Err(_) => None,
    };
    let Some(claim) = claim else {
        password::verify_dummy(password.to_owned(), cost).await?;
        return Err(Refusal::InvalidCredentials);
    };
    let claim: EmailClaim = keys::from_item(claim)?;
    let Some(item) = app.table.get(&keys::account(claim.aid)).await? else {
        password::verify_dummy(password.to_owned(), cost).await?;
        return Err(Refusal::InvalidCredentials);
    };
    let account: AccountRecord = keys::from_item(item)?;
    check_password(app, &account, password).await?;
    Ok(account)
}

/// Verifies `password` as `account`'s, throttled: after too many failures within the window,
/// refuses (429) before even looking at the password.
pub async fn check_password(app: &App, account: &AccountRecord, password: &str) -> Decided<()> {
    let now = app.now();
    let window =
        chrono::Duration::from_std(app.config.login_window).map_err(|_| Refusal::Internal)?;
    let window_open = account
        .failed_since
        .is_some_and(|since| since + window > now);
    if window_open && account.failed_logins >= app.config.login_max_failures {
        let reopens = account.failed_since.map_or(now, |since| since + window);
        return Err(Refusal::TooManyAttempts {
            detail: "too many failed attempts on this account; try again later".into(),
            retry_after: std::time::Duration::from_secs((reopens - now).num_seconds().max(1) as u64),
        });
    }
    let key = keys::account(account.aid);
    let verdict = password::verify(
        password.to_owned(),
        account.password_hash.clone(),
        app.config.password_cost,
    )
    .await?;
    match verdict {
        Verdict::Wrong => {
            let update = if window_open {
                Update::new().add("failed_logins", 1)
            } else {
                Update::new()
                    .set("failed_logins", 1)
                    .set("failed_since", now.to_rfc3339())
            };
            app.table
                .update(&key, update, Some(Condition::Exists))
                .await?;
            Err(Refusal::InvalidCredentials)
        }
        Verdict::Right | Verdict::RightButRehash => {
            let mut update = Update::new();
            if account.failed_logins != 0 || account.failed_since.is_some() {
                update = update.set("failed_logins", 0).remove("failed_since");
            }
            if verdict == Verdict::RightButRehash {
                let rehashed =
                    password::hash(password.to_owned(), app.config.password_cost).await?;
                update = update.set("password_hash", rehashed);
            }
            if !update.is_empty() {
                app.table
                    .update(&key, update, Some(Condition::Exists))
                    .await?;
            }
            Ok(())
        }
    }
}

/// Revokes the session whose secret has this digest.
pub async fn logout(app: &App, token_digest: &str) -> Decided<()> {
    app.table.delete(&keys::token(token_digest), None).await?;
    Ok(())
}
