//! The run users' own side (the `run-users` function; sign-up, login and the password routes
//! by `passwords`, [`password_routes`]): a profile's sign-up settings (read by
//! anyone), sign-up, login and password reset (open, on an existing profile), and what a
//! signed-in run user does about itself (`/v1/run/*`). Every route counts one `api_requests`
//! use of the profile.

use axum::Extension;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, patch, post, put};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::accounts::{LoginBody, session_schema};
use super::audit::Audited;
use super::extract::{Json, Primed, double_option};
use super::problem::ApiResult;
use super::recovery::{PasswordChangeBody, ResetBody, ResetConfirmBody};
use super::run_users::{RunUserView, SettingsView, run_user_schema};
use super::source::Source;
use super::{Doc, Route, schema};
use crate::app::App;
use crate::domain::access::{Access, RunCaller, Visitor};
use crate::domain::run_users::sessions::{self, OwnChanges};
use crate::domain::run_users::{reset, signup};
use crate::keys;

pub fn routes() -> Vec<Route> {
    let route = Route::of(super::RUN_USERS.name);
    vec![
        route(
            Method::GET,
            "/v1/profiles/{pid}/run/settings",
            Access::Application,
            get(settings),
            Doc::new(
                "getRunSettings",
                "The profile's sign-up settings: whether sign-up is open, its custom fields",
                schema::<SettingsView>,
            ),
        )
        .reads_ahead(|ids| ids.profile_item(keys::run_settings)),
        route(
            Method::POST,
            "/v1/profiles/{pid}/run/password-reset",
            Access::Application,
            post(password_reset),
            Doc::new(
                "runPasswordReset",
                "E-mail a run user a password-reset link (202, whether or not the e-mail is known)",
                detail_schema,
            )
            .status(StatusCode::ACCEPTED)
            .body(schema::<ResetBody>),
        )
        .reads_ahead_by_email(|ids| ids.profile_email_item(keys::run_email_claim)),
        route(
            Method::GET,
            "/v1/run/me",
            Access::RunUser,
            get(me),
            Doc::new(
                "getRunMe",
                "The signed-in run user's own record",
                run_user_schema,
            ),
        ),
        route(
            Method::PATCH,
            "/v1/run/me",
            Access::RunUser,
            patch(update_me),
            Doc::new(
                "updateRunMe",
                "Edit one's own name, timezone, company, phone, language",
                run_user_schema,
            )
            .body(schema::<OwnChangesBody>)
            .errors(&[StatusCode::CONFLICT]),
        ),
        route(
            Method::POST,
            "/v1/run/logout",
            Access::RunUser,
            post(logout),
            Doc::no_content("runLogout", "End this run-user session"),
        ),
    ]
}

/// The routes of this module that hash or verify a password: served by the `passwords` function
/// ([`super::PASSWORDS`]), at the memory that gives argon2id a whole core.
pub fn password_routes() -> Vec<Route> {
    let route = Route::of(super::PASSWORDS.name);
    vec![
        route(
            Method::POST,
            "/v1/profiles/{pid}/run/signup",
            Access::Application,
            post(sign_up),
            Doc::new(
                "runSignUp",
                "Sign up as a run user of the profile; custom fields become tags",
                run_user_schema,
            )
            .describe(
                "The body holds `email`, `name`, `password`, optionally `timezone`, `company`, \
                 `phone`, `language`, and the profile's custom fields by their keys. A missing \
                 required field, an undeclared one, a value of the wrong type or an option not \
                 offered is 422 naming the field; sign-up while it is closed is 403.",
            )
            .status(StatusCode::CREATED)
            .body(signup_schema)
            .errors(&[StatusCode::FORBIDDEN, StatusCode::CONFLICT]),
        )
        .reads_ahead(|ids| ids.profile_item(keys::run_settings)),
        route(
            Method::POST,
            "/v1/profiles/{pid}/run/login",
            Access::Application,
            post(login),
            Doc::new(
                "runLogin",
                "Log in as a run user: a run-user session",
                session_schema,
            )
            .body(schema::<LoginBody>)
            .errors(&[StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN]),
        )
        .reads_ahead_by_email(|ids| ids.profile_email_item(keys::run_email_claim)),
        route(
            Method::POST,
            "/v1/profiles/{pid}/run/password-reset/confirm",
            Access::Application,
            post(password_reset_confirm),
            Doc::no_content(
                "runPasswordResetConfirm",
                "Set a run user's new password with the e-mailed link; every session ends",
            )
            .body(schema::<ResetConfirmBody>)
            .errors(&[StatusCode::UNAUTHORIZED]),
        ),
        route(
            Method::PUT,
            "/v1/run/me/password",
            Access::RunUser,
            put(change_password),
            Doc::no_content(
                "changeRunPassword",
                "Change one's own password; every other session ends",
            )
            .body(schema::<PasswordChangeBody>),
        ),
    ]
}

/// A sign-up body: the record's fields and the profile's custom fields.
fn signup_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "properties": {
            "email": { "type": "string" },
            "name": { "type": "string" },
            "password": { "type": "string" },
            "timezone": { "type": "string" },
            "company": { "type": "string" },
            "phone": { "type": "string" },
            "language": { "type": "string" },
        },
        "required": ["email", "name", "password"],
        "additionalProperties": { "type": ["string", "number"] },
    })
}

fn detail_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "properties": { "detail": { "type": "string" } },
        "required": ["detail"],
    })
}

async fn settings(
    Primed(app): Primed,
    Extension(visitor): Extension<Visitor>,
) -> ApiResult<impl IntoResponse> {
    let settings = signup::settings(&app, visitor.profile.pid).await?;
    Ok(axum::Json(SettingsView::from(settings)))
}

async fn sign_up(
    Primed(app): Primed,
    Audited(by): Audited,
    Extension(visitor): Extension<Visitor>,
    Json(body): Json<Map<String, Value>>,
) -> ApiResult<impl IntoResponse> {
    let user = signup::sign_up(&app, &visitor.profile, body, &by).await?;
    Ok((StatusCode::CREATED, axum::Json(RunUserView::from(&user))))
}

async fn login(
    Primed(app): Primed,
    Extension(visitor): Extension<Visitor>,
    Source(source): Source,
    Json(body): Json<LoginBody>,
) -> ApiResult<impl IntoResponse> {
    let session =
        sessions::login(&app, &visitor.profile, &body.email, &body.password, &source).await?;
    Ok(axum::Json(json!({
        "token": session.token,
        "expires_at": session.expires_at,
    })))
}

async fn password_reset(
    Primed(app): Primed,
    Extension(visitor): Extension<Visitor>,
    Json(body): Json<ResetBody>,
) -> ApiResult<impl IntoResponse> {
    reset::request(&app, &visitor.profile, &body.email).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({
            "detail": "if a user of this application has this e-mail, a reset link is on its way"
        })),
    ))
}

async fn password_reset_confirm(
    State(app): State<App>,
    Audited(by): Audited,
    Extension(visitor): Extension<Visitor>,
    Json(body): Json<ResetConfirmBody>,
) -> ApiResult<StatusCode> {
    reset::confirm(&app, visitor.profile.pid, &body.token, &body.password, &by).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn me(Extension(caller): Extension<RunCaller>) -> ApiResult<impl IntoResponse> {
    Ok(axum::Json(RunUserView::from(&caller.user)))
}

/// What a run user may change about itself (not its e-mail, tags or `active`).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "RunUserOwnChanges")]
struct OwnChangesBody {
    #[serde(default)]
    name: Option<String>,
    /// A value, or `null` to clear it.
    #[serde(default, deserialize_with = "double_option")]
    timezone: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    company: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    language: Option<Option<String>>,
}

async fn update_me(
    Primed(app): Primed,
    Audited(by): Audited,
    Extension(caller): Extension<RunCaller>,
    Json(body): Json<OwnChangesBody>,
) -> ApiResult<impl IntoResponse> {
    let changes = OwnChanges {
        name: body.name,
        timezone: body.timezone,
        company: body.company,
        phone: body.phone,
        language: body.language,
    };
    let user = sessions::update_own(&app, &caller, changes, &by).await?;
    Ok(axum::Json(RunUserView::from(&user)))
}

async fn change_password(
    State(app): State<App>,
    Audited(by): Audited,
    Extension(caller): Extension<RunCaller>,
    Source(source): Source,
    Json(body): Json<PasswordChangeBody>,
) -> ApiResult<StatusCode> {
    sessions::change_own_password(
        &app,
        &caller,
        &source,
        &body.current_password,
        &body.new_password,
        &by,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn logout(
    State(app): State<App>,
    Extension(caller): Extension<RunCaller>,
) -> ApiResult<StatusCode> {
    sessions::logout(&app, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}
