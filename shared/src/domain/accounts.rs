//! Accounts: sign-up (with the first profile, in one transaction), login with a throttle,
//! sessions, logout.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::profiles::ProfileView;
use super::records::{
    AccountRecord, EmailClaim, MemberRecord, MembershipRecord, ProfileRecord, Role, SessionRecord,
    TokenRecord,
};
use super::usage::{Service, write_amounts};
use super::validate;
use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::password::{self, Verdict};
use crate::secrets::{self, SecretKind};
use crate::store::{Condition, StoreError, Update, Write};

/// The name of the profile every new account starts with.
pub const FIRST_PROFILE_NAME: &str = "Default";

pub struct SignUp {
    pub email: String,
    pub name: String,
    pub password: String,
}

/// Creates an account (with the configured service pool), its e-mail claim and its first
/// profile (with the included services), all or nothing.
pub async fn sign_up(app: &App, input: SignUp) -> ApiResult<(AccountRecord, ProfileView)> {
    let email = validate::email(&input.email)?;
    let name = validate::name("name", &input.name)?;
    password::check_policy(&input.password)?;
    let password_hash = password::hash(input.password, app.config.password_cost).await?;
    create_account(app, email, name, password_hash).await
}

/// Stores a new account with an already validated e-mail and name and a password hash: the
/// account, its e-mail claim and its first profile in one transaction.
pub async fn create_account(
    app: &App,
    email: String,
    name: String,
    password_hash: String,
) -> ApiResult<(AccountRecord, ProfileView)> {
    let now = app.now();
    let mut account = AccountRecord {
        aid: Uuid::now_v7(),
        email: email.clone(),
        name: name.clone(),
        password_hash,
        created_at: now,
        profile_count: 1,
        failed_logins: 0,
        failed_since: None,
        meters: Default::default(),
    };
    let pool = app.config.pool.clone();
    write_amounts(&mut account.meters, &pool, Service::pool_attr);
    let view = super::profiles::new_profile(app, &account, FIRST_PROFILE_NAME.to_owned(), None);
    write_amounts(
        &mut account.meters,
        &view.profile.limits(),
        Service::alloc_attr,
    );
    let profile = &view.profile;
    let mut writes = vec![
        Write::put_new(keys::to_item(&keys::account(account.aid), &account)?),
        Write::put_new(keys::to_item(
            &keys::email_claim(&email),
            &EmailClaim { aid: account.aid },
        )?),
    ];
    writes.extend(super::profiles::creation_writes(&account, profile)?);
    match app.table.transact(writes).await {
        Ok(()) => Ok((account, view)),
        Err(StoreError::TransactionCancelled { failed }) if failed.contains(&1) => Err(
            ApiError::Conflict("an account with this e-mail already exists".into()),
        ),
        Err(error) => Err(error.into()),
    }
}

/// The writes that make `account` a member of `profile` with `role`, on both sides.
pub fn membership_writes(
    account: &AccountRecord,
    profile: &ProfileRecord,
    role: Role,
    at: DateTime<Utc>,
) -> ApiResult<[Write; 2]> {
    let member = MemberRecord {
        pid: profile.pid,
        aid: account.aid,
        role,
        email: account.email.clone(),
        name: account.name.clone(),
        joined_at: at,
    };
    let membership = MembershipRecord {
        pid: profile.pid,
        aid: account.aid,
        role,
        profile_name: profile.name.clone(),
        logo_url: profile.logo_url.clone(),
        joined_at: at,
    };
    Ok([
        Write::put_new(keys::to_item(
            &keys::profile_member(profile.pid, account.aid),
            &member,
        )?),
        Write::put_new(keys::to_item(
            &keys::account_member(account.aid, profile.pid),
            &membership,
        )?),
    ])
}

pub async fn load(app: &App, aid: Uuid) -> ApiResult<AccountRecord> {
    match app.table.get(&keys::account(aid)).await? {
        Some(item) => keys::from_item(item),
        None => Err(ApiError::Unauthorized(
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
pub async fn login(app: &App, email: &str, password: &str) -> ApiResult<Session> {
    let account = verify_credentials(app, email, password).await?;
    open_session(app, account.aid).await
}

/// A new login session for `aid` (one write).
pub async fn open_session(app: &App, aid: Uuid) -> ApiResult<Session> {
    let now = app.now();
    let expires_at =
        now + chrono::Duration::from_std(app.config.session_ttl).map_err(|_| ApiError::Internal)?;
    let token = secrets::generate(SecretKind::Session).map_err(|_| ApiError::Internal)?;
    let record = TokenRecord::Session(SessionRecord {
        aid,
        created_at: now,
        expires_at,
        ttl: expires_at.timestamp(),
    });
    app.table
        .put(
            keys::to_item(&keys::token(&secrets::digest(&token)), &record)?,
            Some(Condition::NotExists),
        )
        .await?;
    Ok(Session { token, expires_at })
}

/// The account whose e-mail and password these are; counts failures toward the throttle.
pub async fn verify_credentials(
    app: &App,
    email: &str,
    password: &str,
) -> ApiResult<AccountRecord> {
    let cost = app.config.password_cost;
    let claim = match validate::email(email) {
        Ok(email) => app.table.get(&keys::email_claim(&email)).await?,
        Err(_) => None,
    };
    let Some(claim) = claim else {
        password::verify_dummy(password.to_owned(), cost).await?;
        return Err(ApiError::InvalidCredentials);
    };
    let claim: EmailClaim = keys::from_item(claim)?;
    let Some(item) = app.table.get(&keys::account(claim.aid)).await? else {
        password::verify_dummy(password.to_owned(), cost).await?;
        return Err(ApiError::InvalidCredentials);
    };
    let account: AccountRecord = keys::from_item(item)?;
    check_password(app, &account, password).await?;
    Ok(account)
}

/// Verifies `password` as `account`'s, throttled: after too many failures within the window,
/// refuses (429) before even looking at the password.
pub async fn check_password(app: &App, account: &AccountRecord, password: &str) -> ApiResult<()> {
    let now = app.now();
    let window =
        chrono::Duration::from_std(app.config.login_window).map_err(|_| ApiError::Internal)?;
    let window_open = account
        .failed_since
        .is_some_and(|since| since + window > now);
    if window_open && account.failed_logins >= app.config.login_max_failures {
        let reopens = account.failed_since.map_or(now, |since| since + window);
        return Err(ApiError::TooManyAttempts {
            detail: "too many failed attempts on this account; try again later".into(),
            retry_after_seconds: (reopens - now).num_seconds().max(1) as u64,
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
            Err(ApiError::InvalidCredentials)
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
pub async fn logout(app: &App, token_digest: &str) -> ApiResult<()> {
    app.table.delete(&keys::token(token_digest), None).await?;
    Ok(())
}
