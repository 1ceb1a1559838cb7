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

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use super::audit::Audited;
use super::extract::{Json, OptionalJson, PathId, Primed};
use super::problem::ApiResult;
use super::{Doc, Route, schema};
use crate::app::App;
use crate::domain::Role;
use crate::domain::access::{self, Access, Area, Principal, ProfileCaller};
use crate::domain::records::{InvitationRecord, InvitationStatus, MemberRecord};
use crate::domain::team::{self, Answerer};
use crate::domain::tokens;
use crate::keys;
use crate::refusal::Refusal;

pub fn routes() -> Vec<Route> {
    let route = Route::of(super::TEAM.name);
    let team = "/v1/profiles/{pid}/team";
    let member = "/v1/profiles/{pid}/team/{aid}";
    // The invitee answers with a session or with the link's secret: the handler checks.
    let answered = "The invitee answers with a login session (no body), or with `{\"token\"}` \
                    from the invitation e-mail.";
    vec![
        route(
            Method::POST,
            team,
            Access::admin(Area::Governance),
            post(invite),
            Doc::new(
                "invite",
                "Invite an existing, verified account by e-mail (`admin` only from the owner)",
                schema::<InvitationBody>,
            )
            .status(StatusCode::CREATED)
            .body(schema::<InviteBody>)
            // 429: invitations sent per profile an hour and per account a day, and `emails`.
            .errors(&[StatusCode::CONFLICT, StatusCode::TOO_MANY_REQUESTS]),
        )
        // Who has the e-mail, and who invites.
        .reads_ahead_by_email(|ids| {
            [
                ids.email_item(keys::email_claim),
                ids.account_item(keys::account),
            ]
            .concat()
        }),
        route(
            Method::GET,
            team,
            Access::member(Area::Governance),
            get(list),
            Doc::new(
                "listTeam",
                "The members and the pending invitations",
                team_schema,
            ),
        )
        .reads_ahead(|ids| ids.profile_query(team::team_query)),
        route(
            Method::PATCH,
            member,
            Access::owner(Area::Governance),
            patch(change_role),
            Doc::new("changeRole", "Change a member's role", schema::<MemberBody>)
                .body(schema::<RoleBody>)
                .errors(&[StatusCode::CONFLICT]),
        )
        .reads_ahead(|ids| ids.profile_query(team::team_query)),
        route(
            Method::DELETE,
            member,
            Access::member(Area::Governance),
            delete(remove),
            Doc::no_content(
                "removeMember",
                "Remove a member (owner, admin), or leave (the member itself; not the owner)",
            )
            .errors(&[StatusCode::CONFLICT]),
        )
        .reads_ahead(|ids| {
            [
                ids.profile_query(team::team_query),
                ids.profile_query(tokens::tokens_query),
            ]
            .concat()
        }),
        route(
            Method::POST,
            "/v1/profiles/{pid}/invitations/{iid}/resend",
            Access::admin(Area::Governance),
            post(resend),
            Doc::new(
                "resendInvitation",
                "Send a pending invitation again: a new link, its expiry restarted",
                schema::<InvitationBody>,
            )
            // 429: a resend counts as a sent invitation (see `invite`).
            .errors(&[StatusCode::CONFLICT, StatusCode::TOO_MANY_REQUESTS]),
        )
        .reads_ahead(|ids| ids.item(keys::invitation)),
        route(
            Method::DELETE,
            "/v1/profiles/{pid}/invitations/{iid}",
            Access::admin(Area::Governance),
            delete(revoke),
            Doc::no_content("revokeInvitation", "Revoke a pending invitation")
                .errors(&[StatusCode::CONFLICT]),
        )
        .reads_ahead(|ids| ids.item(keys::invitation)),
        route(
            Method::POST,
            "/v1/invitations/{iid}/accept",
            Access::Anyone,
            post(accept),
            Doc::new("acceptInvitation", "Accept an invitation", accepted_schema)
                .describe(answered)
                .optional_body(schema::<AnswerBody>)
                .errors(&[
                    StatusCode::UNAUTHORIZED,
                    StatusCode::FORBIDDEN,
                    StatusCode::CONFLICT,
                    StatusCode::TOO_MANY_REQUESTS,
                ]),
        ),
        route(
            Method::POST,
            "/v1/invitations/{iid}/decline",
            Access::Anyone,
            post(decline),
            Doc::new(
                "declineInvitation",
                "Decline an invitation",
                declined_schema,
            )
            .describe(answered)
            .optional_body(schema::<AnswerBody>)
            .errors(&[
                StatusCode::UNAUTHORIZED,
                StatusCode::FORBIDDEN,
                StatusCode::CONFLICT,
            ]),
        ),
        route(
            Method::GET,
            "/v1/account/invitations",
            Access::Session,
            get(mine),
            Doc::new(
                "myInvitations",
                "The invitations addressed to me",
                mine_schema,
            ),
        )
        .reads_ahead(|ids| ids.account_item(keys::account)),
    ]
}

/// `GET /v1/profiles/{pid}/team`.
fn team_schema(generator: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "properties": {
            "members": generator.subschema_for::<Vec<MemberBody>>(),
            "invitations": generator.subschema_for::<Vec<InvitationBody>>(),
        },
        "required": ["members", "invitations"],
    })
}

/// `POST /v1/invitations/{iid}/accept`.
fn accepted_schema(generator: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "properties": {
            "status": { "type": "string", "const": "accepted" },
            "profile": {
                "type": "object",
                "properties": {
                    "id": generator.subschema_for::<Uuid>(),
                    "name": { "type": "string" },
                    "role": generator.subschema_for::<Role>(),
                },
                "required": ["id", "name", "role"],
            },
        },
        "required": ["status", "profile"],
    })
}

/// `POST /v1/invitations/{iid}/decline`.
fn declined_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "properties": { "status": { "type": "string", "const": "declined" } },
        "required": ["status"],
    })
}

/// `GET /v1/account/invitations`.
fn mine_schema(generator: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "properties": { "invitations": generator.subschema_for::<Vec<InvitationBody>>() },
        "required": ["invitations"],
    })
}

/// An invitation as the API shows it (never its link's secret or hash).
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "Invitation")]
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

#[derive(Serialize, JsonSchema)]
#[schemars(rename = "Member")]
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

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NewInvitation")]
struct InviteBody {
    email: String,
    #[serde(default)]
    role: Option<Role>,
}

async fn invite(
    Primed(app): Primed,
    Audited(by): Audited,
    Extension(caller): Extension<ProfileCaller>,
    Json(body): Json<InviteBody>,
) -> ApiResult<impl IntoResponse> {
    let role = body.role.unwrap_or(Role::Member);
    let invitation = team::invite(&app, &caller, &body.email, role, &by).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(InvitationBody::new(&invitation, app.now())),
    ))
}

async fn list(
    Primed(app): Primed,
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

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "RoleChange")]
struct RoleBody {
    role: Role,
}

async fn change_role(
    Primed(app): Primed,
    Audited(by): Audited,
    Extension(caller): Extension<ProfileCaller>,
    PathId(aid): PathId,
    Json(body): Json<RoleBody>,
) -> ApiResult<impl IntoResponse> {
    let member = team::change_role(&app, &caller, aid, body.role, &by).await?;
    Ok(axum::Json(MemberBody::from(&member)))
}

async fn remove(
    Primed(app): Primed,
    Audited(by): Audited,
    Extension(caller): Extension<ProfileCaller>,
    PathId(aid): PathId,
) -> ApiResult<StatusCode> {
    team::remove(&app, &caller, aid, &by).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn resend(
    Primed(app): Primed,
    Audited(by): Audited,
    Extension(caller): Extension<ProfileCaller>,
    PathId(iid): PathId,
) -> ApiResult<impl IntoResponse> {
    let invitation = team::resend(&app, &caller, iid, &by).await?;
    Ok(axum::Json(InvitationBody::new(&invitation, app.now())))
}

async fn revoke(
    Primed(app): Primed,
    Audited(by): Audited,
    Extension(caller): Extension<ProfileCaller>,
    PathId(iid): PathId,
) -> ApiResult<StatusCode> {
    team::revoke(&app, &caller, iid, &by).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "InvitationAnswer")]
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
    Audited(by): Audited,
    PathId(iid): PathId,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<AnswerBody>,
) -> ApiResult<impl IntoResponse> {
    let answerer = answerer(&app, &headers, body).await?;
    let (invitation, profile) = team::accept(&app, iid, answerer, &by).await?;
    Ok(axum::Json(json!({
        "status": InvitationStatus::Accepted,
        "profile": { "id": profile.pid, "name": profile.name, "role": invitation.role },
    })))
}

async fn decline(
    State(app): State<App>,
    Audited(by): Audited,
    PathId(iid): PathId,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<AnswerBody>,
) -> ApiResult<impl IntoResponse> {
    let answerer = answerer(&app, &headers, body).await?;
    team::decline(&app, iid, answerer, &by).await?;
    Ok(axum::Json(json!({ "status": InvitationStatus::Declined })))
}

async fn mine(
    Primed(app): Primed,
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
