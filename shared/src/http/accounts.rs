//! The account's routes: sign-up, login, logout, the account itself and its statistics (its
//! security routes are in `recovery`). Sign-up and login hash or verify a password and are
//! served by the `passwords` function ([`password_routes`]); the others by `accounts`.

use axum::Extension;
use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use super::audit::Audited;
use super::extract::{Json, Primed};
use super::openapi::month_schema;
use super::problem::ApiResult;
use super::profiles::ProfileBody;
use super::source::Source;
use super::{Doc, Route, schema};
use crate::app::App;
use crate::catalogue::Service;
use crate::domain::access::{Access, Principal};
use crate::domain::accounts::{self, SignUp};
use crate::domain::billing;
use crate::domain::credentials;
use crate::domain::membership;
use crate::domain::records::AccountRecord;
use crate::keys;

pub fn routes() -> Vec<Route> {
    let route = Route::of(super::ACCOUNTS.name);
    vec![
        route(
            Method::POST,
            "/v1/logout",
            Access::Session,
            post(logout),
            Doc::no_content("logout", "End this session"),
        ),
        route(
            Method::GET,
            "/v1/account",
            Access::Session,
            get(account),
            Doc::new(
                "getAccount",
                "The account, its service pool and what is allocated",
                schema::<AccountBody>,
            ),
        )
        .reads_ahead(|ids| ids.account_item(keys::account)),
        route(
            Method::GET,
            "/v1/account/statistics",
            Access::Session,
            get(statistics),
            Doc::new(
                "getAccountStatistics",
                "Use and cost per owned profile and per service in a month",
                statistics_schema,
            )
            .query(
                "month",
                "`YYYY-MM`; this month when left out",
                false,
                month_schema(),
            ),
        )
        .reads_ahead(|ids| ids.account_query(membership::profiles_query)),
    ]
}

/// The routes of this module that hash or verify a password: served by the `passwords` function
/// ([`super::PASSWORDS`]), at the memory that gives argon2id a whole core.
pub fn password_routes() -> Vec<Route> {
    let route = Route::of(super::PASSWORDS.name);
    vec![
        route(
            Method::POST,
            "/v1/accounts",
            Access::Anyone,
            post(sign_up),
            Doc::new(
                "signUp",
                "Create an account, with its first profile",
                signed_up_schema,
            )
            .status(StatusCode::CREATED)
            .body(schema::<SignUpBody>)
            .errors(&[StatusCode::CONFLICT]),
        ),
        route(
            Method::POST,
            "/v1/login",
            Access::Anyone,
            post(login),
            Doc::new("login", "Log in: a session token", session_schema)
                .body(schema::<LoginBody>)
                .errors(&[StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS]),
        ),
    ]
}

/// `POST /v1/accounts`: the account with its first profile.
fn signed_up_schema(generator: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "allOf": [
            generator.subschema_for::<AccountBody>(),
            {
                "type": "object",
                "properties": { "profile": generator.subschema_for::<ProfileBody>() },
                "required": ["profile"],
            },
        ],
    })
}

/// `POST /v1/login`: a session.
pub(super) fn session_schema(generator: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "properties": {
            "token": { "type": "string", "description": "The session token: `Authorization: Bearer <token>`" },
            "expires_at": generator.subschema_for::<chrono::DateTime<chrono::Utc>>(),
        },
        "required": ["token", "expires_at"],
    })
}

/// `GET /v1/account/statistics`.
fn statistics_schema(generator: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "properties": {
            "month": { "type": "string", "description": "`YYYY-MM`" },
            "currency": { "type": "string", "const": "USD" },
            "prices": generator.subschema_for::<BTreeMap<Service, f64>>(),
            "profiles": generator.subschema_for::<Vec<billing::ProfileCost>>(),
            "totals": {
                "type": "object",
                "properties": {
                    "services": generator.subschema_for::<BTreeMap<Service, billing::UseAndCost>>(),
                    "cost": { "type": "number" },
                },
                "required": ["services", "cost"],
            },
        },
        "required": ["month", "currency", "prices", "profiles", "totals"],
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "SignUp")]
struct SignUpBody {
    email: String,
    name: String,
    password: String,
}

/// An account as the API shows it (never its password hash), with its service pool: per
/// service, what it may hand out, what is allocated to its profiles and what is free.
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "Account")]
pub struct AccountBody {
    id: uuid::Uuid,
    email: String,
    name: String,
    email_verified: bool,
    created_at: chrono::DateTime<chrono::Utc>,
    services: BTreeMap<Service, PoolBody>,
}

#[derive(Serialize, JsonSchema)]
#[schemars(rename = "Pool")]
struct PoolBody {
    pool: i64,
    allocated: i64,
    free: i64,
}

impl From<&AccountRecord> for AccountBody {
    fn from(account: &AccountRecord) -> Self {
        let pool = account.pool();
        let allocated = account.allocated();
        AccountBody {
            id: account.aid,
            email: account.email.to_string(),
            name: account.name.clone(),
            email_verified: account.email_verified,
            created_at: account.created_at,
            services: Service::ALL
                .into_iter()
                .map(|s| {
                    let body = PoolBody {
                        pool: pool.get(s),
                        allocated: allocated.get(s),
                        free: pool.get(s) - allocated.get(s),
                    };
                    (s, body)
                })
                .collect(),
        }
    }
}

async fn sign_up(
    State(app): State<App>,
    Json(body): Json<SignUpBody>,
) -> ApiResult<impl IntoResponse> {
    let (account, profile) = accounts::sign_up(
        &app,
        SignUp {
            email: body.email,
            name: body.name,
            password: body.password,
        },
    )
    .await?;
    let mut view = serde_json::to_value(AccountBody::from(&account)).unwrap_or_default();
    view["profile"] = serde_json::to_value(ProfileBody::created(&profile)).unwrap_or_default();
    Ok((StatusCode::CREATED, axum::Json(view)))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Login")]
pub(super) struct LoginBody {
    pub(super) email: String,
    pub(super) password: String,
}

async fn login(
    State(app): State<App>,
    Source(source): Source,
    Audited(by): Audited,
    Json(body): Json<LoginBody>,
) -> ApiResult<impl IntoResponse> {
    let session = credentials::login(&app, &body.email, &body.password, &source, &by).await?;
    Ok(axum::Json(json!({
        "token": session.token,
        "expires_at": session.expires_at,
    })))
}

async fn logout(
    State(app): State<App>,
    Extension(principal): Extension<Principal>,
    Audited(by): Audited,
) -> ApiResult<StatusCode> {
    if let Principal::Account { aid, token_digest } = principal {
        credentials::logout_audited(&app, aid, &token_digest, &by).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn account(
    Primed(app): Primed,
    Extension(principal): Extension<Principal>,
) -> ApiResult<impl IntoResponse> {
    let account = credentials::load(&app, principal.account_id()).await?;
    Ok(axum::Json(AccountBody::from(&account)))
}

async fn statistics(
    Primed(app): Primed,
    Extension(principal): Extension<Principal>,
    Query(query): Query<BTreeMap<String, String>>,
) -> ApiResult<impl IntoResponse> {
    let month = query.get("month").map(String::as_str);
    let statistics = billing::account_statistics(&app, principal.account_id(), month).await?;
    Ok(axum::Json(json!({
        "month": statistics.month,
        "currency": "USD",
        "prices": app.config.prices,
        "profiles": statistics.profiles,
        "totals": { "services": statistics.totals, "cost": statistics.cost },
    })))
}
