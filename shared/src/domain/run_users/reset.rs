//! A run user's forgotten password, reset as an account's is: a request item under the
//! profile (`RUNRESET#<rid>`) makes the notifications handler e-mail a single-use link (1 h,
//! at most 5 per user and hour, each counting one `emails` use of the profile); the answer is
//! the same whether or not the e-mail belongs to a run user. Confirming sets the password and
//! ends every session. A link is stale once the user's password changed after it was made
//! (it carries the user's session version when the notifications handler made it).

use uuid::Uuid;

use super::super::audit::{Audit, Scope};
use super::super::records::{
    Action, Actor, ProfileRecord, RunResetRequestRecord, RunResetTokenRecord, RunUserEntry,
    RunUserRecord, Target, TokenRecord,
};
use super::super::recovery::{RESETS_PER_HOUR, link_ttl};
use super::super::tx::{self, Tx};
use super::super::usage::{self, Service};
use crate::app::App;
use crate::email::Email;
use crate::keys;
use crate::password;
use crate::refusal::{Decided, Refusal};
use crate::secrets::{self, SecretKind};
use crate::store::{Condition, Key, Update, Write};

fn refused() -> Refusal {
    Refusal::Unauthenticated("the reset link is not valid".into())
}

/// Asks for a reset e-mail for the run user of `profile` with `email`. Only a malformed
/// address is refused; a known and an unknown e-mail make the same calls and get the same
/// answer, and so do requests past the hourly or the profile's e-mail limit (nothing is sent).
///
/// The e-mail's claim is read (ahead, with the profile: `Route::reads_ahead_by_email`), then
/// one transaction writes the request on the condition that the claimed user exists; for an
/// unknown e-mail it names a user that cannot exist, so it writes nothing.
pub async fn request(app: &App, profile: &ProfileRecord, email: &str) -> Decided<()> {
    let email = Email::parse(email)?;
    let claim = app
        .table
        .get(&keys::run_email_claim(profile.pid, &email))
        .await?;
    let uid = match claim {
        Some(item) => keys::from_item::<RunUserEntry>(item)?.uid,
        None => Uuid::nil(),
    };
    let now = app.now();
    let expires_at = now + link_ttl();
    let request = RunResetRequestRecord {
        rid: Uuid::now_v7(),
        pid: profile.pid,
        uid,
        email,
        profile_name: profile.name.clone(),
        created_at: now,
        expires_at,
        token_hash: None,
        ttl: expires_at.timestamp(),
    };
    let Ok(emails) = usage::monthly_writes(profile, Service::Emails, 1, now) else {
        return Ok(());
    };
    let mut tx = Tx::new();
    tx.add(Write::Check {
        key: keys::run_user(profile.pid, uid),
        condition: Condition::Exists,
    })
    .add(Write::put_new(keys::to_item(
        &keys::run_reset_request(profile.pid, request.rid),
        &request,
    )?))
    .add(Write::Update {
        key: keys::run_reset_rate(profile.pid, uid, &keys::hour_of(now)),
        update: Update::new()
            .add("count", 1)
            .set("ttl", (now + chrono::Duration::hours(2)).timestamp()),
        condition: Some(Condition::Below("count".into(), RESETS_PER_HOUR)),
    })
    .append(emails);
    match tx.commit(app.table.as_ref()).await {
        // No such user, past a limit, or raced: nothing is sent, and nothing tells.
        Ok(())
        | Err(Refusal::Contended(_))
        | Err(Refusal::LimitReached { .. })
        | Err(Refusal::TooManyAttempts { .. }) => Ok(()),
        Err(refusal) => Err(refusal),
    }
}

/// Sets a new password with a reset link of profile `pid`: the link goes, every session of the
/// user ends (and with them every other link asked for before).
pub async fn confirm(
    app: &App,
    pid: Uuid,
    secret: &str,
    new_password: &str,
    by: &Audit,
) -> Decided<()> {
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
    let TokenRecord::RunReset(link) = keys::from_item(item)? else {
        return Err(refused());
    };
    if link.pid != pid {
        return Err(refused());
    }
    if link.expires_at <= app.now() {
        return Err(Refusal::Unauthenticated(
            "the reset link has expired; ask for a new one".into(),
        ));
    }
    let hash = password::hash(new_password.to_owned(), app.config.password_cost).await?;
    let mut tx = Tx::new();
    tx.add_or(
        Write::delete(keys::token(&digest)).when(Condition::Exists),
        refused(),
    )
    .add(Write::delete(keys::run_reset_request(pid, link.rid)))
    .add_or(
        Write::Update {
            key: keys::run_user(pid, link.uid),
            update: Update::new()
                .set("password_hash", hash)
                .set("updated_at", app.now().to_rfc3339())
                .add("session_version", 1)
                .add("revision", 1),
            condition: Some(Condition::All(vec![
                Condition::Exists,
                Condition::Equals("session_version".into(), link.version.into()),
            ])),
        },
        refused(),
    )
    .add(by.by(Actor::run_user(link.uid)).write(
        app.now(),
        Scope::Profile(pid),
        Action::RunUserPasswordSet,
        Target::new("run_user", link.uid),
        &["password"],
    )?);
    tx.commit(app.table.as_ref()).await
}

/// What the notifications handler needs to e-mail a reset link: a fresh secret, its hash
/// stored in the same transaction as the change record's sent-marker. The link carries the
/// user's session version as it is now (read here, not by the request, which reads only the
/// e-mail's claim). `None` when the request or the user is gone (used, or deleted) or this
/// record was handled before.
pub async fn prepare_link(
    app: &App,
    request: &RunResetRequestRecord,
    marker: Write,
) -> Decided<Option<String>> {
    let Some(item) = app
        .table
        .get(&keys::run_user(request.pid, request.uid))
        .await?
    else {
        return Ok(None);
    };
    let user: RunUserRecord = keys::from_item(item)?;
    let link = RunResetTokenRecord {
        pid: request.pid,
        uid: request.uid,
        rid: request.rid,
        version: user.session_version,
        expires_at: request.expires_at,
        ttl: request.expires_at.timestamp(),
    };
    let holder = keys::run_reset_request(request.pid, request.rid);
    tx::prepare_link(
        app.table.as_ref(),
        marker,
        (SecretKind::PasswordReset, &[]),
        &TokenRecord::RunReset(link),
        (holder, "token_hash", Condition::Exists),
    )
    .await
}

/// Undoes [`prepare_link`] when the e-mail could not be sent, so a retry prepares it again.
pub async fn unprepare_link(
    app: &App,
    request: &RunResetRequestRecord,
    secret: &str,
    marker: Key,
) -> Decided<()> {
    tx::unprepare_link(
        app.table.as_ref(),
        marker,
        secret,
        &keys::run_reset_request(request.pid, request.rid),
        "token_hash",
    )
    .await
}
