//! Invitations: sent by e-mail to an existing account, resent with a new link, revoked.

use chrono::{DateTime, Timelike, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::closing::{answered_meanwhile, close, is_open, load};
use crate::app::App;
use crate::catalogue::{Service, spelling};
use crate::domain::access::ProfileCaller;
use crate::domain::audit::{Audit, Scope};
use crate::domain::credentials;
use crate::domain::due;
use crate::domain::records::{
    Action, EmailClaim, InvitationRecord, InvitationStatus, ProfileRecord, Role, Target,
};
use crate::domain::tx::Tx;
use crate::domain::usage;
use crate::email::Email;
use crate::keys;
use crate::refusal::{Decided, Refusal};
use crate::store::{Condition, Update, Write};

/// Invitations a profile may send per hour.
pub const INVITATIONS_PER_HOUR: i64 = 20;

/// The one-pending-invitation marker (`PROFILE#pid / PENDING#<email>`): which invitation holds
/// it, until when.
#[derive(Serialize, Deserialize)]
struct PendingMarker {
    iid: Uuid,
    expires_at: DateTime<Utc>,
    ttl: i64,
}

fn marker_item(pid: Uuid, email: &Email, iid: Uuid, expires_at: DateTime<Utc>) -> Decided<Write> {
    let marker = PendingMarker {
        iid,
        expires_at,
        ttl: expires_at.timestamp(),
    };
    Ok(Write::put(keys::to_item(
        &keys::pending_invitation(pid, email),
        &marker,
    )?))
}

/// The condition under which an invitation (`iid`) may take the one-pending-invitation marker
/// of its e-mail at `now`: absent, its own, or another invitation's that expired (its `ttl`,
/// the expiry in Unix seconds, not after `now`). Checked by the write, with no read before it.
fn marker_free(iid: Uuid, now: DateTime<Utc>) -> Condition {
    Condition::Any(vec![
        Condition::NotExists,
        Condition::Equals("iid".into(), iid.to_string().into()),
        Condition::Below("ttl".into(), now.timestamp().saturating_add(1)),
    ])
}

pub(crate) fn until_next_hour(at: DateTime<Utc>) -> std::time::Duration {
    std::time::Duration::from_secs(u64::from(3600 - (at.minute() * 60 + at.second())).max(1))
}

fn until_next_day(at: DateTime<Utc>) -> std::time::Duration {
    let elapsed = at.num_seconds_from_midnight();
    std::time::Duration::from_secs(u64::from(86_400 - elapsed).max(1))
}

/// The writes every sending of an invitation e-mail consumes: one `emails` use of the month
/// (refused: `limit-reached`), one of the profile's invitations of the hour and one of the
/// sending account's invitations of the day, across all its profiles (both refused: too many
/// attempts). The account's cap keeps one account from relaying mail (a profile's name is in
/// every invitation) through many profiles.
fn sending_writes(
    app: &App,
    profile: &ProfileRecord,
    sender: Uuid,
    now: DateTime<Utc>,
) -> Decided<Tx> {
    let per_day = app.config.invitations_per_account_per_day;
    let mut tx = usage::monthly_writes(profile, Service::Emails, 1, now)?;
    tx.add_or(
        Write::Update {
            key: keys::invitation_rate(profile.pid, &keys::hour_of(now)),
            update: Update::new()
                .add("count", 1)
                .set("ttl", (now + chrono::Duration::hours(2)).timestamp()),
            condition: Some(Condition::Below("count".into(), INVITATIONS_PER_HOUR)),
        },
        Refusal::TooManyAttempts {
            detail: format!(
                "a profile may send at most {INVITATIONS_PER_HOUR} invitations per hour"
            ),
            retry_after: until_next_hour(now),
        },
    )
    .add_or(
        Write::Update {
            key: keys::account_invitation_rate(sender, &keys::day_of(now)),
            update: Update::new()
                .add("count", 1)
                .set("ttl", (now + chrono::Duration::days(2)).timestamp()),
            condition: Some(Condition::Below("count".into(), per_day)),
        },
        Refusal::TooManyAttempts {
            detail: format!(
                "an account may send at most {per_day} invitations per day, across its profiles"
            ),
            retry_after: until_next_day(now),
        },
    );
    Ok(tx)
}

/// Only the owner invites (or re-sends an invitation to) admins; admins invite members.
fn refuse_granting(caller: &ProfileCaller, role: Role) -> Decided<()> {
    if role >= Role::Admin && caller.role < Role::Owner {
        return Err(Refusal::Forbidden(
            "only the owner invites admins; an admin invites members".into(),
        ));
    }
    Ok(())
}

fn invitation_ttl(app: &App) -> Decided<chrono::Duration> {
    chrono::Duration::from_std(app.config.invitation_ttl).map_err(|_| Refusal::Internal)
}

/// Invites the account with e-mail `email` to the caller's profile as `role`.
pub async fn invite(
    app: &App,
    caller: &ProfileCaller,
    email: &str,
    role: Role,
    by: &Audit,
) -> Decided<InvitationRecord> {
    let email = Email::parse(email)?;
    if role == Role::Owner {
        return Err(Refusal::invalid(
            "role",
            "a profile has one owner; invite as admin or member",
        ));
    }
    refuse_granting(caller, role)?;
    let profile = &caller.profile;
    // Independent reads, at once: who has the e-mail, and who invites.
    let claim_key = keys::email_claim(&email);
    let (claim, inviter) = tokio::join!(
        app.table.get(&claim_key),
        credentials::load(app, caller.principal.account_id()),
    );
    let inviter = inviter?;
    // An unverified account is refused exactly like an unknown e-mail: whoever signed up with
    // the address has not proven it is theirs.
    let unknown = || {
        Refusal::Unprocessable(
            "no account uses this e-mail; only existing accounts can be invited".into(),
        )
    };
    let claim = claim?.ok_or_else(unknown)?;
    let EmailClaim { aid: invitee, .. } = keys::from_item(claim)?;
    if invitee == profile.owner {
        return Err(Refusal::Conflict(
            "the owner is already on the profile".into(),
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
        expires_at: now + invitation_ttl(app)?,
        version: 1,
        token_hash: None,
        answered_at: None,
    };
    // One pending invitation per e-mail and profile: the marker exists while one is pending
    // and unexpired; an expired one's marker may be taken over.
    let already = Refusal::Conflict("an invitation to this e-mail is already pending".into());
    let marker_condition = marker_free(invitation.iid, now);
    let mut tx = Tx::new();
    // The invitee's account and membership (both named by the claim) are not read: the
    // transaction checks them, in the order their refusals take.
    tx.add_or(
        Write::Check {
            key: keys::account(invitee),
            condition: Condition::All(vec![
                Condition::Exists,
                Condition::Equals("email_verified".into(), true.into()),
                Condition::NotEquals("deleting".into(), true.into()),
            ]),
        },
        unknown(),
    )
    .add_or(
        Write::Check {
            key: keys::profile_member(profile.pid, invitee),
            condition: Condition::NotExists,
        },
        Refusal::Conflict("this account is already a member".into()),
    )
    .add_or(
        Write::put_new(keys::to_indexed_item(
            &keys::invitation(profile.pid, invitation.iid),
            (&keys::invitee(&email), &keys::invitation_sk(invitation.iid)),
            &invitation,
        )?),
        already.clone(),
    )
    .add_or(
        marker_item(profile.pid, &email, invitation.iid, invitation.expires_at)?
            .when(marker_condition),
        already,
    )
    .add(due::invitation_expiry(
        profile.pid,
        invitation.iid,
        invitation.expires_at,
    )?)
    .append(sending_writes(app, profile, inviter.aid, now)?)
    .add(by.write(
        now,
        Scope::Profile(profile.pid),
        Action::InvitationCreated,
        Target::new("invitation", invitation.iid),
        &["email", "role"],
    )?);
    tx.commit(app.table.as_ref()).await?;
    Ok(invitation)
}

/// Sends an invitation again: a new link (the old one stops working), its time restarted.
/// Pending and expired invitations can be resent.
pub async fn resend(
    app: &App,
    caller: &ProfileCaller,
    iid: Uuid,
    by: &Audit,
) -> Decided<InvitationRecord> {
    let mut invitation = load(app, caller.pid, iid).await?;
    refuse_granting(caller, invitation.role)?;
    let now = app.now();
    if !matches!(
        invitation.status_at(now),
        InvitationStatus::Pending | InvitationStatus::Expired
    ) {
        return Err(Refusal::Conflict(format!(
            "a {} invitation cannot be resent",
            spelling(&invitation.status_at(now))
        )));
    }
    let expires_at = now + invitation_ttl(app)?;
    let changed = Refusal::Conflict(
        "the invitation changed meanwhile, or another invitation to this e-mail is pending".into(),
    );
    // Resent after its time, it may find its marker gone (the marker's `ttl` is the old
    // expiry) or taken by a newer invitation to the same e-mail: its write's condition says.
    let marker_condition = marker_free(iid, now);
    let pending = spelling(&InvitationStatus::Pending);
    let mut tx = Tx::new();
    tx.add_or(
        Write::Update {
            key: keys::invitation(caller.pid, iid),
            update: Update::new()
                .add("version", 1)
                .set("expires_at", expires_at.to_rfc3339())
                .set("status", pending.clone())
                .remove("token_hash"),
            condition: Some(Condition::All(vec![
                Condition::Equals("version".into(), invitation.version.into()),
                Condition::Equals("status".into(), spelling(&invitation.status).into()),
            ])),
        },
        changed.clone(),
    )
    // The marker, unless another invitation to this e-mail took it over meanwhile.
    .add_or(
        marker_item(caller.pid, &invitation.email, iid, expires_at)?.when(marker_condition),
        changed,
    )
    .add(due::invitation_expiry(caller.pid, iid, expires_at)?)
    .append(sending_writes(
        app,
        &caller.profile,
        caller.principal.account_id(),
        now,
    )?)
    .add(by.write(
        now,
        Scope::Profile(caller.pid),
        Action::InvitationResent,
        Target::new("invitation", iid),
        &["expires_at"],
    )?);
    // The old link stops working in the same change.
    if let Some(hash) = &invitation.token_hash {
        tx.add(Write::delete(keys::token(hash)));
    }
    tx.commit(app.table.as_ref()).await?;
    invitation.version += 1;
    invitation.expires_at = expires_at;
    invitation.token_hash = None;
    Ok(invitation)
}

/// Revokes a pending (or expired) invitation: its link stops working.
pub async fn revoke(app: &App, caller: &ProfileCaller, iid: Uuid, by: &Audit) -> Decided<()> {
    let invitation = load(app, caller.pid, iid).await?;
    let now = app.now();
    if !is_open(&invitation) {
        return Err(Refusal::Conflict(format!(
            "a {} invitation cannot be revoked",
            spelling(&invitation.status_at(now))
        )));
    }
    let mut entry = Tx::new();
    entry.add(by.write(
        now,
        Scope::Profile(caller.pid),
        Action::InvitationRevoked,
        Target::new("invitation", iid),
        &["status"],
    )?);
    match close(app, &invitation, InvitationStatus::Revoked, now, entry).await {
        // Answered meanwhile: it is closed either way.
        Err(refusal) if refusal == answered_meanwhile() => Ok(()),
        outcome => outcome,
    }
}
