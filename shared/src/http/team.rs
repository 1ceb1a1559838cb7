//! The `team` function: invitations by e-mail, members, roles, leaving.

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{delete, get, patch, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::Route;
use super::extract::{Json, OptionalJson, PathId};
use super::problem::ApiResult;
use crate::app::App;
use crate::domain::Role;
use crate::domain::access::{self, Access, Area, Principal, ProfileCaller};
use crate::domain::records::{InvitationRecord, InvitationStatus, MemberRecord};
use crate::domain::team::{self, Answerer};
use crate::refusal::Refusal;

pub fn routes() -> Vec<Route> {
    let route = |method, path, access, handler| Route {
        function: "team",
        method,
        path,
        access,
        handler,
    };
    const MEMBER: Access = Access::member(Area::Governance);
    const ADMIN: Access = Access::admin(Area::Governance);
    const OWNER: Access = Access::owner(Area::Governance);
    let team = "/v1/profiles/{pid}/team";
    let member = "/v1/profiles/{pid}/team/{aid}";
    vec![
        route(Method::POST, team, ADMIN, post(invite)),
        route(Method::GET, team, MEMBER, get(list)),
        route(Method::PATCH, member, OWNER, patch(change_role)),
        route(Method::DELETE, member, MEMBER, delete(remove)),
        route(
            Method::POST,
            "/v1/profiles/{pid}/invitations/{iid}/resend",
            ADMIN,
            post(resend),
        ),
        route(
            Method::DELETE,
            "/v1/profiles/{pid}/invitations/{iid}",
            ADMIN,
            delete(revoke),
        ),
        // The invitee answers with a session or with the link's secret: the handler checks.
        route(
            Method::POST,
            "/v1/invitations/{iid}/accept",
            Access::Anyone,
            post(accept),
        ),
        route(
            Method::POST,
            "/v1/invitations/{iid}/decline",
            Access::Anyone,
            post(decline),
        ),
        route(
            Method::GET,
            "/v1/account/invitations",
            Access::Session,
            get(mine),
        ),
    ]
}

/// An invitation as the API shows it (never its link's secret or hash).
#[derive(Serialize)]
struct InvitationBody {
    id: Uuid,
    profile_id: Uuid,
    profile_name: String,
    email: String,
    role: Role,
    status: InvitationStatus,
    invited_by: Uuid,
    inviter_name: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl InvitationBody {
    fn new(invitation: &InvitationRecord, now: DateTime<Utc>) -> Self {
        InvitationBody {
            id: invitation.iid,
            profile_id: invitation.pid,
            profile_name: invitation.profile_name.clone(),
            email: invitation.email.to_string(),
            role: invitation.role,
            status: invitation.status_at(now),
            invited_by: invitation.invited_by,
            inviter_name: invitation.inviter_name.clone(),
            created_at: invitation.created_at,
            expires_at: invitation.expires_at,
        }
    }
}

#[derive(Serialize)]
struct MemberBody {
    id: Uuid,
    email: String,
    name: String,
    role: Role,
    joined_at: DateTime<Utc>,
}

impl From<&MemberRecord> for MemberBody {
    fn from(member: &MemberRecord) -> Self {
        MemberBody {
            id: member.aid,
            email: member.email.to_string(),
            name: member.name.clone(),
            role: member.role,
            joined_at: member.joined_at,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InviteBody {
    email: String,
    #[serde(default)]
    role: Option<Role>,
}

async fn invite(
    State(app): State<App>,
    Extension(caller): Extension<ProfileCaller>,
    Json(body): Json<InviteBody>,
) -> ApiResult<impl IntoResponse> {
    let role = body.role.unwrap_or(Role::Member);
    let invitation = team::invite(&app, &caller, &body.email, role).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(InvitationBody::new(&invitation, app.now())),
    ))
}

async fn list(
    State(app): State<App>,
    Extension(caller): Extension<ProfileCaller>,
) -> ApiResult<impl IntoResponse> {
    let (members, invitations) = team::list(&app, caller.pid).await?;
    let now = app.now();
    let members: Vec<MemberBody> = members.iter().map(MemberBody::from).collect();
    let invitations: Vec<InvitationBody> = invitations
        .iter()
        .map(|i| InvitationBody::new(i, now))
        .collect();
    Ok(axum::Json(
        json!({ "members": members, "invitations": invitations }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    role: Role,
}

async fn change_role(
    State(app): State<App>,
    Extension(caller): Extension<ProfileCaller>,
    PathId(aid): PathId,
    Json(body): Json<RoleBody>,
) -> ApiResult<impl IntoResponse> {
    let member = team::change_role(&app, &caller, aid, body.role).await?;
    Ok(axum::Json(MemberBody::from(&member)))
}

async fn remove(
    State(app): State<App>,
    Extension(caller): Extension<ProfileCaller>,
    PathId(aid): PathId,
) -> ApiResult<StatusCode> {
    team::remove(&app, &caller, aid).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn resend(
    State(app): State<App>,
    Extension(caller): Extension<ProfileCaller>,
    PathId(iid): PathId,
) -> ApiResult<impl IntoResponse> {
    let invitation = team::resend(&app, &caller, iid).await?;
    Ok(axum::Json(InvitationBody::new(&invitation, app.now())))
}

async fn revoke(
    State(app): State<App>,
    Extension(caller): Extension<ProfileCaller>,
    PathId(iid): PathId,
) -> ApiResult<StatusCode> {
    team::revoke(&app, &caller, iid).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerBody {
    #[serde(default)]
    token: Option<String>,
}

/// Who answers an invitation: the secret from the e-mail when the body carries one, else the
/// session in the `Authorization` header (no body and `{}` mean the same).
async fn answerer(app: &App, headers: &HeaderMap, body: Option<AnswerBody>) -> ApiResult<Answerer> {
    if let Some(token) = body.and_then(|body| body.token) {
        return Ok(Answerer::Link(token));
    }
    let Some(authorization) = headers.get(header::AUTHORIZATION) else {
        return Err(Refusal::Unauthenticated(
            "sign in as the invited account, or send {\"token\": …} from the invitation e-mail"
                .into(),
        )
        .into());
    };
    let principal = access::authenticate(app, super::bearer(Some(authorization))?).await?;
    access::for_session(&principal)?;
    Ok(Answerer::Session(principal))
}

async fn accept(
    State(app): State<App>,
    PathId(iid): PathId,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<AnswerBody>,
) -> ApiResult<impl IntoResponse> {
    let answerer = answerer(&app, &headers, body).await?;
    let (invitation, profile) = team::accept(&app, iid, answerer).await?;
    Ok(axum::Json(json!({
        "status": InvitationStatus::Accepted,
        "profile": { "id": profile.pid, "name": profile.name, "role": invitation.role },
    })))
}

async fn decline(
    State(app): State<App>,
    PathId(iid): PathId,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<AnswerBody>,
) -> ApiResult<impl IntoResponse> {
    let answerer = answerer(&app, &headers, body).await?;
    team::decline(&app, iid, answerer).await?;
    Ok(axum::Json(json!({ "status": InvitationStatus::Declined })))
}

async fn mine(
    State(app): State<App>,
    Extension(principal): Extension<Principal>,
) -> ApiResult<impl IntoResponse> {
    let invitations = team::addressed_to(&app, principal.account_id()).await?;
    let now = app.now();
    let invitations: Vec<InvitationBody> = invitations
        .iter()
        .map(|i| InvitationBody::new(i, now))
        .collect();
    Ok(axum::Json(json!({ "invitations": invitations })))
}
