//! A profile's sign-up settings and the public sign-up they govern: while `signup_enabled` is
//! false (the default, until the team turns it on) sign-up is refused (403); otherwise it must
//! give every required custom field, in its declared type, and no undeclared one, and each
//! custom value becomes a tag of the new user.

use serde_json::{Map, Value};

use super::super::audit::{Audit, Scope};
use super::super::records::{Action, ProfileRecord, RunUserRecord, SignupSettings, Target};
use super::{NewRunUser, create, fields};
use crate::app::App;
use crate::keys;
use crate::refusal::{Decided, Refusal};
use crate::store::Write;

/// The settings of profile `pid` (sign-up off, no fields, when never saved).
pub async fn settings(app: &App, pid: uuid::Uuid) -> Decided<SignupSettings> {
    match app.table.get(&keys::run_settings(pid)).await? {
        Some(item) => Ok(keys::from_item(item)?),
        None => Ok(SignupSettings::default()),
    }
}

/// Replaces the settings of profile `pid`.
pub async fn save_settings(
    app: &App,
    pid: uuid::Uuid,
    settings: SignupSettings,
    by: &Audit,
) -> Decided<SignupSettings> {
    let settings = fields::settings(settings)?;
    let mut tx = super::super::tx::Tx::new();
    tx.add(Write::put(keys::to_item(
        &keys::run_settings(pid),
        &settings,
    )?))
    .add(by.write(
        app.now(),
        Scope::Profile(pid),
        Action::SettingsUpdated,
        Target::new("settings", pid),
        &["signup_enabled", "fields"],
    )?);
    tx.commit(app.table.as_ref()).await?;
    Ok(settings)
}

/// The string field `name` of a sign-up body (`None` when absent or null).
fn text(body: &mut Map<String, Value>, name: &str) -> Decided<Option<String>> {
    match body.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(Refusal::invalid(name, "must be a string")),
    }
}

fn required(body: &mut Map<String, Value>, name: &str) -> Decided<String> {
    text(body, name)?.ok_or_else(|| Refusal::invalid(name, "this field is required"))
}

/// A sign-up: `{email, name, password, timezone?, company?, phone?, language?, …custom}`.
pub async fn sign_up(
    app: &App,
    profile: &ProfileRecord,
    mut body: Map<String, Value>,
    by: &Audit,
) -> Decided<RunUserRecord> {
    let settings = settings(app, profile.pid).await?;
    if !settings.signup_enabled {
        return Err(Refusal::Forbidden(
            "sign-up is not open on this profile".into(),
        ));
    }
    for managed in ["tags", "active"] {
        if body.contains_key(managed) {
            return Err(Refusal::invalid(
                managed,
                "set by the profile's team, not at sign-up",
            ));
        }
    }
    let input = NewRunUser {
        email: required(&mut body, "email")?,
        name: required(&mut body, "name")?,
        password: Some(required(&mut body, "password")?),
        timezone: text(&mut body, "timezone")?,
        company: text(&mut body, "company")?,
        phone: text(&mut body, "phone")?,
        language: text(&mut body, "language")?,
        tags: Vec::new(),
        active: Some(true),
    };
    let tags = fields::custom_tags(&settings, &body)?;
    create(app, profile, NewRunUser { tags, ..input }, by).await
}
