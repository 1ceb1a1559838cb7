//! The `accounts` function: sign-up, login, logout, the account itself.

use axum::Extension;
use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Route;
use super::extract::Json;
use super::problem::ApiResult;
use super::profiles::ProfileBody;
use super::source::Source;
use crate::app::App;
use crate::catalogue::Service;
use crate::domain::access::{Access, Principal};
use crate::domain::accounts::{self, SignUp};
use crate::domain::billing;
use crate::domain::credentials;
use crate::domain::records::AccountRecord;

pub fn routes() -> Vec<Route> {
    let route = |method, path, access, handler| Route {
        function: "accounts",
        method,
        path,
        access,
        handler,
    };
    vec![
        route(Method::POST, "/v1/accounts", Access::Anyone, post(sign_up)),
        route(Method::POST, "/v1/login", Access::Anyone, post(login)),
        route(Method::POST, "/v1/logout", Access::Session, post(logout)),
        route(Method::GET, "/v1/account", Access::Session, get(account)),
        route(
            Method::GET,
            "/v1/account/statistics",
            Access::Session,
            get(statistics),
        ),
    ]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignUpBody {
    email: String,
    name: String,
    password: String,
}

/// An account as the API shows it (never its password hash), with its service pool: per
/// service, what it may hand out, what is allocated to its profiles and what is free.
#[derive(Serialize)]
pub struct AccountBody {
    id: uuid::Uuid,
    email: String,
    name: String,
    created_at: chrono::DateTime<chrono::Utc>,
    services: BTreeMap<Service, PoolBody>,
}

#[derive(Serialize)]
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    email: String,
    password: String,
}

async fn login(
    State(app): State<App>,
    Source(source): Source,
    Json(body): Json<LoginBody>,
) -> ApiResult<impl IntoResponse> {
    let session = credentials::login(&app, &body.email, &body.password, &source).await?;
    Ok(axum::Json(json!({
        "token": session.token,
        "expires_at": session.expires_at,
    })))
}

async fn logout(
    State(app): State<App>,
    Extension(principal): Extension<Principal>,
) -> ApiResult<StatusCode> {
    if let Principal::Account { token_digest, .. } = principal {
        credentials::logout(&app, &token_digest).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn account(
    State(app): State<App>,
    Extension(principal): Extension<Principal>,
) -> ApiResult<impl IntoResponse> {
    let account = credentials::load(&app, principal.account_id()).await?;
    Ok(axum::Json(AccountBody::from(&account)))
}

async fn statistics(
    State(app): State<App>,
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
