//! The run users, the team's side (the `run-users` function; creation and the password by
//! `passwords`, [`password_routes`]): sign-up settings, and the profile's run users
//! listed, created, read, edited, given a password, deleted. Any role on the profile (API
//! tokens by their permission); every route counts one `api_requests` use.

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, get, patch, post, put};
use chrono::{DateTime, Utc};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::audit::Audited;
use super::extract::{Json, PathId, Primed, double_option};
use super::problem::{ApiError, ApiResult};
use super::{Doc, Route, schema};
use crate::app::App;
use crate::domain::access::{Access, Area, ProfileCaller};
use crate::domain::records::{FieldType, RunUserRecord, SignupSettings, Tag};
use crate::domain::run_users::list::{self, ListQuery, Order};
use crate::domain::run_users::{self, NewRunUser, RunUserChanges, signup};
use crate::keys;
use crate::refusal::Refusal;

pub fn routes() -> Vec<Route> {
    let member = Access::member(Area::App).metered();
    let route = Route::of(super::RUN_USERS.name);
    vec![
        route(
            Method::PUT,
            "/v1/profiles/{pid}/run/settings",
            Access::admin(Area::App).metered(),
            put(save_settings),
            Doc::new(
                "putRunSettings",
                "Replace the profile's sign-up settings",
                schema::<SettingsView>,
            )
            .body(schema::<SignupSettings>),
        ),
        route(
            Method::GET,
            "/v1/profiles/{pid}/run/users",
            member,
            get(list_users),
            Doc::new(
                "listRunUsers",
                "A filtered page of the profile's run users",
                list_schema,
            )
            .describe(
                "Filters (all ANDed): `q` (a case-insensitive prefix of the name or the e-mail), \
                 `active`, and any number of `tag.KEY=VALUE`. With `q` (and no other `order` \
                 than `name` or `email`) users come in the order of their matching name or \
                 e-mail; with a tag filter in creation order (or `-created_at`). A page may hold \
                 fewer users than `limit` while `next_cursor` is set: read on until it is null.",
            )
            .query("q", "A case-insensitive prefix of the name or the e-mail", false, serde_json::json!({"type": "string", "maxLength": 100}))
            .query("active", "Only active (true) or deactivated (false) users", false, serde_json::json!({"type": "boolean"}))
            .query("order", "The order of the page", false, serde_json::json!({"type": "string", "enum": ["created_at", "-created_at", "name", "email"]}))
            .query("limit", "Users per page, 1 to 100 (default 20)", false, serde_json::json!({"type": "integer", "minimum": 1, "maximum": 100}))
            .query("cursor", "The `next_cursor` of the previous page (same query)", false, serde_json::json!({"type": "string"})),
        ),
        route(
            Method::GET,
            "/v1/profiles/{pid}/run/users/{uid}",
            member,
            get(read),
            Doc::new("getRunUser", "A run user", run_user_schema),
        )
.reads_ahead(|ids| ids.item(keys::run_user)),
        route(
            Method::PATCH,
            "/v1/profiles/{pid}/run/users/{uid}",
            member,
            patch(update),
            Doc::new(
                "updateRunUser",
                "Edit a run user's info, `tags` (the whole list) or `active`; deactivation ends its sessions",
                run_user_schema,
            )
            .body(schema::<RunUserChangesBody>)
            .errors(&[StatusCode::CONFLICT]),
        )
.reads_ahead(|ids| ids.item(keys::run_user)),
        route(
            Method::DELETE,
            "/v1/profiles/{pid}/run/users/{uid}",
            member,
            delete(remove),
            Doc::no_content("deleteRunUser", "Delete a run user; its sessions end"),
        )
.reads_ahead(|ids| ids.item(keys::run_user)),
    ]
}

/// The routes of this module that hash or verify a password: served by the `passwords` function
/// ([`super::PASSWORDS`]), at the memory that gives argon2id a whole core.
pub fn password_routes() -> Vec<Route> {
    let member = Access::member(Area::App).metered();
    let route = Route::of(super::PASSWORDS.name);
    vec![
        route(
            Method::POST,
            "/v1/profiles/{pid}/run/users",
            member,
            post(create),
            Doc::new("createRunUser", "Create a run user", run_user_schema)
                .status(StatusCode::CREATED)
                .body(schema::<NewRunUserBody>)
                .errors(&[StatusCode::CONFLICT]),
        ),
        route(
            Method::PUT,
            "/v1/profiles/{pid}/run/users/{uid}/password",
            member,
            put(set_password),
            Doc::no_content(
                "setRunUserPassword",
                "Set a run user's password; its sessions end",
            )
            .body(schema::<NewPasswordBody>),
        )
        .reads_ahead(|ids| ids.item(keys::run_user)),
    ]
}

/// A run user as clients see it: never its password hash.
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "RunUser")]
pub struct RunUserView {
    id: Uuid,
    email: String,
    name: String,
    timezone: Option<String>,
    company: Option<String>,
    phone: Option<String>,
    language: Option<String>,
    tags: Vec<Tag>,
    active: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    last_login: Option<DateTime<Utc>>,
}

impl From<&RunUserRecord> for RunUserView {
    fn from(user: &RunUserRecord) -> Self {
        RunUserView {
            id: user.uid,
            email: user.email.to_string(),
            name: user.name.clone(),
            timezone: user.timezone.clone(),
            company: user.company.clone(),
            phone: user.phone.clone(),
            language: user.language.clone(),
            tags: user.tags.clone(),
            active: user.active,
            created_at: user.created_at,
            updated_at: user.updated_at,
            last_login: user.last_login,
        }
    }
}

/// Sign-up settings as answered (every field present).
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "SignupSettingsView")]
pub(super) struct SettingsView {
    signup_enabled: bool,
    fields: Vec<FieldView>,
}

#[derive(Serialize, JsonSchema)]
#[schemars(rename = "SignupFieldView")]
struct FieldView {
    key: String,
    label: String,
    #[serde(rename = "type")]
    kind: FieldType,
    required: bool,
    options: Option<Vec<String>>,
}

impl From<SignupSettings> for SettingsView {
    fn from(settings: SignupSettings) -> Self {
        SettingsView {
            signup_enabled: settings.signup_enabled,
            fields: settings
                .fields
                .into_iter()
                .map(|field| FieldView {
                    key: field.key,
                    label: field.label,
                    kind: field.kind,
                    required: field.required,
                    options: field.options,
                })
                .collect(),
        }
    }
}

pub(super) fn run_user_schema(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<RunUserView>()
}

fn list_schema(generator: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "properties": {
            "users": generator.subschema_for::<Vec<RunUserView>>(),
            "next_cursor": { "type": ["string", "null"] },
        },
        "required": ["users", "next_cursor"],
    })
}

async fn save_settings(
    State(app): State<App>,
    Audited(by): Audited,
    Extension(caller): Extension<ProfileCaller>,
    Json(body): Json<SignupSettings>,
) -> ApiResult<impl IntoResponse> {
    let settings = signup::save_settings(&app, caller.pid, body, &by).await?;
    Ok(axum::Json(SettingsView::from(settings)))
}

/// The list's query: `q`, `active`, `order`, `limit`, `cursor` and `tag.KEY=VALUE`; anything
/// else is refused, naming it.
pub(super) fn list_query(pairs: Vec<(String, String)>) -> Result<ListQuery, Refusal> {
    let mut query = ListQuery::default();
    for (name, value) in pairs {
        match name.as_str() {
            "q" => query.q = Some(value),
            "active" => {
                query.active = Some(match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(Refusal::invalid("active", "`true` or `false`")),
                })
            }
            "order" => query.order = Some(Order::parse(&value)?),
            "limit" => {
                query.limit = Some(value.parse().map_err(|_| {
                    Refusal::invalid("limit", format!("from 1 to {}", list::MAX_LIMIT))
                })?)
            }
            // An empty cursor is the first page (`?cursor=` from a template with nothing in it).
            "cursor" => query.cursor = Some(value).filter(|cursor| !cursor.is_empty()),
            other => match other.strip_prefix("tag.") {
                Some(key) if !key.is_empty() => query.tags.push(Tag {
                    key: key.to_owned(),
                    value,
                }),
                _ => {
                    return Err(Refusal::invalid(
                        other,
                        "unknown parameter (q, active, order, limit, cursor, tag.KEY)",
                    ));
                }
            },
        }
    }
    Ok(query)
}

async fn list_users(
    State(app): State<App>,
    Extension(caller): Extension<ProfileCaller>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<impl IntoResponse> {
    let page = list::list(&app, caller.pid, list_query(pairs)?).await?;
    let users: Vec<RunUserView> = page.users.iter().map(RunUserView::from).collect();
    Ok(axum::Json(serde_json::json!({
        "users": users,
        "next_cursor": page.next_cursor,
    })))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NewRunUser")]
struct NewRunUserBody {
    email: String,
    name: String,
    /// Without one, the user signs in only after a password reset.
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    company: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    tags: Option<Vec<Tag>>,
    #[serde(default)]
    active: Option<bool>,
}

async fn create(
    State(app): State<App>,
    Audited(by): Audited,
    Extension(caller): Extension<ProfileCaller>,
    Json(body): Json<NewRunUserBody>,
) -> ApiResult<impl IntoResponse> {
    let input = NewRunUser {
        email: body.email,
        name: body.name,
        password: body.password,
        timezone: body.timezone,
        company: body.company,
        phone: body.phone,
        language: body.language,
        tags: body.tags.unwrap_or_default(),
        active: body.active,
    };
    let user = run_users::create(&app, &caller.profile, input, &by).await?;
    Ok((StatusCode::CREATED, axum::Json(RunUserView::from(&user))))
}

async fn read(
    Primed(app): Primed,
    Extension(caller): Extension<ProfileCaller>,
    PathId(uid): PathId,
) -> ApiResult<impl IntoResponse> {
    let user = run_users::get(&app, caller.pid, uid).await?;
    Ok(axum::Json(RunUserView::from(&user)))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "RunUserChanges")]
struct RunUserChangesBody {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    name: Option<String>,
    /// A value, or `null` to clear it (also `company`, `phone`, `language`).
    #[serde(default, deserialize_with = "double_option")]
    timezone: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    company: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    language: Option<Option<String>>,
    /// The whole new list.
    #[serde(default)]
    tags: Option<Vec<Tag>>,
    #[serde(default)]
    active: Option<bool>,
}

async fn update(
    Primed(app): Primed,
    Audited(by): Audited,
    Extension(caller): Extension<ProfileCaller>,
    PathId(uid): PathId,
    Json(body): Json<RunUserChangesBody>,
) -> ApiResult<impl IntoResponse> {
    let changes = RunUserChanges {
        email: body.email,
        name: body.name,
        timezone: body.timezone,
        company: body.company,
        phone: body.phone,
        language: body.language,
        tags: body.tags,
        active: body.active,
    };
    let user = run_users::update(&app, caller.pid, uid, changes, &by).await?;
    Ok(axum::Json(RunUserView::from(&user)))
}

async fn remove(
    Primed(app): Primed,
    Audited(by): Audited,
    Extension(caller): Extension<ProfileCaller>,
    PathId(uid): PathId,
) -> ApiResult<StatusCode> {
    run_users::delete(&app, &caller.profile, uid, &by).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NewPassword")]
struct NewPasswordBody {
    password: String,
}

async fn set_password(
    Primed(app): Primed,
    Audited(by): Audited,
    Extension(caller): Extension<ProfileCaller>,
    PathId(uid): PathId,
    Json(body): Json<NewPasswordBody>,
) -> Result<StatusCode, ApiError> {
    run_users::set_password(&app, caller.pid, uid, &body.password, &by).await?;
    Ok(StatusCode::NO_CONTENT)
}
