//! Accounts: sign-up, with the first profile, in one transaction. Logging in and sessions are
//! in [`super::credentials`].

use uuid::Uuid;

use super::profiles::{self, ProfileView};
use super::records::{AccountRecord, EmailClaim};
use super::tx::Tx;
use super::validate;
use crate::app::App;
use crate::catalogue::Service;
use crate::email::Email;
use crate::keys;
use crate::password;
use crate::refusal::{Decided, Refusal};
use crate::store::Write;

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
    create_account(app, email, name, password_hash).await
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
            &EmailClaim { aid: account.aid },
        )?),
        Refusal::Conflict("an account with this e-mail already exists".into()),
    )
    .append(profiles::creation_writes(&account, &view.profile)?);
    tx.commit(app.table.as_ref()).await?;
    Ok((account, view))
}
