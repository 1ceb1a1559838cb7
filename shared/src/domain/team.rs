//! A profile's team: invitations by e-mail to existing accounts, members and their roles.
//!
//! An invitation is written with everything it consumes in one transaction (the `emails`
//! counter, the hourly invitation rate, the one-pending-per-e-mail marker). Its e-mail, with the
//! link's secret, is prepared and sent by the notifications handler from the change record, so
//! the secret exists only in the e-mail and, hashed, in the store.

use chrono::{DateTime, Datelike, Timelike, Utc};
use uuid::Uuid;

use super::accounts;
use super::records::{
    AccountRecord, EmailClaim, InvitationRecord, InvitationStatus, InvitationTokenRecord,
    MemberRecord, ProfileRecord, Role, TokenRecord,
};
use super::usage::{self, Service};
use super::validate;
use crate::app::App;
use crate::auth::{Principal, ProfileCaller};
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::secrets::{self, SecretKind};
use crate::store::{Condition, Key, Query, StoreError, Update, Write, query_all, query_first};

/// Invitations a profile may send per hour.
pub const INVITATIONS_PER_HOUR: i64 = 20;

fn hour_of(at: DateTime<Utc>) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}",
        at.year(),
        at.month(),
        at.day(),
        at.hour()
    )
}

fn seconds_to_next_hour(at: DateTime<Utc>) -> u64 {
    u64::from(3600 - (at.minute() * 60 + at.second())).max(1)
}

/// The writes every sending of an invitation e-mail consumes: one `emails` use of the month
/// (guarded by the limit) and one of the hour's invitations (guarded by the rate).
fn sending_writes(profile: &ProfileRecord, now: DateTime<Utc>) -> ApiResult<[Write; 2]> {
    let limit = profile.limit(Service::Emails);
    if limit < 1 {
        return Err(usage::limit_reached(Service::Emails, now));
    }
    let (update, condition) = usage::monthly_update(Service::Emails, 1, limit, now);
    Ok([
        Write::Update {
            key: usage::usage_key(profile.pid, &usage::month_of(now)),
            update,
            condition: Some(condition),
        },
        Write::Update {
            key: keys::invitation_rate(profile.pid, &hour_of(now)),
            update: Update::new()
                .add("count", 1)
                .set("ttl", (now + chrono::Duration::hours(2)).timestamp()),
            condition: Some(Condition::Below("count".into(), INVITATIONS_PER_HOUR)),
        },
    ])
}

/// Maps the refusal of one of [`sending_writes`] (at `first` and `first + 1` of a transaction).
fn sending_refused(failed: &[usize], first: usize, now: DateTime<Utc>) -> Option<ApiError> {
    if failed.contains(&first) {
        return Some(usage::limit_reached(Service::Emails, now));
    }
    if failed.contains(&(first + 1)) {
        return Some(ApiError::TooManyAttempts {
            detail: format!(
                "a profile may send at most {INVITATIONS_PER_HOUR} invitations per hour"
            ),
            retry_after_seconds: seconds_to_next_hour(now),
        });
    }
    None
}

/// Invites the account with e-mail `email` to the caller's profile as `role`.
pub async fn invite(
    app: &App,
    caller: &ProfileCaller,
    email: &str,
    role: Role,
) -> ApiResult<InvitationRecord> {
    let email = validate::email(email)?;
    if role == Role::Owner {
        return Err(ApiError::Validation(
            "role: a profile has one owner; invite as admin or member".into(),
        ));
    }
    let profile = &caller.profile;
    // Independent reads, at once: who has the e-mail, who invites, any pending invitation.
    let marker_key = keys::pending_invitation(profile.pid, &email);
    let claim_key = keys::email_claim(&email);
    let (claim, inviter, marker) = tokio::join!(
        app.table.get(&claim_key),
        accounts::load(app, caller.principal.account_id()),
        app.table.get(&marker_key),
    );
    let (inviter, marker) = (inviter?, marker?);
    let claim = claim?.ok_or_else(|| {
        ApiError::Unprocessable(
            "no account uses this e-mail; only existing accounts can be invited".into(),
        )
    })?;
    let EmailClaim { aid: invitee } = keys::from_item(claim)?;
    if invitee == profile.owner {
        return Err(ApiError::Conflict(
            "the owner is already on the profile".into(),
        ));
    }
    if app
        .table
        .get(&keys::profile_member(profile.pid, invitee))
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict(
            "this account is already a member".into(),
        ));
    }
    let now = app.now();
    let invitation = InvitationRecord {
        iid: Uuid::now_v7(),
        pid: profile.pid,
        profile_name: profile.name.clone(),
        email: email.clone(),
        invitee,
        role,
        invited_by: inviter.aid,
        inviter_name: inviter.name.clone(),
        status: InvitationStatus::Pending,
        created_at: now,
        expires_at: now
            + chrono::Duration::from_std(app.config.invitation_ttl)
                .map_err(|_| ApiError::Internal)?,
        version: 1,
        token_hash: None,
        answered_at: None,
    };
    // One pending invitation per e-mail and profile: the marker exists while one is pending
    // and unexpired; an expired one's marker may be taken over.
    let marker_condition = match marker {
        None => Condition::NotExists,
        Some(marker) => {
            let expires = marker
                .get("expires_at")
                .and_then(|v| v.as_str())
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
            if expires.is_some_and(|at| at > now) {
                return Err(ApiError::Conflict(
                    "an invitation to this e-mail is already pending".into(),
                ));
            }
            Condition::Equals("iid".into(), marker.get("iid").cloned().unwrap_or_default())
        }
    };
    let mut marker = keys::to_item(
        &marker_key,
        &serde_json::json!({"iid": invitation.iid, "expires_at": invitation.expires_at}),
    )?;
    marker.insert("ttl".into(), invitation.expires_at.timestamp().into());
    let [count_email, count_rate] = sending_writes(profile, now)?;
    let writes = vec![
        Write::put_new(keys::to_indexed_item(
            &keys::invitation(profile.pid, invitation.iid),
            (
                &keys::invitee(&email),
                &format!("{}{}", keys::INVITE_PREFIX, invitation.iid),
            ),
            &invitation,
        )?),
        Write::Put {
            item: marker,
            condition: Some(marker_condition),
        },
        count_email,
        count_rate,
    ];
    match app.table.transact(writes).await {
        Ok(()) => Ok(invitation),
        Err(StoreError::TransactionCancelled { failed }) => {
            if let Some(refusal) = sending_refused(&failed, 2, now) {
                return Err(refusal);
            }
            Err(ApiError::Conflict(
                "an invitation to this e-mail is already pending".into(),
            ))
        }
        Err(error) => Err(error.into()),
    }
}

/// The team: members and invitations (expired ones included, so they can be resent). One query.
pub async fn list(app: &App, pid: Uuid) -> ApiResult<(Vec<MemberRecord>, Vec<InvitationRecord>)> {
    let items = query_all(
        app.table.as_ref(),
        Query::partition(keys::profile_partition(pid))
            .between(keys::INVITE_PREFIX, format!("{}~", keys::MEMBER_PREFIX)),
    )
    .await?;
    let mut members = Vec::new();
    let mut invitations = Vec::new();
    for item in items {
        let Some(key) = Key::of(&item) else { continue };
        if key.sk.starts_with(keys::MEMBER_PREFIX) {
            members.push(keys::from_item(item)?);
        } else if key.sk.starts_with(keys::INVITE_PREFIX) {
            invitations.push(keys::from_item(item)?);
        }
    }
    Ok((members, invitations))
}

async fn load_invitation(app: &App, pid: Uuid, iid: Uuid) -> ApiResult<InvitationRecord> {
    match app.table.get(&keys::invitation(pid, iid)).await? {
        Some(item) => keys::from_item(item),
        None => Err(ApiError::not_found()),
    }
}

/// Sends an invitation again: a new link (the old one stops working), its time restarted.
/// Pending and expired invitations can be resent.
pub async fn resend(app: &App, caller: &ProfileCaller, iid: Uuid) -> ApiResult<InvitationRecord> {
    let mut invitation = load_invitation(app, caller.pid, iid).await?;
    let now = app.now();
    if !matches!(
        invitation.status_at(now),
        InvitationStatus::Pending | InvitationStatus::Expired
    ) {
        return Err(ApiError::Conflict(format!(
            "a {} invitation cannot be resent",
            status_name(invitation.status_at(now))
        )));
    }
    let expires_at = now
        + chrono::Duration::from_std(app.config.invitation_ttl).map_err(|_| ApiError::Internal)?;
    let [count_email, count_rate] = sending_writes(&caller.profile, now)?;
    let mut marker = keys::to_item(
        &keys::pending_invitation(caller.pid, &invitation.email),
        &serde_json::json!({"iid": iid, "expires_at": expires_at}),
    )?;
    marker.insert("ttl".into(), expires_at.timestamp().into());
    let writes = vec![
        Write::Update {
            key: keys::invitation(caller.pid, iid),
            update: Update::new()
                .add("version", 1)
                .set("expires_at", expires_at.to_rfc3339())
                .set("status", "pending")
                .remove("token_hash"),
            condition: Some(Condition::All(vec![
                Condition::Equals("version".into(), invitation.version.into()),
                Condition::Equals("status".into(), "pending".into()),
            ])),
        },
        // The marker, unless another invitation to this e-mail took it over meanwhile.
        Write::Put {
            item: marker,
            condition: Some(Condition::Equals("iid".into(), iid.to_string().into())),
        },
        count_email,
        count_rate,
    ];
    let stale_link = invitation.token_hash.clone();
    match app.table.transact(writes).await {
        Ok(()) => {}
        Err(StoreError::TransactionCancelled { failed }) => {
            if let Some(refusal) = sending_refused(&failed, 2, now) {
                return Err(refusal);
            }
            return Err(ApiError::Conflict(
                "the invitation changed meanwhile, or another invitation to this e-mail is pending"
                    .into(),
            ));
        }
        Err(error) => return Err(error.into()),
    }
    if let Some(hash) = stale_link {
        app.table.delete(&keys::token(&hash), None).await?;
    }
    invitation.version += 1;
    invitation.expires_at = expires_at;
    invitation.token_hash = None;
    Ok(invitation)
}

/// Revokes a pending (or expired) invitation: its link stops working.
pub async fn revoke(app: &App, caller: &ProfileCaller, iid: Uuid) -> ApiResult<()> {
    let invitation = load_invitation(app, caller.pid, iid).await?;
    if invitation.status != InvitationStatus::Pending {
        return Err(ApiError::Conflict(format!(
            "a {} invitation cannot be revoked",
            status_name(invitation.status)
        )));
    }
    let now = app.now();
    close(app, &invitation, InvitationStatus::Revoked, now, Vec::new())
        .await
        .map(|_| ())
}

/// Moves a pending invitation to `status` with `more` writes in the same transaction: the
/// invitation (guarded: still pending, same version), its marker and its link go together.
/// Returns false when it was no longer pending (someone else answered first).
async fn close(
    app: &App,
    invitation: &InvitationRecord,
    status: InvitationStatus,
    now: DateTime<Utc>,
    more: Vec<Write>,
) -> ApiResult<bool> {
    let mut writes = vec![
        Write::Update {
            key: keys::invitation(invitation.pid, invitation.iid),
            update: Update::new()
                .set("status", status_name(status))
                .set("answered_at", now.to_rfc3339())
                .remove("token_hash"),
            condition: Some(Condition::All(vec![
                Condition::Equals("status".into(), "pending".into()),
                Condition::Equals("version".into(), invitation.version.into()),
            ])),
        },
        Write::Delete {
            key: keys::pending_invitation(invitation.pid, &invitation.email),
            condition: Some(Condition::Equals(
                "iid".into(),
                invitation.iid.to_string().into(),
            )),
        },
    ];
    if let Some(hash) = &invitation.token_hash {
        writes.push(Write::delete(keys::token(hash)));
    }
    let first_more = writes.len();
    writes.extend(more);
    match app.table.transact(writes).await {
        Ok(()) => Ok(true),
        Err(StoreError::TransactionCancelled { failed }) => {
            // Answered (or changed) meanwhile: whatever else failed follows from that.
            if failed.contains(&0) || !failed.iter().any(|i| *i >= first_more) {
                return Ok(false);
            }
            // Still pending, so one of the extra writes (the member gauge) refused.
            Err(usage::limit_reached(Service::TeamMembers, now))
        }
        Err(error) => Err(error.into()),
    }
}

/// How the invitee proves who they are.
pub enum Answerer {
    /// Signed in: the session's account must be the invited one.
    Session(Principal),
    /// The secret from the e-mail's link.
    Link(String),
}

/// Finds the invitation `iid` for whoever answers (with the answering account, when it was
/// read), refusing anyone else with 404 and a link that is not (or no longer) valid.
async fn invitation_for(
    app: &App,
    iid: Uuid,
    answerer: &Answerer,
) -> ApiResult<(InvitationRecord, Option<AccountRecord>)> {
    match answerer {
        Answerer::Session(principal) => {
            let account = accounts::load(app, principal.account_id()).await?;
            let item = query_first(
                app.table.as_ref(),
                Query::gsi1(keys::invitee(&account.email))
                    .prefix(format!("{}{iid}", keys::INVITE_PREFIX)),
            )
            .await?
            .ok_or_else(ApiError::not_found)?;
            let invitation: InvitationRecord = keys::from_item(item)?;
            if invitation.invitee != account.aid {
                return Err(ApiError::not_found());
            }
            Ok((invitation, Some(account)))
        }
        Answerer::Link(secret) => {
            let refused = || ApiError::Unauthorized("the invitation link is not valid".into());
            if secrets::parse(secret) != Some(SecretKind::Invitation) {
                return Err(refused());
            }
            let item = app
                .table
                .get(&keys::token(&secrets::digest(secret)))
                .await?
                .ok_or_else(refused)?;
            let TokenRecord::Invitation(link) = keys::from_item(item)? else {
                return Err(refused());
            };
            if link.iid != iid {
                return Err(refused());
            }
            let invitation = load_invitation(app, link.pid, iid).await?;
            if invitation.version != link.version {
                return Err(ApiError::Conflict(
                    "this link was replaced by a newer invitation e-mail".into(),
                ));
            }
            Ok((invitation, None))
        }
    }
}

fn answerable(invitation: &InvitationRecord, now: DateTime<Utc>) -> ApiResult<()> {
    match invitation.status_at(now) {
        InvitationStatus::Pending => Ok(()),
        other => Err(ApiError::Conflict(format!(
            "this invitation is {}",
            status_name(other)
        ))),
    }
}

/// Accepts: the invitee joins the profile with the invited role, counted against
/// `team_members`. Accepting twice, even at once, succeeds once.
pub async fn accept(
    app: &App,
    iid: Uuid,
    answerer: Answerer,
) -> ApiResult<(InvitationRecord, ProfileRecord)> {
    let (invitation, account) = invitation_for(app, iid, &answerer).await?;
    let now = app.now();
    answerable(&invitation, now)?;
    let (profile, account) = match account {
        Some(account) => (super::profiles::get(app, invitation.pid).await?, account),
        None => {
            let (profile, account) = tokio::join!(
                super::profiles::get(app, invitation.pid),
                accounts::load(app, invitation.invitee)
            );
            (profile?, account?)
        }
    };
    let mut more: Vec<Write> =
        accounts::membership_writes(&account, &profile, invitation.role, now)?.into();
    more.extend(usage::gauge_writes(&profile, Service::TeamMembers, 1, now)?);
    if !close(app, &invitation, InvitationStatus::Accepted, now, more).await? {
        return Err(ApiError::Conflict(
            "this invitation was already answered".into(),
        ));
    }
    Ok((invitation, profile))
}

/// Declines: nothing joins; the link stops working.
pub async fn decline(app: &App, iid: Uuid, answerer: Answerer) -> ApiResult<()> {
    let (invitation, _) = invitation_for(app, iid, &answerer).await?;
    let now = app.now();
    answerable(&invitation, now)?;
    if !close(
        app,
        &invitation,
        InvitationStatus::Declined,
        now,
        Vec::new(),
    )
    .await?
    {
        return Err(ApiError::Conflict(
            "this invitation was already answered".into(),
        ));
    }
    Ok(())
}

/// The pending invitations addressed to the caller's e-mail. One query (plus the account).
pub async fn addressed_to(app: &App, aid: Uuid) -> ApiResult<Vec<InvitationRecord>> {
    let account = accounts::load(app, aid).await?;
    let items = query_all(
        app.table.as_ref(),
        Query::gsi1(keys::invitee(&account.email)),
    )
    .await?;
    let now = app.now();
    let mut pending = Vec::new();
    for item in items {
        let invitation: InvitationRecord = keys::from_item(item)?;
        if invitation.invitee == aid && invitation.status_at(now) == InvitationStatus::Pending {
            pending.push(invitation);
        }
    }
    Ok(pending)
}

/// Changes a member's role (the owner's own role cannot change).
pub async fn change_role(
    app: &App,
    caller: &ProfileCaller,
    aid: Uuid,
    role: Role,
) -> ApiResult<MemberRecord> {
    if role == Role::Owner {
        return Err(ApiError::Validation(
            "role: ownership cannot be given this way; use admin or member".into(),
        ));
    }
    if aid == caller.profile.owner {
        return Err(ApiError::Conflict("the owner's role cannot change".into()));
    }
    let member = load_member(app, caller.pid, aid).await?;
    let writes = vec![
        Write::Update {
            key: keys::profile_member(caller.pid, aid),
            update: Update::new().set("role", crate::auth::role_name(role)),
            condition: Some(Condition::Exists),
        },
        Write::Update {
            key: keys::account_member(aid, caller.pid),
            update: Update::new().set("role", crate::auth::role_name(role)),
            condition: Some(Condition::Exists),
        },
    ];
    match app.table.transact(writes).await {
        Ok(()) => Ok(MemberRecord { role, ..member }),
        Err(StoreError::TransactionCancelled { .. }) => Err(ApiError::not_found()),
        Err(error) => Err(error.into()),
    }
}

async fn load_member(app: &App, pid: Uuid, aid: Uuid) -> ApiResult<MemberRecord> {
    match app.table.get(&keys::profile_member(pid, aid)).await? {
        Some(item) => keys::from_item(item),
        None => Err(ApiError::not_found()),
    }
}

/// Removes a member (owner and admins may remove others, anyone may leave; the owner cannot
/// leave, and admins cannot remove the owner). From the next request on, the former member's
/// sessions and tokens no longer reach the profile.
pub async fn remove(app: &App, caller: &ProfileCaller, aid: Uuid) -> ApiResult<()> {
    let me = caller.principal.account_id();
    if aid == caller.profile.owner {
        return Err(ApiError::Conflict(if aid == me {
            "the owner cannot leave the profile".into()
        } else {
            "the owner cannot be removed".into()
        }));
    }
    if aid != me && caller.role < Role::Admin {
        return Err(ApiError::Forbidden(
            "members may remove only themselves".into(),
        ));
    }
    load_member(app, caller.pid, aid).await?;
    let mut writes = vec![
        Write::delete(keys::profile_member(caller.pid, aid)).when(Condition::Exists),
        Write::delete(keys::account_member(aid, caller.pid)),
    ];
    writes.extend(usage::gauge_writes(
        &caller.profile,
        Service::TeamMembers,
        -1,
        app.now(),
    )?);
    match app.table.transact(writes).await {
        Ok(()) => Ok(()),
        Err(StoreError::TransactionCancelled { .. }) => Err(ApiError::not_found()),
        Err(error) => Err(error.into()),
    }
}

pub fn status_name(status: InvitationStatus) -> &'static str {
    match status {
        InvitationStatus::Pending => "pending",
        InvitationStatus::Accepted => "accepted",
        InvitationStatus::Declined => "declined",
        InvitationStatus::Revoked => "revoked",
        InvitationStatus::Expired => "expired",
    }
}

/// What the notifications handler needs to e-mail an invitation: a fresh link secret, stored
/// (hashed) with the invitation's current version in the same transaction as the sent-marker
/// of the change record. Returns `None` when the invitation moved on meanwhile (answered,
/// revoked, resent) or this record was handled before.
pub async fn prepare_link(
    app: &App,
    invitation: &InvitationRecord,
    marker: Write,
) -> ApiResult<Option<String>> {
    let secret = secrets::generate(SecretKind::Invitation).map_err(|_| ApiError::Internal)?;
    let digest = secrets::digest(&secret);
    let link = InvitationTokenRecord {
        pid: invitation.pid,
        iid: invitation.iid,
        version: invitation.version,
        expires_at: invitation.expires_at,
        ttl: invitation.expires_at.timestamp(),
    };
    let writes = vec![
        marker,
        Write::put_new(keys::to_item(
            &keys::token(&digest),
            &TokenRecord::Invitation(link),
        )?),
        Write::Update {
            key: keys::invitation(invitation.pid, invitation.iid),
            update: Update::new().set("token_hash", digest),
            condition: Some(Condition::All(vec![
                Condition::Equals("status".into(), "pending".into()),
                Condition::Equals("version".into(), invitation.version.into()),
            ])),
        },
    ];
    match app.table.transact(writes).await {
        Ok(()) => Ok(Some(secret)),
        Err(StoreError::TransactionCancelled { .. }) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// Undoes [`prepare_link`] when the e-mail could not be sent, so a retry prepares it again.
pub async fn unprepare_link(
    app: &App,
    invitation: &InvitationRecord,
    secret: &str,
    marker: Key,
) -> ApiResult<()> {
    let digest = secrets::digest(secret);
    app.table
        .transact(vec![
            Write::delete(marker),
            Write::delete(keys::token(&digest)),
        ])
        .await?;
    let forget = app
        .table
        .update(
            &keys::invitation(invitation.pid, invitation.iid),
            Update::new().remove("token_hash"),
            Some(Condition::Equals("token_hash".into(), digest.into())),
        )
        .await;
    match forget {
        Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
        Err(error) => Err(error.into()),
    }
}
