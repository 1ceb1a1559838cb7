//! Run users: a profile's end users, isolated per profile (the same e-mail may be a run user of
//! many profiles, each a separate record with its own password), counted by the `run_users`
//! gauge.
//!
//! - this file: the record's life (create, read, change, set a password, delete), each one
//!   transaction with its e-mail claim, its index entries ([`index`]) and its gauge;
//! - [`fields`]: the bounds of every value and the check of a sign-up against the settings;
//! - [`signup`]: the profile's sign-up settings and the public sign-up;
//! - [`sessions`]: login, the run user's own changes, logout;
//! - [`reset`]: password reset through an e-mailed link;
//! - [`list`]: the filtered, paged list, read by [`reader`];
//! - [`export`]: the CSV export, read by the same reader.
//!
//! Sessions end at once: every session carries the user's `session_version`, and a new
//! password or a deactivation raises it (the session check reads the user anyway).

pub mod export;
pub mod fields;
pub mod index;
pub mod list;
pub mod reader;
pub mod reset;
pub mod sessions;
pub mod signup;

use uuid::Uuid;

use super::audit::{Audit, Scope};
use super::records::{
    Action, Actor, ActorKind, ProfileRecord, RunUserEntry, RunUserRecord, Tag, Target,
};
use super::throttle::Passed;
use super::tx::Tx;
use super::usage::{self, Service};
use super::validate;
use crate::app::App;
use crate::email::Email;
use crate::keys;
use crate::password;
use crate::refusal::{Decided, Refusal};
use crate::store::{Condition, Write};

/// How often a change that lost a race with another change of the same user is tried again.
const ATTEMPTS: usize = 3;

/// A run user to create (by the team, or by a sign-up).
#[derive(Clone, Debug, Default)]
pub struct NewRunUser {
    pub email: String,
    pub name: String,
    pub password: Option<String>,
    pub timezone: Option<String>,
    pub company: Option<String>,
    pub phone: Option<String>,
    pub language: Option<String>,
    pub tags: Vec<Tag>,
    pub active: Option<bool>,
}

/// A change of a run user: absent fields stay, `Some(None)` clears an optional one.
#[derive(Clone, Debug, Default)]
pub struct RunUserChanges {
    pub email: Option<String>,
    pub name: Option<String>,
    pub timezone: Option<Option<String>>,
    pub company: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub language: Option<Option<String>>,
    pub tags: Option<Vec<Tag>>,
    pub active: Option<bool>,
}

fn conflict() -> Refusal {
    Refusal::Conflict("a run user of this profile already has this e-mail".into())
}

fn optional(
    value: Option<String>,
    check: fn(&str) -> Decided<Option<String>>,
) -> Decided<Option<String>> {
    match value {
        Some(value) => check(&value),
        None => Ok(None),
    }
}

fn phone(value: &str) -> Decided<Option<String>> {
    fields::phone("phone", value)
}

/// Creates a run user: the record, its e-mail claim (409 when the profile has the e-mail),
/// its index entries and the `run_users` gauge (429 at the limit), in one transaction.
pub async fn create(
    app: &App,
    profile: &ProfileRecord,
    input: NewRunUser,
    by: &Audit,
) -> Decided<RunUserRecord> {
    let email = Email::parse(&input.email)?;
    let name = validate::name("name", &input.name)?;
    let tags = fields::tags(&input.tags)?;
    let (timezone, company, phone, language) = (
        optional(input.timezone, fields::timezone)?,
        optional(input.company, fields::company)?,
        optional(input.phone, phone)?,
        optional(input.language, fields::language)?,
    );
    if let Some(password) = &input.password {
        password::check_policy(password)?;
    }
    let now = app.now();
    let mut user = RunUserRecord {
        timezone,
        company,
        phone,
        language,
        tags,
        active: input.active.unwrap_or(true),
        ..RunUserRecord::new(profile.pid, email, name, now)
    };
    let registry = index::register_keys(app, &user).await?;
    // The gauge is checked before the (costly) hash: a profile at its limit refuses cheaply.
    let gauge = usage::gauge_writes(profile, Service::RunUsers, 1, now)?;
    if let Some(password) = input.password {
        user.password_hash = Some(password::hash(password, app.config.password_cost).await?);
    }
    // On a route open to anyone (sign-up) the one who acts is the user the change makes.
    let by = match by.actor.kind {
        ActorKind::System => by.by(Actor::run_user(user.uid)),
        _ => by.clone(),
    };
    let mut tx = Tx::new();
    tx.add(Write::put_new(keys::to_item(
        &keys::run_user(user.pid, user.uid),
        &user,
    )?))
    .add_or(
        Write::put_new(keys::to_item(
            &keys::run_email_claim(user.pid, &user.email),
            &RunUserEntry { uid: user.uid },
        )?),
        conflict(),
    )
    .append(gauge)
    .add(entry(
        &by,
        &user,
        Action::RunUserCreated,
        &given_fields(&user),
    )?);
    tx.add_all(registry);
    index::add_changes(&mut tx, index::changes(None, Some(&user))?);
    tx.commit(app.table.as_ref()).await?;
    Ok(user)
}

/// The run user `uid` of profile `pid` (404 when there is none).
pub async fn get(app: &App, pid: Uuid, uid: Uuid) -> Decided<RunUserRecord> {
    match app.table.get(&keys::run_user(pid, uid)).await? {
        Some(item) => Ok(keys::from_item(item)?),
        None => Err(Refusal::NotFound("no such run user".into())),
    }
}

/// The write that stores `user` as its new revision, guarded by the revision it was read at.
fn store_write(user: &RunUserRecord, read_at: i64) -> Decided<Write> {
    Ok(
        Write::put(keys::to_item(&keys::run_user(user.pid, user.uid), user)?)
            .when(Condition::Equals("revision".into(), read_at.into())),
    )
}

/// Applies `changes` to run user `uid`: the record, its claim and entries together. A
/// deactivation ends every session of the user.
pub async fn update(
    app: &App,
    pid: Uuid,
    uid: Uuid,
    changes: RunUserChanges,
    by: &Audit,
) -> Decided<RunUserRecord> {
    let email = changes.email.as_deref().map(Email::parse).transpose()?;
    let name = changes
        .name
        .as_deref()
        .map(|name| validate::name("name", name))
        .transpose()?;
    let tags = changes.tags.as_deref().map(fields::tags).transpose()?;
    let check = |value: Option<Option<String>>, check: fn(&str) -> Decided<Option<String>>| {
        value.map(|value| optional(value, check)).transpose()
    };
    let timezone = check(changes.timezone, fields::timezone)?;
    let company = check(changes.company, fields::company)?;
    let phone_number = check(changes.phone, phone)?;
    let language = check(changes.language, fields::language)?;
    let named = [
        ("email", email.is_some()),
        ("name", name.is_some()),
        ("tags", tags.is_some()),
        ("timezone", timezone.is_some()),
        ("company", company.is_some()),
        ("phone", phone_number.is_some()),
        ("language", language.is_some()),
        ("active", changes.active.is_some()),
    ];
    let changed: Vec<&str> = named
        .iter()
        .filter(|(_, set)| *set)
        .map(|(f, _)| *f)
        .collect();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let old = get(app, pid, uid).await?;
        let mut user = old.clone();
        if let Some(email) = &email {
            user.email = email.clone();
        }
        if let Some(name) = &name {
            user.name = name.clone();
        }
        if let Some(tags) = &tags {
            user.tags = tags.clone();
        }
        for (field, value) in [
            (&mut user.timezone, &timezone),
            (&mut user.company, &company),
            (&mut user.phone, &phone_number),
            (&mut user.language, &language),
        ] {
            if let Some(value) = value {
                *field = value.clone();
            }
        }
        if let Some(active) = changes.active {
            if old.active && !active {
                user.session_version += 1;
            }
            user.active = active;
        }
        user.updated_at = app.now();
        user.revision += 1;
        let mut tx = Tx::new();
        tx.add(store_write(&user, old.revision)?);
        if user.email != old.email {
            tx.add_or(
                Write::put_new(keys::to_item(
                    &keys::run_email_claim(pid, &user.email),
                    &RunUserEntry { uid },
                )?),
                conflict(),
            )
            .add(Write::delete(keys::run_email_claim(pid, &old.email)));
        }
        if tags.is_some() {
            tx.add_all(index::register_keys(app, &user).await?);
        }
        tx.add(entry(by, &user, Action::RunUserUpdated, &changed)?);
        let left = index::add_changes(&mut tx, index::changes(Some(&old), Some(&user))?);
        match tx.commit(app.table.as_ref()).await {
            Ok(()) => {
                index::apply_stale_deletes(app, left).await?;
                return Ok(user);
            }
            Err(Refusal::Contended(_)) if attempt < ATTEMPTS => continue,
            Err(refusal) => return Err(refusal),
        }
    }
}

/// Sets run user `uid`'s password (the team's doing): every session of the user ends.
pub async fn set_password(
    app: &App,
    pid: Uuid,
    uid: Uuid,
    new_password: &str,
    by: &Audit,
) -> Decided<()> {
    password::check_policy(new_password)?;
    let user = get(app, pid, uid).await?;
    let hash = password::hash(new_password.to_owned(), app.config.password_cost).await?;
    replace_password(app, user, hash, None, None, by).await
}

/// Stores a new password hash for `user` (as read before the hash was made; read again if it
/// changed meanwhile) and raises its session version, so every session ends but `keep` (the
/// session, by its token digest and version, that changed its own password), which moves to
/// the new version in the same transaction. A re-entered password's throttle conditions
/// (`passed`) guard it.
pub(crate) async fn replace_password(
    app: &App,
    user: RunUserRecord,
    hash: String,
    keep: Option<(&str, i64)>,
    passed: Option<&Passed>,
    by: &Audit,
) -> Decided<()> {
    let (pid, uid) = (user.pid, user.uid);
    let mut read = Some(user);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut user = match read.take() {
            Some(user) => user,
            None => get(app, pid, uid).await?,
        };
        if keep.is_some_and(|(_, version)| version != user.session_version) {
            return Err(Refusal::Unauthenticated("the session has ended".into()));
        }
        let read_at = user.revision;
        user.password_hash = Some(hash.clone());
        user.session_version += 1;
        user.revision += 1;
        user.updated_at = app.now();
        let mut tx = Tx::new();
        if let Some(passed) = passed {
            passed.guard(&mut tx);
        }
        tx.add(store_write(&user, read_at)?).add(entry(
            by,
            &user,
            Action::RunUserPasswordSet,
            &["password"],
        )?);
        if let Some((digest, _)) = keep {
            tx.add_or(
                Write::Update {
                    key: keys::token(digest),
                    update: crate::store::Update::new().set("version", user.session_version),
                    condition: Some(Condition::Exists),
                },
                Refusal::Unauthenticated("the session has ended".into()),
            );
        }
        match tx.commit(app.table.as_ref()).await {
            Ok(()) => return Ok(()),
            Err(Refusal::Contended(_)) if attempt < ATTEMPTS => continue,
            Err(refusal) => return Err(refusal),
        }
    }
}

/// Deletes run user `uid` with its claim and entries; the `run_users` gauge falls and every
/// session of the user ends (the session check finds no user).
pub async fn delete(app: &App, profile: &ProfileRecord, uid: Uuid, by: &Audit) -> Decided<()> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let user = get(app, profile.pid, uid).await?;
        let mut tx = Tx::new();
        tx.add(
            Write::delete(keys::run_user(user.pid, uid))
                .when(Condition::Equals("revision".into(), user.revision.into())),
        )
        .add(Write::delete(keys::run_email_claim(user.pid, &user.email)))
        .append(usage::gauge_writes(
            profile,
            Service::RunUsers,
            -1,
            app.now(),
        )?)
        .add(entry(by, &user, Action::RunUserDeleted, &[])?);
        let left = index::add_changes(&mut tx, index::changes(Some(&user), None)?);
        match tx.commit(app.table.as_ref()).await {
            Ok(()) => return index::apply_stale_deletes(app, left).await,
            Err(Refusal::Contended(_)) if attempt < ATTEMPTS => continue,
            Err(refusal) => return Err(refusal),
        }
    }
}

/// The profile's audit entry of `action` on run user `user` (changed fields by name).
fn entry(by: &Audit, user: &RunUserRecord, action: Action, fields: &[&str]) -> Decided<Write> {
    by.write(
        user.updated_at,
        Scope::Profile(user.pid),
        action,
        Target::new("run_user", user.uid),
        fields,
    )
}

/// The names of the fields a new user was given.
fn given_fields(user: &RunUserRecord) -> Vec<&'static str> {
    [
        ("email", true),
        ("name", true),
        ("password", user.password_hash.is_some()),
        ("timezone", user.timezone.is_some()),
        ("company", user.company.is_some()),
        ("phone", user.phone.is_some()),
        ("language", user.language.is_some()),
        ("tags", !user.tags.is_empty()),
        ("active", !user.active),
    ]
    .into_iter()
    .filter_map(|(field, given)| given.then_some(field))
    .collect()
}
