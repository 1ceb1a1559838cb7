//! Accounts: sign-up, with the first profile, in one transaction (replacing a stale unverified
//! account of the same e-mail); deleting an account with all it owns. Logging in and sessions
//! are in [`super::credentials`], verification in [`super::verification`], passwords in
//! [`super::recovery`].

use uuid::Uuid;

use super::audit::{Audit, Scope};
use super::profiles::{self, ProfileView};
use super::records::{
    AccountRecord, Action, EmailClaim, InvitationRecord, InvitationStatus, ProfileRecord,
    ResetRequestRecord, Role, Target, TokenRecord,
};
use super::throttle::Passed;
use super::tx::Tx;
use super::{credentials, membership, usage, validate, verification};
use crate::app::App;
use crate::catalogue::Service;
use crate::email::Email;
use crate::keys;
use crate::password;
use crate::refusal::{Decided, Refusal};
use crate::store::{
    Condition, Key, MAX_TRANSACTION_WRITES, Query, StoreError, Update, Write, query_all,
};

/// The name of the profile every new account starts with.
pub const FIRST_PROFILE_NAME: &str = "Default";

pub struct SignUp {
    pub email: String,
    pub name: String,
    pub password: String,
}

/// Creates an account (with the configured service pool), its e-mail claim and its first
/// profile (with the included services), all or nothing.
pub async fn sign_up(app: &App, input: SignUp) -> Decided<(AccountRecord, ProfileView)> {
    let email = Email::parse(&input.email)?;
    let name = validate::name("name", &input.name)?;
    password::check_policy(&input.password)?;
    let password_hash = password::hash(input.password, app.config.password_cost).await?;
    match create_account(app, email.clone(), name.clone(), password_hash.clone()).await {
        Err(Refusal::Conflict(detail)) => {
            // The e-mail has an account: replace it when it is unverified and stale (or its
            // deletion began and never finished), else 409.
            if !replace_stale(app, &email).await? {
                return Err(Refusal::Conflict(detail));
            }
            create_account(app, email, name, password_hash).await
        }
        outcome => outcome,
    }
}

/// Deletes the account holding `email` when it is unverified and older than a verification
/// link, or when its deletion began and never finished. Answers whether the e-mail is free.
async fn replace_stale(app: &App, email: &Email) -> Decided<bool> {
    let Some(claim) = app.table.get(&keys::email_claim(email)).await? else {
        return Ok(true);
    };
    let EmailClaim { aid, .. } = keys::from_item(claim)?;
    let Some(item) = app.table.get(&keys::account(aid)).await? else {
        // A claim without its account cannot be left by our writes (they go together), but
        // should one exist, it holds nothing: free it.
        app.table
            .delete(
                &keys::email_claim(email),
                Some(Condition::Equals("aid".into(), aid.to_string().into())),
            )
            .await
            .map(|_| ())
            .or_else(|error| match error {
                StoreError::ConditionFailed => Ok(()),
                other => Err(other),
            })?;
        return Ok(true);
    };
    let account: AccountRecord = keys::from_item(item)?;
    if !(account.deleting || verification::is_stale(&account, app.now())) {
        return Ok(false);
    }
    match erase(app, &account, Erasure::Stale, &Audit::system()).await {
        Ok(()) => Ok(true),
        // Verified meanwhile: it stays.
        Err(Refusal::Contended(_)) => Ok(false),
        Err(refusal) => Err(refusal),
    }
}

/// Deletes the caller's account, once the password was re-entered: see [`erase`].
pub async fn delete(app: &App, aid: Uuid, password: &str, by: &Audit) -> Decided<()> {
    let account = credentials::load(app, aid).await?;
    let passed = credentials::check_password(app, &account, password).await?;
    erase(app, &account, Erasure::Owner(&passed), by).await
}

/// Why an account is erased.
#[derive(Clone, Copy, Debug)]
pub enum Erasure<'a> {
    /// Its owner asked, with the password (whose throttle conditions guard the first write).
    Owner(&'a Passed),
    /// A sign-up replaces it: only while it is still unverified.
    Stale,
}

/// Deletes an account and all it owns, in an order that a retry completes:
/// 1. the account is marked `deleting` (for a replacement: only while unverified), so nothing
///    verifies it or resets its password from then on;
/// 2. every profile it owns is deleted with everything under it; it leaves every other profile
///    (their `team_members` gauges fall) with its API tokens there (their `tokens` gauges fall);
/// 3. its sessions, the invitations addressed to it, its reset requests, links and the rest of
///    its partition go;
/// 4. last, the account and its e-mail claim go together, in one transaction: there is never a
///    claim without its account, and until this step a retry (the owner deleting again, or a
///    sign-up finding the marked account) finds the account and finishes the job.
///
/// The `account.deleted` entry (by `by`) joins that last transaction, in the account's
/// partition, and outlives the account until its `ttl`.
pub async fn erase(
    app: &App,
    account: &AccountRecord,
    why: Erasure<'_>,
    by: &Audit,
) -> Decided<()> {
    let aid = account.aid;
    let mut guard = vec![Condition::Exists];
    let mut tx = Tx::new();
    match why {
        Erasure::Stale => guard.push(Condition::Equals("email_verified".into(), false.into())),
        Erasure::Owner(passed) => passed.guard(&mut tx),
    }
    tx.add_or(
        Write::update(keys::account(aid), Update::new().set("deleting", true))
            .when(Condition::All(guard)),
        Refusal::Contended("the account changed meanwhile".into()),
    );
    tx.commit(app.table.as_ref()).await?;
    for membership in membership::profiles_of(app, aid).await? {
        if membership.role == Role::Owner {
            // The profile and its pending purge together: should the purge fail half way, the
            // account-side membership may be gone already, and only the pending purge (through
            // the stream) still knows what is left.
            let mut tx = Tx::new();
            tx.add(Write::delete(keys::profile(membership.pid)))
                .add(profiles::pending_purge(app, membership.pid)?);
            tx.commit(app.table.as_ref()).await?;
            profiles::purge(app, membership.pid).await?;
        } else {
            leave(app, aid, membership.pid).await?;
        }
    }
    credentials::revoke_sessions(app, aid, None).await?;
    // Invitations addressed to it, on any profile (they hold its e-mail), with their links.
    let mut doomed = Vec::new();
    let addressed = query_all(
        app.table.as_ref(),
        Query::gsi1(keys::invitee(&account.email)),
    );
    for item in addressed.await? {
        let invitation: InvitationRecord = keys::from_item(item)?;
        if invitation.invitee != aid {
            continue;
        }
        if invitation.status == InvitationStatus::Pending {
            doomed.push(keys::pending_invitation(invitation.pid, &invitation.email));
        }
        doomed.extend(invitation.token_hash.map(|hash| keys::token(&hash)));
        doomed.push(super::due::invitation_expiry_key(
            invitation.iid,
            invitation.expires_at,
        ));
        doomed.push(keys::invitation(invitation.pid, invitation.iid));
    }
    let rest = query_all(
        app.table.as_ref(),
        Query::partition(keys::account_partition(aid)),
    )
    .await?;
    for item in rest {
        let Some(key) = Key::of(&item) else { continue };
        if key == keys::account(aid) {
            continue;
        }
        // An erasure running at the same time (two maintenance runs, a retried request) may
        // have finished and left its record already: that one stays.
        if item.get("action").and_then(|action| action.as_str())
            == Some(Action::AccountDeleted.name().as_str())
        {
            continue;
        }
        if keys::is_reset_request(&key) {
            let request: ResetRequestRecord = keys::from_item(item)?;
            doomed.extend(request.token_hash.map(|hash| keys::token(&hash)));
        }
        doomed.push(key);
    }
    if let Some(hash) = &account.verify_token_hash {
        doomed.push(keys::token(hash));
    }
    for chunk in doomed.chunks(MAX_TRANSACTION_WRITES) {
        let writes = chunk.iter().cloned().map(Write::delete).collect();
        app.table.transact(writes).await?;
    }
    let mut last = Tx::new();
    last.add(Write::delete(keys::account(aid)))
        .add(
            Write::delete(keys::email_claim(&account.email))
                .when(Condition::Equals("aid".into(), aid.to_string().into())),
        )
        // Its clean-up marker, should the maintenance job not be the one erasing it.
        .add(Write::delete(super::due::unverified_key(
            aid,
            account.created_at,
        )))
        .add(by.write(
            app.now(),
            Scope::Account(aid),
            Action::AccountDeleted,
            Target::new("account", aid),
            &[],
        )?);
    last.commit(app.table.as_ref()).await
}

/// `aid` leaves profile `pid` it does not own: its API tokens there go (the `tokens` gauge
/// falls), then both membership items (the `team_members` gauge falls).
async fn leave(app: &App, aid: Uuid, pid: Uuid) -> Decided<()> {
    let Some(item) = app.table.get(&keys::profile(pid)).await? else {
        // The profile is gone: only our side of the membership is left.
        app.table
            .delete(&keys::account_member(aid, pid), None)
            .await?;
        return Ok(());
    };
    let profile: ProfileRecord = keys::from_item(item)?;
    let tokens = query_all(app.table.as_ref(), Query::gsi1(keys::profile_tokens(pid))).await?;
    let mine: Vec<Key> = tokens
        .into_iter()
        .filter(|item| {
            matches!(
                keys::from_item::<TokenRecord>(item.clone()),
                Ok(TokenRecord::Profile(token)) if token.aid == aid
            )
        })
        .filter_map(|item| Key::of(&item))
        .collect();
    let now = app.now();
    let mut profile = profile;
    for chunk in mine.chunks(MAX_TRANSACTION_WRITES - 2) {
        let mut tx = Tx::new();
        for key in chunk {
            tx.add(Write::delete(key.clone()));
        }
        let n = chunk.len() as i64;
        tx.append(usage::gauge_writes(&profile, Service::Tokens, -n, now)?);
        tx.commit(app.table.as_ref()).await?;
        profile = profiles::get(app, pid).await?;
    }
    let mut tx = Tx::new();
    tx.add(Write::delete(keys::profile_member(pid, aid)).when(Condition::Exists))
        .add(Write::delete(keys::account_member(aid, pid)))
        .append(usage::gauge_writes(
            &profile,
            Service::TeamMembers,
            -1,
            now,
        )?);
    match tx.commit(app.table.as_ref()).await {
        Ok(()) => Ok(()),
        // Removed from the team meanwhile: only our side may be left.
        Err(Refusal::Contended(_)) => {
            app.table
                .delete(&keys::account_member(aid, pid), None)
                .await?;
            Ok(())
        }
        Err(refusal) => Err(refusal),
    }
}

/// Stores a new account with an already validated e-mail and name and a password hash: the
/// account, its e-mail claim and its first profile in one transaction.
pub async fn create_account(
    app: &App,
    email: Email,
    name: String,
    password_hash: String,
) -> Decided<(AccountRecord, ProfileView)> {
    let now = app.now();
    let mut account = AccountRecord {
        aid: Uuid::now_v7(),
        email: email.clone(),
        name,
        password_hash,
        created_at: now,
        profile_count: 1,
        failed_logins: 0,
        failed_since: None,
        email_verified: false,
        verify_version: 1,
        verify_token_hash: None,
        deleting: false,
        meters: Default::default(),
    };
    app.config
        .pool
        .write(&mut account.meters, Service::pool_attr);
    let view = profiles::new_profile(app, &account, FIRST_PROFILE_NAME.to_owned(), None);
    view.profile
        .limits()
        .write(&mut account.meters, Service::alloc_attr);
    let mut tx = Tx::new();
    tx.add(Write::put_new(keys::to_item(
        &keys::account(account.aid),
        &account,
    )?))
    .add_or(
        Write::put_new(keys::to_item(
            &keys::email_claim(&email),
            &EmailClaim {
                aid: account.aid,
                password_hash: Some(account.password_hash.clone()),
            },
        )?),
        Refusal::Conflict("an account with this e-mail already exists".into()),
    )
    .append(profiles::creation_writes(&account, &view.profile)?)
    // Deleted by the maintenance job if still unverified by then.
    .add(super::due::unverified_account(account.aid, now)?);
    tx.commit(app.table.as_ref()).await?;
    Ok((account, view))
}
