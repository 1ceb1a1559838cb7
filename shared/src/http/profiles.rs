//! The `profiles` function: profile CRUD.

use axum::Extension;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, get, patch, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::Route;
use super::extract::{Json, double_option};
use crate::app::App;
use crate::auth::{Access, Area, Principal, ProfileCaller};
use crate::domain::Role;
use crate::domain::profiles::{self, ProfileChanges};
use crate::domain::records::ProfileRecord;
use crate::error::ApiResult;

pub fn routes() -> Vec<Route> {
    let route = |method, path, access, handler| Route {
        function: "profiles",
        method,
        path,
        access,
        handler,
    };
    vec![
        route(Method::POST, "/v1/profiles", Access::Session, post(create)),
        route(Method::GET, "/v1/profiles", Access::Session, get(list)),
        route(
            Method::GET,
            "/v1/profiles/{pid}",
            Access::Profile(Role::Member, Area::App),
            get(read),
        ),
        route(
            Method::PATCH,
            "/v1/profiles/{pid}",
            Access::Profile(Role::Admin, Area::App),
            patch(update),
        ),
        route(
            Method::DELETE,
            "/v1/profiles/{pid}",
            Access::Profile(Role::Owner, Area::Governance),
            delete(remove),
        ),
    ]
}

/// A profile as the API shows it, with the caller's role.
#[derive(Serialize)]
pub struct ProfileBody {
    id: Uuid,
    name: String,
    logo_url: Option<String>,
    owner_id: Uuid,
    created_at: DateTime<Utc>,
    role: Role,
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
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    #[serde(default)]
    logo_url: Option<String>,
}

async fn create(
    State(app): State<App>,
    Extension(principal): Extension<Principal>,
    Json(body): Json<CreateBody>,
) -> ApiResult<impl IntoResponse> {
    let view = profiles::create(
        &app,
        principal.account_id(),
        &body.name,
        body.logo_url.as_deref(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(ProfileBody::new(&view.profile, view.role)),
    ))
}

async fn list(
    State(app): State<App>,
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

async fn read(
    State(app): State<App>,
    Extension(caller): Extension<ProfileCaller>,
) -> ApiResult<impl IntoResponse> {
    let profile = profiles::get(&app, caller.pid).await?;
    Ok(axum::Json(ProfileBody::new(&profile, caller.role)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    logo_url: Option<Option<String>>,
}

async fn update(
    State(app): State<App>,
    Extension(caller): Extension<ProfileCaller>,
    Json(body): Json<UpdateBody>,
) -> ApiResult<impl IntoResponse> {
    let profile = profiles::update(
        &app,
        caller.pid,
        ProfileChanges {
            name: body.name,
            logo_url: body.logo_url,
        },
    )
    .await?;
    Ok(axum::Json(ProfileBody::new(&profile, caller.role)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteBody {
    password: String,
}

async fn remove(
    State(app): State<App>,
    Extension(caller): Extension<ProfileCaller>,
    Json(body): Json<DeleteBody>,
) -> ApiResult<StatusCode> {
    profiles::delete(
        &app,
        caller.principal.account_id(),
        caller.pid,
        &body.password,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
