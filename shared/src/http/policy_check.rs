//! The `policy-check` function: the decision point a profile's application calls. The team
//! (any role, API tokens by their permission) checks for a run user or a tag subject; a run
//! user checks about itself only. A single check answers a decision, a batch (`{checks: […]}`,
//! up to 100) the decisions in order. Every request counts one `api_requests` use, whatever
//! the batch size.

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::extract::Json;
use super::problem::{ApiError, ApiResult};
use super::{Doc, Route};
use crate::app::App;
use crate::domain::access::{Access, Area, ProfileCaller, RunCaller};
use crate::domain::policies::{Decision, ResourceRef};
use crate::domain::policy_set::check::{self, CheckRequest, CheckTarget, OwnCheck};
use crate::domain::records::Tag;
use crate::refusal::Refusal;

pub fn routes() -> Vec<Route> {
    let route = Route::of(super::POLICY_CHECK.name);
    vec![
        route(
            Method::POST,
            "/v1/profiles/{pid}/policies/check",
            Access::member(Area::App).metered(),
            post(team_check),
            Doc::new(
                "checkPolicies",
                "May a run user (or a subject with these tags) do an action on a resource?",
                answer_schema,
            )
            .describe(
                "`{target, action, resource}` answers `{allowed, effect, decided_by}`; \
                 `{checks: [...]}` (1 to 100) answers `{results: [...]}` in the same order. \
                 `effect` is `allow`, `deny` (a matching deny wins over every allow), \
                 `default-deny` (no matching allow) or `user-inactive`. A `run_user` target \
                 that is not a run user of this profile is 422 at `target.run_user` \
                 (`checks[i].target.run_user`). With `explain=true` each decision lists every \
                 matching permission with its policy.",
            )
            .query(
                "explain",
                "List every matching permission with its policy",
                false,
                serde_json::json!({"type": "boolean"}),
            )
            .body(team_body_schema),
        ),
        route(
            Method::POST,
            "/v1/run/check",
            Access::RunUser,
            post(own_check),
            Doc::new(
                "runCheck",
                "May the signed-in run user do an action on a resource?",
                answer_schema,
            )
            .describe(
                "`{action, resource}`, or `{checks: [{action, resource}, ...]}` (1 to 100), \
                 about the caller itself only: a `target` is refused (422).",
            )
            .body(own_body_schema),
        ),
    ]
}

/// Who a team's check is about: `{"run_user": "<uid>"}` or `{"tags": [...]}`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[schemars(rename = "CheckTarget")]
enum TargetBody {
    RunUser(Uuid),
    Tags(Vec<Tag>),
}

/// One check by the team.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "PolicyCheck")]
struct TeamCheckBody {
    target: TargetBody,
    action: String,
    resource: ResourceRef,
}

/// One check by a run user about itself.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "OwnPolicyCheck")]
struct OwnCheckBody {
    action: String,
    resource: ResourceRef,
}

fn team_body_schema(generator: &mut SchemaGenerator) -> Schema {
    either(generator.subschema_for::<TeamCheckBody>())
}

fn own_body_schema(generator: &mut SchemaGenerator) -> Schema {
    either(generator.subschema_for::<OwnCheckBody>())
}

/// One check, or a batch of them.
fn either(one: Schema) -> Schema {
    json_schema!({
        "oneOf": [
            one.clone(),
            {
                "type": "object",
                "properties": {
                    "checks": { "type": "array", "items": one, "minItems": 1, "maxItems": check::MAX_CHECKS },
                },
                "required": ["checks"],
                "additionalProperties": false,
            },
        ],
    })
}

fn answer_schema(generator: &mut SchemaGenerator) -> Schema {
    let decision = generator.subschema_for::<Decision>();
    json_schema!({
        "oneOf": [
            decision.clone(),
            {
                "type": "object",
                "properties": { "results": { "type": "array", "items": decision } },
                "required": ["results"],
            },
        ],
    })
}

/// The checks of a body: `Some` list for a batch, or the one check.
fn read_checks<T: DeserializeOwned>(
    mut body: Map<String, Value>,
) -> Result<(Vec<T>, bool), ApiError> {
    let Some(checks) = body.remove("checks") else {
        let one = serde_json::from_value(Value::Object(body))
            .map_err(|error| ApiError::InvalidBody(format!("body: {error}")))?;
        return Ok((vec![one], false));
    };
    if let Some(other) = body.keys().next() {
        return Err(Refusal::invalid(other.as_str(), "a batch holds only `checks`").into());
    }
    let Value::Array(checks) = checks else {
        return Err(Refusal::invalid("checks", "must be a list of checks").into());
    };
    if checks.is_empty() || checks.len() > check::MAX_CHECKS {
        return Err(
            Refusal::invalid("checks", format!("from 1 to {} checks", check::MAX_CHECKS)).into(),
        );
    }
    let parsed = checks
        .into_iter()
        .enumerate()
        .map(|(index, value)| {
            serde_json::from_value(value)
                .map_err(|error| Refusal::invalid(format!("checks[{index}]"), error.to_string()))
        })
        .collect::<Result<Vec<T>, Refusal>>()?;
    Ok((parsed, true))
}

/// One decision, or `{results}` for a batch.
fn answer(decisions: Vec<Decision>, batch: bool) -> Response {
    match (batch, decisions.len()) {
        (false, 1) => axum::Json(decisions.into_iter().next()).into_response(),
        _ => axum::Json(serde_json::json!({ "results": decisions })).into_response(),
    }
}

/// `explain=true|false`; any other parameter is refused, naming it.
fn explain_param(pairs: &[(String, String)]) -> Result<bool, Refusal> {
    let mut explain = false;
    for (name, value) in pairs {
        match (name.as_str(), value.as_str()) {
            ("explain", "true") => explain = true,
            ("explain", "false") => explain = false,
            ("explain", _) => return Err(Refusal::invalid("explain", "`true` or `false`")),
            (other, _) => return Err(Refusal::invalid(other, "unknown parameter (explain)")),
        }
    }
    Ok(explain)
}

async fn team_check(
    State(app): State<App>,
    Extension(caller): Extension<ProfileCaller>,
    Query(pairs): Query<Vec<(String, String)>>,
    Json(body): Json<Map<String, Value>>,
) -> ApiResult<Response> {
    let explain = explain_param(&pairs)?;
    let (checks, batch) = read_checks::<TeamCheckBody>(body)?;
    let requests: Vec<CheckRequest> = checks
        .into_iter()
        .map(|body| CheckRequest {
            target: match body.target {
                TargetBody::RunUser(uid) => CheckTarget::RunUser(uid),
                TargetBody::Tags(tags) => CheckTarget::Tags(tags),
            },
            action: body.action,
            resource: body.resource,
        })
        .collect();
    let decisions = check::check(&app, &caller.profile, &requests, batch, explain).await?;
    Ok(answer(decisions, batch))
}

async fn own_check(
    State(app): State<App>,
    Extension(caller): Extension<RunCaller>,
    Query(pairs): Query<Vec<(String, String)>>,
    Json(body): Json<Map<String, Value>>,
) -> ApiResult<Response> {
    if let Some((name, _)) = pairs.first() {
        return Err(Refusal::invalid(name.as_str(), "unknown parameter").into());
    }
    let (checks, batch) = read_checks::<OwnCheckBody>(body)?;
    let checks: Vec<OwnCheck> = checks
        .into_iter()
        .map(|body| OwnCheck {
            action: body.action,
            resource: body.resource,
        })
        .collect();
    let decisions = check::check_own(&app, &caller.profile, &caller.user, &checks, batch).await?;
    Ok(answer(decisions, batch))
}
