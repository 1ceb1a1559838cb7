//! The account's security routes: e-mail verification, password reset and change, and the
//! account's deletion. The reset's confirmation and the change hash a password and are served by
//! the `passwords` function ([`password_routes`]); the others by `accounts`.

use axum::Extension;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, post, put};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde_json::json;

use super::accounts::AccountBody;
use super::audit::Audited;
use super::extract::{Json, Primed};
use super::problem::ApiResult;
use super::{Doc, Route, schema};
use crate::app::App;
use crate::domain::access::{Access, Principal};
use crate::domain::{accounts, credentials, recovery, verification};
use crate::keys;
use crate::refusal::Refusal;

pub fn routes() -> Vec<Route> {
    let route = Route::of(super::ACCOUNTS.name);
    vec![
        route(
            Method::DELETE,
            "/v1/account",
            Access::Session,
            delete(delete_account),
            Doc::no_content(
                "deleteAccount",
                "Delete the account, every profile it owns and everything under them",
            )
            .body(schema::<PasswordBody>)
            .errors(&[StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS]),
        )
.reads_ahead(|ids| ids.account_item(keys::account)),
        route(
            Method::POST,
            "/v1/accounts/verify",
            Access::Anyone,
            post(verify),
            Doc::new(
                "verifyEmail",
                "Verify the account's e-mail with the link's secret",
                schema::<AccountBody>,
            )
            .body(schema::<TokenBody>)
            .errors(&[StatusCode::UNAUTHORIZED]),
        ),
        route(
            Method::POST,
            "/v1/account/verification",
            Access::Session,
            post(new_verification),
            Doc::new(
                "requestVerification",
                "E-mail a new verification link",
                accepted_schema,
            )
            .status(StatusCode::ACCEPTED)
            .errors(&[StatusCode::CONFLICT, StatusCode::TOO_MANY_REQUESTS]),
        )
.reads_ahead(|ids| ids.account_item(keys::account)),
        route(
            Method::POST,
            "/v1/password-reset",
            Access::Anyone,
            post(password_reset),
            Doc::new(
                "requestPasswordReset",
                "E-mail a password-reset link (the same answer whether or not the e-mail has an account)",
                accepted_schema,
            )
            .status(StatusCode::ACCEPTED)
            .body(schema::<ResetBody>),
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
            "/v1/password-reset/confirm",
            Access::Anyone,
            post(password_reset_confirm),
            Doc::no_content(
                "confirmPasswordReset",
                "Set a new password with the reset link's secret; every session ends",
            )
            .body(schema::<ResetConfirmBody>)
            .errors(&[StatusCode::UNAUTHORIZED]),
        ),
        route(
            Method::PUT,
            "/v1/account/password",
            Access::Session,
            put(change_password),
            Doc::no_content(
                "changePassword",
                "Change the password; the account's other sessions end",
            )
            .body(schema::<PasswordChangeBody>)
            .errors(&[StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS]),
        )
        // The account, and what a new password ends: its sessions and pending resets.
        .reads_ahead(|ids| {
            let mut reads = ids.account_item(keys::account);
            reads.extend(ids.account_query(credentials::sessions_query));
            reads.extend(ids.account_query(recovery::resets_query));
            reads
        }),
    ]
}

/// A request taken: `{"detail": …}` (202).
fn accepted_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "properties": { "detail": { "type": "string" } },
        "required": ["detail"],
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "LinkSecret")]
struct TokenBody {
    token: String,
}

async fn verify(
    State(app): State<App>,
    Audited(by): Audited,
    Json(body): Json<TokenBody>,
) -> ApiResult<impl IntoResponse> {
    let account = verification::verify(&app, &body.token, &by).await?;
    Ok(axum::Json(AccountBody::from(&account)))
}

async fn new_verification(
    Primed(app): Primed,
    Extension(principal): Extension<Principal>,
) -> ApiResult<impl IntoResponse> {
    verification::request_link(&app, principal.account_id()).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({"detail": "a new verification link is on its way"})),
    ))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "PasswordReset")]
pub(super) struct ResetBody {
    pub(super) email: String,
}

async fn password_reset(
    State(app): State<App>,
    Json(body): Json<ResetBody>,
) -> ApiResult<impl IntoResponse> {
    recovery::request_reset(&app, &body.email).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({
            "detail": "if an account uses this e-mail, a reset link is on its way"
        })),
    ))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "PasswordResetConfirm")]
pub(super) struct ResetConfirmBody {
    pub(super) token: String,
    pub(super) password: String,
}

async fn password_reset_confirm(
    State(app): State<App>,
    Audited(by): Audited,
    Json(body): Json<ResetConfirmBody>,
) -> ApiResult<StatusCode> {
    recovery::confirm_reset(&app, &body.token, &body.password, &by).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "PasswordChange")]
pub(super) struct PasswordChangeBody {
    pub(super) current_password: String,
    pub(super) new_password: String,
}

async fn change_password(
    Primed(app): Primed,
    Extension(principal): Extension<Principal>,
    Audited(by): Audited,
    Json(body): Json<PasswordChangeBody>,
) -> ApiResult<StatusCode> {
    let Principal::Account { aid, token_digest } = principal else {
        return Err(Refusal::Unauthenticated("a login session is needed".into()).into());
    };
    recovery::change_password(
        &app,
        aid,
        &token_digest,
        &body.current_password,
        &body.new_password,
        &by,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "PasswordConfirmation")]
struct PasswordBody {
    password: String,
}

async fn delete_account(
    Primed(app): Primed,
    Extension(principal): Extension<Principal>,
    Audited(by): Audited,
    Json(body): Json<PasswordBody>,
) -> ApiResult<StatusCode> {
    accounts::delete(&app, principal.account_id(), &body.password, &by).await?;
    Ok(StatusCode::NO_CONTENT)
}
