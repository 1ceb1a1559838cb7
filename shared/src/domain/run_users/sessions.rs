//! A run user's sessions: login (the account rules: argon2id, the same throttle, no
//! enumeration), the user's own changes and password, logout.

use chrono::{DateTime, Utc};

use super::super::access::RunCaller;
use super::super::audit::Audit;
use super::super::records::{
    ProfileRecord, RunSessionRecord, RunUserEntry, RunUserRecord, TokenRecord,
};
use super::super::throttle::{Attempt, Passed, SourceAddress};
use super::super::tx::Tx;
use super::{RunUserChanges, replace_password, update};
use crate::app::App;
use crate::email::Email;
use crate::keys;
use crate::password::{self, Verdict};
use crate::refusal::{Decided, Refusal};
use crate::secrets::{self, SecretKind};
use crate::store::{Condition, Update, Write};

/// A new run-user session: the secret (shown once) and when it expires.
pub struct RunSessionOpened {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// What a run user may change about itself: never its tags, `active` or e-mail.
#[derive(Clone, Debug, Default)]
pub struct OwnChanges {
    pub name: Option<String>,
    pub timezone: Option<Option<String>>,
    pub company: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub language: Option<Option<String>>,
}

/// Checks a run user's e-mail and password on profile `profile`. An unknown e-mail and a wrong
/// password get the same answer after the same work; a right password of a deactivated user
/// gets `user-inactive`. The throttle's counters are read with the user, and the attempt is
/// counted in the one write after the verification (`throttle`).
pub async fn login(
    app: &App,
    profile: &ProfileRecord,
    email: &str,
    password: &str,
    source: &SourceAddress,
) -> Decided<RunSessionOpened> {
    let attempt = Attempt::run_login(app, profile.pid, email, source);
    let (user, rehashed) = match find_and_verify(app, &attempt, profile, email, password).await {
        Err(Refusal::InvalidCredentials) => {
            return Err(attempt.count_failure(app, Vec::new()).await);
        }
        Err(refusal) => return Err(refusal),
        Ok(found) => found,
    };
    let passed = attempt.passed();
    if !user.active {
        // Tells that the password was right: only below the limit, as every verdict.
        let mut tx = Tx::new();
        passed.guard(&mut tx);
        tx.commit(app.table.as_ref()).await?;
        return Err(Refusal::UserInactive);
    }
    open_session(app, &user, rehashed, &passed).await
}

/// Reads the user behind `email` (its claim read ahead, with the profile; then the user at the
/// same time as the throttle's counters, which refuse a full one first) and verifies
/// `password`: the same reads and one argon2 verification, whether or not the user exists or
/// has a password. Returns the user and, when its hash was made at a lower cost than today's, a
/// new hash.
async fn find_and_verify(
    app: &App,
    attempt: &Attempt,
    profile: &ProfileRecord,
    email: &str,
    password: &str,
) -> Decided<(RunUserRecord, Option<String>)> {
    let cost = app.config.password_cost;
    let claim = match Email::parse(email) {
        Ok(email) => {
            app.table
                .get(&keys::run_email_claim(profile.pid, &email))
                .await?
        }
        Err(_) => None,
    };
    let uid = match claim {
        Some(item) => Some(keys::from_item::<RunUserEntry>(item)?.uid),
        None => None,
    };
    let user_key = keys::run_user(profile.pid, uid.unwrap_or(uuid::Uuid::nil()));
    let (admitted, item) = tokio::join!(attempt.admit(app), app.table.get(&user_key));
    admitted?;
    let item = item?;
    let user = match item {
        Some(item) if uid.is_some() => Some(keys::from_item::<RunUserRecord>(item)?),
        _ => None,
    };
    let Some((user, hash)) = user.and_then(|user| {
        let hash = user.password_hash.clone()?;
        Some((user, hash))
    }) else {
        password::verify_dummy(password.to_owned(), cost).await?;
        return Err(Refusal::InvalidCredentials);
    };
    match password::verify(password.to_owned(), hash, cost).await? {
        Verdict::Wrong => Err(Refusal::InvalidCredentials),
        Verdict::Right => Ok((user, None)),
        Verdict::RightButRehash => {
            let rehashed = password::hash(password.to_owned(), cost).await?;
            Ok((user, Some(rehashed)))
        }
    }
}

/// Opens a session for `user` and records the login, in one transaction guarded by the
/// user's sessions not having ended and the user still being active.
async fn open_session(
    app: &App,
    user: &RunUserRecord,
    rehashed: Option<String>,
    passed: &Passed,
) -> Decided<RunSessionOpened> {
    let now = app.now();
    let expires_at =
        now + chrono::Duration::from_std(app.config.session_ttl).map_err(|_| Refusal::Internal)?;
    let token = secrets::generate_claiming(SecretKind::RunUser, &[user.pid, user.uid])
        .map_err(|_| Refusal::Internal)?;
    let record = TokenRecord::RunSession(RunSessionRecord {
        pid: user.pid,
        uid: user.uid,
        version: user.session_version,
        created_at: now,
        expires_at,
        ttl: expires_at.timestamp(),
    });
    let mut update = Update::new().set("last_login", now.to_rfc3339());
    if let Some(hash) = rehashed {
        update = update.set("password_hash", hash);
    }
    let mut tx = Tx::new();
    passed.guard(&mut tx);
    tx.add(Write::put_new(keys::to_item(
        &keys::token(&secrets::digest(&token)),
        &record,
    )?))
    .add_or(
        Write::Update {
            key: keys::run_user(user.pid, user.uid),
            update,
            condition: Some(Condition::All(vec![
                Condition::Exists,
                Condition::Equals("session_version".into(), user.session_version.into()),
                Condition::Equals("active".into(), true.into()),
            ])),
        },
        Refusal::InvalidCredentials,
    );
    tx.commit(app.table.as_ref()).await?;
    Ok(RunSessionOpened { token, expires_at })
}

/// The caller's own changes (name, timezone, company, phone, language).
pub async fn update_own(
    app: &App,
    caller: &RunCaller,
    changes: OwnChanges,
    by: &Audit,
) -> Decided<RunUserRecord> {
    update(
        app,
        caller.session.pid,
        caller.session.uid,
        RunUserChanges {
            name: changes.name,
            timezone: changes.timezone,
            company: changes.company,
            phone: changes.phone,
            language: changes.language,
            ..RunUserChanges::default()
        },
        by,
    )
    .await
}

/// Changes the caller's password (the current one re-entered, throttled like a login): every
/// other session of the user ends, the caller's own stays.
pub async fn change_own_password(
    app: &App,
    caller: &RunCaller,
    source: &SourceAddress,
    current_password: &str,
    new_password: &str,
    by: &Audit,
) -> Decided<()> {
    password::check_policy_of("new_password", new_password)?;
    let pid = caller.session.pid;
    let attempt = Attempt::run_login(app, pid, caller.user.email.as_str(), source);
    // The user as its session was cleared, a moment ago: its hash is checked, and the new one
    // written on the condition that nothing changed since (else read again). The throttle's
    // counters are not read first: the one write counts the attempt, or carries their
    // conditions.
    let user = caller.user.clone();
    let verdict = match user.password_hash.clone() {
        Some(hash) => {
            password::verify(current_password.to_owned(), hash, app.config.password_cost).await?
        }
        None => {
            password::verify_dummy(current_password.to_owned(), app.config.password_cost).await?;
            Verdict::Wrong
        }
    };
    if verdict == Verdict::Wrong {
        return Err(attempt.count_failure(app, Vec::new()).await);
    }
    let hash = password::hash(new_password.to_owned(), app.config.password_cost).await?;
    let keep = (caller.session.token_digest.as_str(), caller.session.version);
    replace_password(app, user, hash, Some(keep), Some(&attempt.passed()), by).await
}

/// Ends the caller's session.
pub async fn logout(app: &App, caller: &RunCaller) -> Decided<()> {
    app.table
        .delete(&keys::token(&caller.session.token_digest), None)
        .await?;
    Ok(())
}
