//! The `policies` function: a profile's resource catalogue, its access policies, and what
//! applies to one run user. Any role on the profile (API tokens by their permission: `read`
//! tokens only read); replacing the catalogue takes the owner or an admin. Every route counts
//! one `api_requests` use (an application route).

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
use super::extract::{Json, PathId, Primed};
use super::problem::ApiResult;
use super::{Doc, Route, schema};
use crate::app::App;
use crate::domain::access::{Access, Area, ProfileCaller};
use crate::domain::policies::{Applied, Catalogue, Permission, PolicyBody, Target};
use crate::domain::policy_set::{self, PolicyChanges, catalogue, check};
use crate::domain::records::{PolicyRecord, Tag};
use crate::keys;
use crate::refusal::Refusal;

pub fn routes() -> Vec<Route> {
    let member = Access::member(Area::App).metered();
    let route = Route::of(super::POLICIES.name);
    vec![
        route(
            Method::GET,
            "/v1/profiles/{pid}/resource-types",
            member,
            get(read_catalogue),
            Doc::new(
                "getResourceTypes",
                "The profile's resource catalogue: each resource type with its actions",
                schema::<Catalogue>,
            ),
        )
        .reads_ahead(|ids| ids.profile_item(keys::resource_types)),
        route(
            Method::PUT,
            "/v1/profiles/{pid}/resource-types",
            Access::admin(Area::App).metered(),
            put(replace_catalogue),
            Doc::new(
                "putResourceTypes",
                "Replace the profile's resource catalogue",
                schema::<Catalogue>,
            )
            .describe(
                "Up to 100 types, each with 1 to 50 distinct actions; names are 1-64 characters \
                 of `[a-z0-9_-]`. A type or action a saved policy still uses cannot be removed: \
                 409 naming the policies.",
            )
            .body(schema::<Catalogue>)
            .errors(&[StatusCode::CONFLICT]),
        )
        .reads_ahead(|ids| {
            [
                ids.profile_item(keys::resource_types),
                ids.profile_query(policy_set::all_query),
            ]
            .concat()
        }),
        route(
            Method::POST,
            "/v1/profiles/{pid}/policies",
            member,
            post(create),
            Doc::new(
                "createPolicy",
                "Save an access policy",
                schema::<PolicyView>,
            )
            .describe(
                "A policy that could never match (an unknown type, an action the types \
                     lack, an unknown run user, empty targets, permissions, actions or \
                     resources, …) is 422 naming the path of the offending part, e.g. \
                     `permissions[0].resources[1].type`. Counts against the `policies` limit.",
            )
            .status(StatusCode::CREATED)
            .body(schema::<PolicyBody>),
        )
        .reads_ahead(|ids| ids.profile_item(keys::resource_types)),
        route(
            Method::GET,
            "/v1/profiles/{pid}/policies",
            member,
            get(list),
            Doc::new(
                "listPolicies",
                "Every policy of the profile, in creation order",
                list_schema,
            ),
        )
        .reads_ahead(|ids| ids.profile_query(policy_set::all_query)),
        route(
            Method::GET,
            "/v1/profiles/{pid}/policies/{id}",
            member,
            get(read),
            Doc::new("getPolicy", "An access policy", schema::<PolicyView>),
        )
        .reads_ahead(|ids| ids.item(keys::policy)),
        route(
            Method::PATCH,
            "/v1/profiles/{pid}/policies/{id}",
            member,
            patch(update),
            Doc::new(
                "updatePolicy",
                "Change a policy's fields; the result is validated as a new policy is",
                schema::<PolicyView>,
            )
            .describe(
                "Given fields replace the stored ones (`targets` and `permissions` whole). \
                 With `revision`, the change applies only to that revision (409 otherwise).",
            )
            .body(schema::<PolicyChangesBody>)
            .errors(&[StatusCode::CONFLICT]),
        )
        .reads_ahead(|ids| {
            [
                ids.item(keys::policy),
                ids.profile_item(keys::resource_types),
            ]
            .concat()
        }),
        route(
            Method::DELETE,
            "/v1/profiles/{pid}/policies/{id}",
            member,
            delete(remove),
            Doc::no_content("deletePolicy", "Delete a policy")
                .query(
                    "revision",
                    "Delete only at this revision (409 otherwise)",
                    false,
                    serde_json::json!({"type": "integer", "minimum": 0}),
                )
                .errors(&[StatusCode::CONFLICT]),
        )
        .reads_ahead(|ids| ids.item(keys::policy)),
        route(
            Method::GET,
            "/v1/profiles/{pid}/run/users/{uid}/permissions",
            member,
            get(permissions),
            Doc::new(
                "getRunUserPermissions",
                "Everything that applies to a run user: each permission with its policy",
                schema::<PermissionsView>,
            )
            .describe(
                "Every permission of an active policy that targets the user (by id, by one of \
                 its tags, or every run user), `tag_match` selectors resolved to the user's \
                 values, denies that may override a listed allow marked `overrides`.",
            ),
        ),
    ]
}

/// A saved policy as clients see it.
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "Policy")]
pub struct PolicyView {
    id: Uuid,
    name: String,
    active: bool,
    targets: Vec<Target>,
    permissions: Vec<Permission>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// Raised by every change: give it back to `PATCH` or `DELETE` to refuse a lost update.
    revision: i64,
}

impl From<PolicyRecord> for PolicyView {
    fn from(policy: PolicyRecord) -> Self {
        PolicyView {
            id: policy.id,
            name: policy.name,
            active: policy.active,
            targets: policy.targets,
            permissions: policy.permissions,
            created_at: policy.created_at,
            updated_at: policy.updated_at,
            revision: policy.revision,
        }
    }
}

fn list_schema(generator: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "properties": { "policies": generator.subschema_for::<Vec<PolicyView>>() },
        "required": ["policies"],
    })
}

/// Refuses every query parameter but those in `known`, naming it.
fn only(pairs: &[(String, String)], known: &[&str]) -> Result<(), Refusal> {
    match pairs
        .iter()
        .find(|(name, _)| !known.contains(&name.as_str()))
    {
        Some((name, _)) => Err(Refusal::invalid(name.as_str(), "unknown parameter")),
        None => Ok(()),
    }
}

async fn read_catalogue(
    Primed(app): Primed,
    Extension(caller): Extension<ProfileCaller>,
) -> ApiResult<impl IntoResponse> {
    let (catalogue, _) = catalogue::read(&app, caller.pid).await?;
    Ok(axum::Json(catalogue))
}

async fn replace_catalogue(
    Primed(app): Primed,
    Audited(by): Audited,
    Extension(caller): Extension<ProfileCaller>,
    Json(body): Json<Catalogue>,
) -> ApiResult<impl IntoResponse> {
    let catalogue = catalogue::replace(&app, &caller.profile, body, &by).await?;
    Ok(axum::Json(catalogue))
}

async fn create(
    Primed(app): Primed,
    Audited(by): Audited,
    Extension(caller): Extension<ProfileCaller>,
    Json(body): Json<PolicyBody>,
) -> ApiResult<impl IntoResponse> {
    let policy = policy_set::create(&app, &caller.profile, body, &by).await?;
    Ok((StatusCode::CREATED, axum::Json(PolicyView::from(policy))))
}

async fn list(
    Primed(app): Primed,
    Extension(caller): Extension<ProfileCaller>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<impl IntoResponse> {
    only(&pairs, &[])?;
    let policies: Vec<PolicyView> = policy_set::list_all(&app, caller.pid)
        .await?
        .into_iter()
        .map(PolicyView::from)
        .collect();
    Ok(axum::Json(serde_json::json!({ "policies": policies })))
}

async fn read(
    Primed(app): Primed,
    Extension(caller): Extension<ProfileCaller>,
    PathId(id): PathId,
) -> ApiResult<impl IntoResponse> {
    let policy = policy_set::get(&app, caller.pid, id).await?;
    Ok(axum::Json(PolicyView::from(policy)))
}

/// A policy change: any of the body's fields, and optionally the revision it applies to.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "PolicyChanges")]
struct PolicyChangesBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    active: Option<bool>,
    /// The whole new list.
    #[serde(default)]
    targets: Option<Vec<Target>>,
    /// The whole new list.
    #[serde(default)]
    permissions: Option<Vec<Permission>>,
    /// Apply only if the policy is still at this revision (409 otherwise).
    #[serde(default)]
    revision: Option<i64>,
}

async fn update(
    Primed(app): Primed,
    Audited(by): Audited,
    Extension(caller): Extension<ProfileCaller>,
    PathId(id): PathId,
    Json(body): Json<PolicyChangesBody>,
) -> ApiResult<impl IntoResponse> {
    let changes = PolicyChanges {
        name: body.name,
        active: body.active,
        targets: body.targets,
        permissions: body.permissions,
        revision: body.revision,
    };
    let policy = policy_set::update(&app, caller.pid, id, changes, &by).await?;
    Ok(axum::Json(PolicyView::from(policy)))
}

async fn remove(
    Primed(app): Primed,
    Audited(by): Audited,
    Extension(caller): Extension<ProfileCaller>,
    PathId(id): PathId,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<StatusCode> {
    only(&pairs, &["revision"])?;
    let revision = pairs
        .iter()
        .find(|(name, _)| name == "revision")
        .map(|(_, value)| {
            value
                .parse::<i64>()
                .map_err(|_| Refusal::invalid("revision", "a whole number"))
        })
        .transpose()?;
    policy_set::delete(&app, &caller.profile, id, revision, &by).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What applies to one run user.
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "RunUserPermissions")]
struct PermissionsView {
    run_user: Uuid,
    /// An inactive user is denied every check (`user-inactive`), whatever applies.
    active: bool,
    tags: Vec<Tag>,
    permissions: Vec<Applied>,
}

async fn permissions(
    State(app): State<App>,
    Extension(caller): Extension<ProfileCaller>,
    PathId(uid): PathId,
) -> ApiResult<impl IntoResponse> {
    let (user, applied) = check::permissions(&app, &caller.profile, uid).await?;
    Ok(axum::Json(PermissionsView {
        run_user: user.uid,
        active: user.active,
        tags: user.tags,
        permissions: applied,
    }))
}
