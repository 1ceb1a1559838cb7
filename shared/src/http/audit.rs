//! The audit log over HTTP: each request's id, the [`Audited`] extractor that hands a rule who
//! acts in which request, and the two lists (`GET /v1/profiles/{pid}/audit`,
//! `GET /v1/account/audit`).

use std::convert::Infallible;

use axum::Extension;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::Method;
use axum::http::request::Parts;
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::problem::ApiResult;
use super::{Doc, Route, schema};
use crate::app::App;
use crate::domain::access::{Access, Area, Principal, ProfileCaller, RunCaller};
use crate::domain::audit::{self, Audit, AuditQuery, Scope};
use crate::domain::records::{Action, Actor, AuditRecord, Target};
use crate::refusal::Refusal;

/// The id of one request: API Gateway's request id in Lambda, else a fresh UUID v7. Set by the
/// router's outermost layer, logged with the request, answered in `X-Request-Id`, and written
/// into every audit entry the request leaves.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// The id of the request in `parts`.
pub fn request_id(parts: &Parts) -> String {
    lambda_request_id(parts).unwrap_or_else(|| Uuid::now_v7().to_string())
}

#[cfg(feature = "lambda")]
fn lambda_request_id(parts: &Parts) -> Option<String> {
    use lambda_http::RequestExt;
    use lambda_http::request::RequestContext;
    // The Lambdas build lambda_http with the HTTP API event only (the template's one source).
    match parts.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => context.request_id.clone(),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

#[cfg(not(feature = "lambda"))]
fn lambda_request_id(_parts: &Parts) -> Option<String> {
    None
}

/// Who acts in this request (as the access check cleared them), and the request's id. On a
/// route open to anyone the actor is `system` until the rule knows better (a login acts as the
/// account it opens: [`Audit::by`]).
pub struct Audited(pub Audit);

impl<S: Send + Sync> FromRequestParts<S> for Audited {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let extensions = &parts.extensions;
        let actor = if let Some(caller) = extensions.get::<ProfileCaller>() {
            actor_of(&caller.principal)
        } else if let Some(principal) = extensions.get::<Principal>() {
            actor_of(principal)
        } else if let Some(caller) = extensions.get::<RunCaller>() {
            Actor::run_user(caller.session.uid)
        } else {
            Actor::system()
        };
        let id = extensions.get::<RequestId>().map(|id| id.0.clone());
        Ok(Audited(Audit::new(actor, id)))
    }
}

/// The actor a team caller is: the account behind a session, the token itself.
pub fn actor_of(principal: &Principal) -> Actor {
    match principal {
        Principal::Account { aid, .. } => Actor::account(*aid),
        Principal::Token { tid, .. } => Actor::token(*tid),
    }
}

/// The filters and paging both lists take.
fn doc(operation: &'static str, summary: &'static str) -> Doc {
    Doc::new(operation, summary, schema::<AuditPageBody>)
        .query(
            "start",
            "Entries at or after this time (RFC 3339)",
            false,
            json!({"type": "string", "format": "date-time"}),
        )
        .query(
            "end",
            "Entries at or before this time (RFC 3339)",
            false,
            json!({"type": "string", "format": "date-time"}),
        )
        .query(
            "action",
            "Only this action (`profile.updated`, `login.failed`, …)",
            false,
            json!({"type": "string"}),
        )
        .query(
            "actor",
            "Only this actor's id (an account, a token, a run user), or `system`",
            false,
            json!({"type": "string"}),
        )
        .query(
            "limit",
            "Entries per page, 1 to 100 (default 50)",
            false,
            json!({"type": "integer", "minimum": 1, "maximum": 100}),
        )
        .query(
            "cursor",
            "The `next_cursor` of the previous page (same query)",
            false,
            json!({"type": "string"}),
        )
}

/// `GET /v1/profiles/{pid}/audit` (the `profiles` function).
pub fn profile_routes() -> Vec<Route> {
    vec![Route::of(super::PROFILES.name)(
        Method::GET,
        "/v1/profiles/{pid}/audit",
        Access::admin(Area::Governance),
        get(profile_audit),
        doc(
            "listProfileAudit",
            "The profile's audit entries, newest first",
        ),
    )]
}

/// `GET /v1/account/audit` (the `accounts` function).
pub fn account_routes() -> Vec<Route> {
    vec![Route::of(super::ACCOUNTS.name)(
        Method::GET,
        "/v1/account/audit",
        Access::Session,
        get(account_audit),
        doc(
            "listAccountAudit",
            "My account's audit entries (logins, password changes, …), newest first",
        ),
    )]
}

/// One audit entry.
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "AuditEntry")]
struct EntryBody {
    id: Uuid,
    at: DateTime<Utc>,
    actor: Actor,
    action: Action,
    target: Target,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    /// The names of the fields the change set (never their values).
    fields: Vec<String>,
}

#[derive(Serialize, JsonSchema)]
#[schemars(rename = "AuditPage")]
struct AuditPageBody {
    entries: Vec<EntryBody>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

impl From<AuditRecord> for EntryBody {
    fn from(record: AuditRecord) -> Self {
        EntryBody {
            id: record.id,
            at: record.at,
            actor: record.actor,
            action: record.action,
            target: record.target,
            request_id: record.request_id,
            fields: record.fields,
        }
    }
}

fn parse_query(pairs: Vec<(String, String)>) -> Result<AuditQuery, Refusal> {
    let mut query = AuditQuery::default();
    let time = |name: &str, text: &str| {
        DateTime::parse_from_rfc3339(text)
            .map(|at| at.with_timezone(&Utc))
            .map_err(|_| Refusal::invalid(name, format!("`{text}` is not an RFC 3339 time")))
    };
    for (name, value) in pairs {
        match name.as_str() {
            "start" => query.start = Some(time("start", &value)?),
            "end" => query.end = Some(time("end", &value)?),
            "action" => query.action = Some(value),
            "actor" => query.actor = Some(value),
            // An empty cursor is the first page (`?cursor=` from a template with nothing in it).
            "cursor" => query.cursor = Some(value).filter(|cursor| !cursor.is_empty()),
            "limit" => {
                query.limit = Some(
                    value
                        .parse()
                        .map_err(|_| Refusal::invalid("limit", "from 1 to 100"))?,
                )
            }
            _ => return Err(Refusal::invalid(name.as_str(), "unknown parameter")),
        }
    }
    Ok(query)
}

async fn answer(
    app: &App,
    scope: Scope,
    pairs: Vec<(String, String)>,
) -> ApiResult<impl IntoResponse + use<>> {
    let page = audit::list(app, scope, parse_query(pairs)?).await?;
    Ok(axum::Json(AuditPageBody {
        entries: page.entries.into_iter().map(EntryBody::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

async fn profile_audit(
    State(app): State<App>,
    Extension(caller): Extension<ProfileCaller>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<impl IntoResponse> {
    answer(&app, Scope::Profile(caller.pid), pairs).await
}

async fn account_audit(
    State(app): State<App>,
    Extension(principal): Extension<Principal>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<impl IntoResponse> {
    answer(&app, Scope::Account(principal.account_id()), pairs).await
}
