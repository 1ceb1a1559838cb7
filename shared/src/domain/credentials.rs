//! Credentials and sessions: the account behind an e-mail and a password (throttled by
//! `throttle`), login sessions and logout.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::audit::{Audit, Scope};
use super::records::{
    AccountRecord, Action, Actor, EmailClaim, SessionRecord, Target, TokenRecord,
};
use super::throttle::{Attempt, Passed, SourceAddress};
use super::tx::Tx;
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
/// The throttle's counters are read with the e-mail's claim, which holds the account's password
/// hash; the attempt is counted in the one write that follows the verification: a wrong
/// password's count with its `login.failed` entry, or a right password's session on the
/// counters' conditions (`throttle`).
pub async fn login(
    app: &App,
    email: &str,
    password: &str,
    source: &SourceAddress,
    by: &Audit,
) -> Decided<Session> {
    let attempt = Attempt::login(app, email, Some(source));
    let (found, verdict) = find_and_verify(app, &attempt, email, password).await?;
    match (found, verdict) {
        (Some((aid, email)), Verdict::Right | Verdict::RightButRehash) => {
            let mut guard = Tx::new();
            attempt.passed().guard(&mut guard);
            if verdict == Verdict::RightButRehash {
                let rehashed =
                    password::hash(password.to_owned(), app.config.password_cost).await?;
                guard.add(claim_hash(&email, aid, &rehashed)).add(
                    Write::update(
                        keys::account(aid),
                        Update::new().set("password_hash", rehashed),
                    )
                    .when(Condition::Exists),
                );
            }
            open_audited_session(app, aid, Some(by), guard).await
        }
        // Unknown e-mails count like known ones; only a known account's log records it.
        (found, _) => {
            let entry = match found {
                Some((aid, _)) => vec![failed_entry(app, aid, by)?],
                None => Vec::new(),
            };
            Err(attempt.count_failure(app, entry).await)
        }
    }
}

/// A new login session for `aid` (one write).
pub async fn open_session(app: &App, aid: Uuid) -> Decided<Session> {
    open_audited_session(app, aid, None, Tx::new()).await
}

/// A new login session for `aid`; with `by`, recorded as a login in the account's audit log in
/// the same transaction (two writes instead of one), and with the writes of `guard` (a login's
/// throttle conditions) in it too.
pub async fn open_audited_session(
    app: &App,
    aid: Uuid,
    by: Option<&Audit>,
    guard: Tx,
) -> Decided<Session> {
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
        None if guard.is_empty() => app.table.put(item, None).await?,
        _ => {
            let mut tx = guard;
            tx.add(Write::put(item));
            if let Some(by) = by {
                // The entry's key is a fresh UUID v7: a resent transaction (the SDK's
                // idempotency token) writes it once.
                tx.add(by.by(Actor::account(aid)).write(
                    now,
                    Scope::Account(aid),
                    Action::LoginSucceeded,
                    Target::new("account", aid),
                    &[],
                )?);
            }
            tx.commit(app.table.as_ref()).await?
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

/// The write that keeps `email`'s claim (account `aid`'s) holding the account's new password
/// hash, in the transaction that sets the account's: refused when the claim is gone or names
/// another account.
pub(super) fn claim_hash(email: &Email, aid: Uuid, password_hash: &str) -> Write {
    Write::update(
        keys::email_claim(email),
        Update::new().set("password_hash", password_hash),
    )
    .when(Condition::Equals("aid".into(), aid.to_string().into()))
}

/// The query of account `aid`'s login sessions.
pub fn sessions_query(aid: Uuid) -> Query {
    Query::gsi1(keys::account_sessions(aid))
}

/// The sessions of `aid` but the one whose secret has the digest `keep`, to delete.
pub async fn session_keys(app: &App, aid: Uuid, keep: Option<&str>) -> Decided<Vec<Key>> {
    let items = query_all(app.table.as_ref(), sessions_query(aid)).await?;
    let kept = keep.map(keys::token);
    Ok(items
        .iter()
        .filter_map(Key::of)
        .filter(|key| Some(key) != kept.as_ref())
        .collect())
}

/// Reads the claim of `email` (at the same time as the throttle's counters, which refuse a full
/// one first), which names the account and holds its password hash, and verifies `password`.
/// Whether the e-mail is unknown or the password wrong, the same work is done: one step of
/// reads and one argon2 verification at the same cost. Answers the account's id and e-mail, if
/// there is one, and the verdict.
async fn find_and_verify(
    app: &App,
    attempt: &Attempt,
    email: &str,
    password: &str,
) -> Decided<(Option<(Uuid, Email)>, Verdict)> {
    let cost = app.config.password_cost;
    let email = Email::parse(email).ok();
    let claim = async {
        match &email {
            Some(email) => app.table.get(&keys::email_claim(email)).await,
            None => Ok(None),
        }
    };
    let (admitted, claim) = tokio::join!(attempt.admit(app), claim);
    admitted?;
    let claim = match claim? {
        Some(item) => Some(keys::from_item::<EmailClaim>(item)?),
        None => None,
    };
    let (Some(email), Some(claim)) = (email, claim) else {
        password::verify_dummy(password.to_owned(), cost).await?;
        return Ok((None, Verdict::Wrong));
    };
    let hash = match claim.password_hash {
        Some(hash) => Some(hash),
        // A claim written before it held the hash: the account has it.
        None => match app.table.get(&keys::account(claim.aid)).await? {
            Some(item) => Some(keys::from_item::<AccountRecord>(item)?.password_hash),
            None => None,
        },
    };
    let Some(hash) = hash else {
        password::verify_dummy(password.to_owned(), cost).await?;
        return Ok((None, Verdict::Wrong));
    };
    let verdict = password::verify(password.to_owned(), hash, cost).await?;
    Ok((Some((claim.aid, email)), verdict))
}

/// The `login.failed` entry of account `aid`, written with the failure's count.
fn failed_entry(app: &App, aid: Uuid, by: &Audit) -> Decided<Write> {
    by.by(Actor::account(aid)).write(
        app.now(),
        Scope::Account(aid),
        Action::LoginFailed,
        Target::new("account", aid),
        &[],
    )
}

/// Verifies `password` as `account`'s when it is re-entered (issuing a token, changing the
/// password, deletions), throttled by the same per-e-mail counter as logins. The counter is not
/// read first (the e-mail is known only once the account is read): a wrong password is counted
/// at once (429 past the limit), a right one is answered as [`Passed`], whose conditions the
/// change it allows must carry, so past the limit it is refused as a wrong one is. A hash made
/// at a lower cost than today's is left for the next login to renew.
pub async fn check_password(app: &App, account: &AccountRecord, password: &str) -> Decided<Passed> {
    let attempt = Attempt::reentry(app, &account.email);
    let verdict = password::verify(
        password.to_owned(),
        account.password_hash.clone(),
        app.config.password_cost,
    )
    .await?;
    match verdict {
        Verdict::Wrong => Err(attempt.count_failure(app, Vec::new()).await),
        Verdict::Right | Verdict::RightButRehash => Ok(attempt.passed()),
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
