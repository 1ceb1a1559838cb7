//! The `profiles` function: profile CRUD.

use axum::Extension;
use axum::extract::Query;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, get, patch, post, put};
use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use super::audit::Audited;
use super::extract::{Json, Primed, double_option};
use super::openapi::month_schema;
use super::problem::ApiResult;
use super::{Doc, Route, schema};
use crate::app::App;
use crate::catalogue::{Amounts, Service};
use crate::domain::Role;
use crate::domain::access::{Access, Area, Principal, ProfileCaller};
use crate::domain::membership;
use crate::domain::profiles::{self, ProfileChanges, ProfileView};
use crate::domain::records::ProfileRecord;
use crate::domain::usage::allocation;
use crate::domain::usage::report::{self, Periodicity};
use crate::keys;
use crate::refusal::Refusal;

pub fn routes() -> Vec<Route> {
    let route = Route::of(super::PROFILES.name);
    let one = "/v1/profiles/{pid}";
    vec![
        route(
            Method::POST,
            "/v1/profiles",
            Access::Session,
            post(create),
            Doc::new(
                "createProfile",
                "Create a profile, with the included services",
                schema::<ProfileBody>,
            )
            .status(StatusCode::CREATED)
            .body(schema::<CreateBody>)
            .errors(&[StatusCode::CONFLICT]),
        )
        .reads_ahead(|ids| ids.account_item(keys::account)),
        route(
            Method::GET,
            "/v1/profiles",
            Access::Session,
            get(list),
            Doc::new(
                "listProfiles",
                "The profiles I own or belong to, each with my role",
                list_schema,
            ),
        )
        .reads_ahead(|ids| ids.account_query(membership::profiles_query)),
        route(
            Method::GET,
            one,
            Access::member(Area::App),
            get(read),
            Doc::new("getProfile", "The profile", schema::<ProfileBody>),
        ),
        route(
            Method::PATCH,
            one,
            Access::admin(Area::App),
            patch(update),
            Doc::new(
                "updateProfile",
                "Rename the profile or change its logo",
                schema::<ProfileBody>,
            )
            .body(schema::<UpdateBody>)
            .errors(&[StatusCode::CONFLICT]),
        )
        .reads_ahead(|ids| ids.profile_query(membership::members_query)),
        route(
            Method::DELETE,
            one,
            Access::owner(Area::Governance),
            delete(remove),
            Doc::no_content(
                "deleteProfile",
                "Delete the profile and everything under it (password re-entered)",
            )
            .body(schema::<DeleteBody>)
            // 429: the re-entered password is throttled like a login.
            .errors(&[StatusCode::CONFLICT, StatusCode::TOO_MANY_REQUESTS]),
        )
        .reads_ahead(|ids| ids.account_item(keys::account)),
        route(
            Method::PUT,
            "/v1/profiles/{pid}/limits",
            Access::owner(Area::Governance),
            put(set_limits),
            Doc::new(
                "setProfileLimits",
                "Allocate services from the account's pool",
                schema::<ProfileBody>,
            )
            .body(schema::<LimitsBody>)
            .errors(&[StatusCode::CONFLICT]),
        )
        .reads_ahead(|ids| ids.account_item(keys::account)),
        route(
            Method::GET,
            "/v1/profiles/{pid}/usage",
            Access::member(Area::App),
            get(usage),
            Doc::new(
                "getProfileUsage",
                "Per service: used and limit, in a month",
                usage_schema,
            )
            .query(
                "month",
                "`YYYY-MM`; this month when left out",
                false,
                month_schema(),
            ),
        ),
        route(
            Method::GET,
            "/v1/profiles/{pid}/statistics",
            Access::member(Area::App),
            get(statistics),
            Doc::new(
                "getProfileStatistics",
                "Usage over time, per service",
                statistics_schema,
            )
            .query(
                "start",
                "The first day",
                true,
                json!({ "type": "string", "format": "date" }),
            )
            .query(
                "end",
                "The last day (at most two years after start)",
                true,
                json!({ "type": "string", "format": "date" }),
            )
            .query(
                "periodicity",
                "One point per day or per month",
                false,
                json!({ "type": "string", "enum": ["day", "month"], "default": "day" }),
            ),
        ),
    ]
}

/// `GET /v1/profiles`.
fn list_schema(generator: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "properties": {
            "profiles": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": generator.subschema_for::<Uuid>(),
                        "name": { "type": "string" },
                        "logo_url": { "type": ["string", "null"] },
                        "role": generator.subschema_for::<Role>(),
                        "joined_at": generator.subschema_for::<DateTime<Utc>>(),
                    },
                    "required": ["id", "name", "logo_url", "role", "joined_at"],
                },
            },
        },
        "required": ["profiles"],
    })
}

/// `GET /v1/profiles/{pid}/usage`.
fn usage_schema(generator: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "properties": {
            "month": { "type": "string", "description": "`YYYY-MM`" },
            "services": generator.subschema_for::<BTreeMap<Service, report::ServiceUse>>(),
        },
        "required": ["month", "services"],
    })
}

/// `GET /v1/profiles/{pid}/statistics`.
fn statistics_schema(generator: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "properties": {
            "start": generator.subschema_for::<NaiveDate>(),
            "end": generator.subschema_for::<NaiveDate>(),
            "periodicity": { "type": "string", "enum": ["day", "month"] },
            "series": generator.subschema_for::<BTreeMap<Service, Vec<report::Point>>>(),
        },
        "required": ["start", "end", "periodicity", "series"],
    })
}

/// A profile as the API shows it, with the caller's role and its services' limits.
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "Profile")]
pub struct ProfileBody {
    id: Uuid,
    name: String,
    logo_url: Option<String>,
    owner_id: Uuid,
    created_at: DateTime<Utc>,
    role: Role,
    limits: Amounts,
    /// Services the pool could not fully cover at creation (only on the creation's answer).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    allocation_shortfall: Vec<Service>,
}

impl ProfileBody {
    pub fn new(profile: &ProfileRecord, role: Role) -> Self {
        ProfileBody {
            id: profile.pid,
            name: profile.name.clone(),
            logo_url: profile.logo_url.clone(),
            owner_id: profile.owner,
            created_at: profile.created_at,
            role,
            limits: profile.limits(),
            allocation_shortfall: Vec::new(),
        }
    }

    pub fn created(view: &ProfileView) -> Self {
        ProfileBody {
            allocation_shortfall: view.short.clone(),
            ..ProfileBody::new(&view.profile, view.role)
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NewProfile")]
struct CreateBody {
    name: String,
    #[serde(default)]
    logo_url: Option<String>,
}

async fn create(
    Primed(app): Primed,
    Extension(principal): Extension<Principal>,
    Audited(by): Audited,
    Json(body): Json<CreateBody>,
) -> ApiResult<impl IntoResponse> {
    let view = profiles::create(
        &app,
        principal.account_id(),
        &body.name,
        body.logo_url.as_deref(),
        &by,
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(ProfileBody::created(&view))))
}

async fn list(
    Primed(app): Primed,
    Extension(principal): Extension<Principal>,
) -> ApiResult<impl IntoResponse> {
    let memberships = profiles::list(&app, principal.account_id()).await?;
    let profiles: Vec<_> = memberships
        .iter()
        .map(|m| {
            json!({
                "id": m.pid,
                "name": m.profile_name,
                "logo_url": m.logo_url,
                "role": m.role,
                "joined_at": m.joined_at,
            })
        })
        .collect();
    Ok(axum::Json(json!({ "profiles": profiles })))
}

async fn read(Extension(caller): Extension<ProfileCaller>) -> ApiResult<impl IntoResponse> {
    Ok(axum::Json(ProfileBody::new(&caller.profile, caller.role)))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ProfileChanges")]
struct UpdateBody {
    #[serde(default)]
    name: Option<String>,
    /// A new logo, or `null` to remove it.
    #[serde(default, deserialize_with = "double_option")]
    logo_url: Option<Option<String>>,
}

async fn update(
    Primed(app): Primed,
    Extension(caller): Extension<ProfileCaller>,
    Audited(by): Audited,
    Json(body): Json<UpdateBody>,
) -> ApiResult<impl IntoResponse> {
    let profile = profiles::update(
        &app,
        &caller.profile,
        ProfileChanges {
            name: body.name,
            logo_url: body.logo_url,
        },
        &by,
    )
    .await?;
    Ok(axum::Json(ProfileBody::new(&profile, caller.role)))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ProfileDeletion")]
struct DeleteBody {
    password: String,
}

async fn remove(
    Primed(app): Primed,
    Extension(caller): Extension<ProfileCaller>,
    Audited(by): Audited,
    Json(body): Json<DeleteBody>,
) -> ApiResult<StatusCode> {
    profiles::delete(
        &app,
        caller.principal.account_id(),
        &caller.profile,
        &body.password,
        &by,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// New limits, per service; services left out keep theirs.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NewLimits")]
struct LimitsBody {
    run_users: Option<i64>,
    team_members: Option<i64>,
    tokens: Option<i64>,
    policies: Option<i64>,
    emails: Option<i64>,
    api_requests: Option<i64>,
}

async fn set_limits(
    Primed(app): Primed,
    Extension(caller): Extension<ProfileCaller>,
    Audited(by): Audited,
    Json(body): Json<LimitsBody>,
) -> ApiResult<impl IntoResponse> {
    let wanted: BTreeMap<Service, i64> = [
        (Service::RunUsers, body.run_users),
        (Service::TeamMembers, body.team_members),
        (Service::Tokens, body.tokens),
        (Service::Policies, body.policies),
        (Service::Emails, body.emails),
        (Service::ApiRequests, body.api_requests),
    ]
    .into_iter()
    .filter_map(|(service, amount)| amount.map(|amount| (service, amount)))
    .collect();
    let profile = allocation::set_limits(&app, &caller.profile, &wanted, &by).await?;
    Ok(axum::Json(ProfileBody::new(&profile, caller.role)))
}

/// Query parameters, parsed by hand so a bad one gets a problem answer naming it.
fn query_param<'a>(query: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    query.get(name).map(String::as_str)
}

async fn usage(
    State(app): State<App>,
    Extension(caller): Extension<ProfileCaller>,
    Query(query): Query<BTreeMap<String, String>>,
) -> ApiResult<impl IntoResponse> {
    let (month, services) =
        report::month_usage(&app, &caller.profile, query_param(&query, "month")).await?;
    Ok(axum::Json(json!({ "month": month, "services": services })))
}

async fn statistics(
    State(app): State<App>,
    Extension(caller): Extension<ProfileCaller>,
    Query(query): Query<BTreeMap<String, String>>,
) -> ApiResult<impl IntoResponse> {
    let date = |name: &str| -> Result<NaiveDate, Refusal> {
        let text = query_param(&query, name)
            .ok_or_else(|| Refusal::invalid(name, "required, as YYYY-MM-DD"))?;
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| Refusal::invalid(name, format!("`{text}` is not a date (YYYY-MM-DD)")))
    };
    let start = date("start")?;
    let end = date("end")?;
    let periodicity = match query_param(&query, "periodicity").unwrap_or("day") {
        "day" => Periodicity::Day,
        "month" => Periodicity::Month,
        other => {
            return Err(Refusal::invalid(
                "periodicity",
                format!("`{other}` is neither day nor month"),
            )
            .into());
        }
    };
    let series = report::statistics(&app, &caller.profile, start, end, periodicity).await?;
    Ok(axum::Json(json!({
        "start": start,
        "end": end,
        "periodicity": periodicity,
        "series": series,
    })))
}
