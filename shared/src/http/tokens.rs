//! A profile's API tokens: list and revoke (the `tokens` function), issue (password re-entered,
//! so served by the `passwords` function: [`password_routes`]).

use axum::Extension;
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use super::audit::Audited;
use super::extract::{Json, PathId, Primed};
use super::problem::ApiResult;
use super::{Doc, Route, schema};
use crate::domain::access::{Access, Area, ProfileCaller};
use crate::domain::records::{ApiTokenRecord, Permission};
use crate::domain::tokens::{self, Expiry, NewToken};
use crate::keys;
use crate::refusal::Refusal;

pub fn routes() -> Vec<Route> {
    let route = Route::of(super::TOKENS.name);
    // Any role may list, issue and revoke its own tokens (owners and admins all of them).
    let access = Access::member(Area::Governance);
    vec![
        route(
            Method::GET,
            "/v1/profiles/{pid}/tokens",
            access,
            get(list),
            Doc::new(
                "listTokens",
                "The profile's API tokens, without secrets (members see their own)",
                list_schema,
            ),
        )
        .reads_ahead(|ids| ids.profile_query(tokens::tokens_query)),
        route(
            Method::DELETE,
            "/v1/profiles/{pid}/tokens/{tid}",
            access,
            delete(revoke),
            Doc::no_content("revokeToken", "Revoke an API token"),
        )
        .reads_ahead(|ids| ids.item_query(tokens::token_query)),
    ]
}

/// The routes of this module that hash or verify a password: served by the `passwords` function
/// ([`super::PASSWORDS`]), at the memory that gives argon2id a whole core.
pub fn password_routes() -> Vec<Route> {
    let route = Route::of(super::PASSWORDS.name);
    let access = Access::member(Area::Governance);
    vec![
        route(
            Method::POST,
            "/v1/profiles/{pid}/tokens",
            access,
            post(issue),
            Doc::new(
                "issueToken",
                "Issue an API token (password re-entered); its secret is shown once",
                issued_schema,
            )
            .status(StatusCode::CREATED)
            .body(schema::<IssueBody>)
            // 429: the re-entered password is throttled like a login.
            .errors(&[StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS]),
        )
        .reads_ahead(|ids| ids.account_item(keys::account)),
    ]
}

/// `POST /v1/profiles/{pid}/tokens`: the token, with its secret.
fn issued_schema(generator: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "allOf": [
            generator.subschema_for::<TokenBody>(),
            {
                "type": "object",
                "properties": {
                    "token": { "type": "string", "description": "The secret, shown only this once" },
                },
                "required": ["token"],
            },
        ],
    })
}

/// `GET /v1/profiles/{pid}/tokens`.
fn list_schema(generator: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "properties": { "tokens": generator.subschema_for::<Vec<TokenBody>>() },
        "required": ["tokens"],
    })
}

/// A token as listed: never its secret or its hash.
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "Token")]
struct TokenBody {
    id: Uuid,
    name: String,
    permission: Permission,
    created_at: DateTime<Utc>,
    created_by: Uuid,
    expires_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
}

impl From<&ApiTokenRecord> for TokenBody {
    fn from(token: &ApiTokenRecord) -> Self {
        TokenBody {
            id: token.tid,
            name: token.name.clone(),
            permission: token.permission,
            created_at: token.created_at,
            created_by: token.aid,
            expires_at: token.expires_at,
            last_used_at: token.last_used_at,
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NewToken")]
struct IssueBody {
    name: String,
    permission: Permission,
    /// When it expires (RFC 3339); give exactly one of `expires_at` and `expires_in`.
    #[serde(default)]
    expires_at: Option<String>,
    /// How long it lives: `"3 hours"`, `"1 day"`, `"2 weeks"`, `"1 month"`, `"1 year"`, … or
    /// `"never"`.
    #[serde(default)]
    expires_in: Option<String>,
    password: String,
}

async fn issue(
    Primed(app): Primed,
    Extension(caller): Extension<ProfileCaller>,
    Audited(by): Audited,
    Json(body): Json<IssueBody>,
) -> ApiResult<impl IntoResponse> {
    let expiry = match (body.expires_at, body.expires_in) {
        (Some(at), None) => Expiry::At(at),
        (None, Some(within)) => Expiry::In(within),
        _ => {
            return Err(Refusal::invalid(
                "expires_at",
                "give exactly one of expires_at (RFC 3339), expires_in (\"1 day\", …) or \"never\"",
            )
            .into());
        }
    };
    let (token, secret) = tokens::issue(
        &app,
        &caller,
        NewToken {
            name: body.name,
            permission: body.permission,
            expiry,
            password: body.password,
        },
        &by,
    )
    .await?;
    let mut view = serde_json::to_value(TokenBody::from(&token)).map_err(|_| Refusal::Internal)?;
    view["token"] = secret.into();
    Ok((StatusCode::CREATED, axum::Json(view)))
}

async fn list(
    Primed(app): Primed,
    Extension(caller): Extension<ProfileCaller>,
) -> ApiResult<impl IntoResponse> {
    let tokens: Vec<TokenBody> = tokens::list(&app, &caller)
        .await?
        .iter()
        .map(TokenBody::from)
        .collect();
    Ok(axum::Json(serde_json::json!({ "tokens": tokens })))
}

async fn revoke(
    Primed(app): Primed,
    Extension(caller): Extension<ProfileCaller>,
    Audited(by): Audited,
    PathId(tid): PathId,
) -> ApiResult<StatusCode> {
    tokens::revoke(&app, &caller, tid, &by).await?;
    Ok(StatusCode::NO_CONTENT)
}
