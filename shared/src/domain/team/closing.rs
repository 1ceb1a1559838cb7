//! How an invitation closes: answered (accept, decline), revoked (by the team, or with its
//! inviter's removal) or marked `expired` by the maintenance job. Each is one transaction
//! guarded by the status and version the invitation was read with.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::app::App;
use crate::catalogue::spelling;
use crate::domain::audit::{Audit, Scope};
use crate::domain::records::{Action, InvitationRecord, InvitationStatus, Target};
use crate::domain::tx::Tx;
use crate::keys;
use crate::refusal::{Decided, Refusal};
use crate::store::{Condition, Update, Write};

/// Invitation `iid` of profile `pid` (refused: not found).
pub(super) async fn load(app: &App, pid: Uuid, iid: Uuid) -> Decided<InvitationRecord> {
    match app.table.get(&keys::invitation(pid, iid)).await? {
        Some(item) => Ok(keys::from_item(item)?),
        None => Err(Refusal::not_found()),
    }
}

/// The refusal of closing an invitation that was answered (or changed) meanwhile.
pub(super) fn answered_meanwhile() -> Refusal {
    Refusal::Conflict("this invitation was already answered".into())
}

/// Marks invitation `iid` of profile `pid` `expired` (the maintenance job, once its time ran
/// out), with its entry in the profile's log; its link goes. `false` when there was nothing to
/// do: gone, answered, resent (its time moved on) or marked by an overlapping run.
pub async fn expire(app: &App, pid: Uuid, iid: Uuid, by: &Audit) -> Decided<bool> {
    let invitation = match load(app, pid, iid).await {
        Ok(invitation) => invitation,
        Err(Refusal::NotFound(_)) => return Ok(false),
        Err(refusal) => return Err(refusal),
    };
    let now = app.now();
    if invitation.status_at(now) != InvitationStatus::Expired
        || invitation.status != InvitationStatus::Pending
    {
        return Ok(false);
    }
    let mut tx = Tx::new();
    tx.add_or(
        Write::Update {
            key: keys::invitation(pid, iid),
            update: Update::new()
                .set("status", spelling(&InvitationStatus::Expired))
                .remove("token_hash"),
            condition: Some(Condition::All(vec![
                Condition::Equals("status".into(), spelling(&InvitationStatus::Pending).into()),
                Condition::Equals("version".into(), invitation.version.into()),
            ])),
        },
        answered_meanwhile(),
    )
    .add(by.write(
        now,
        Scope::Profile(pid),
        Action::InvitationExpired,
        Target::new("invitation", iid),
        &["status"],
    )?);
    if let Some(hash) = &invitation.token_hash {
        tx.add(Write::delete(keys::token(hash)));
    }
    match tx.commit(app.table.as_ref()).await {
        Ok(()) => Ok(true),
        Err(refusal) if refusal == answered_meanwhile() => Ok(false),
        Err(refusal) => Err(refusal),
    }
}

/// Pending (even past its time) or marked `expired` by the maintenance job: it can still be
/// resent or revoked.
pub(super) fn is_open(invitation: &InvitationRecord) -> bool {
    matches!(
        invitation.status,
        InvitationStatus::Pending | InvitationStatus::Expired
    )
}

/// Moves a pending invitation to `status` with `more` writes in the same transaction: the
/// invitation (guarded: still pending, same version), its marker and its link go together.
/// Refused with [`answered_meanwhile`] when it was no longer pending.
pub(super) async fn close(
    app: &App,
    invitation: &InvitationRecord,
    status: InvitationStatus,
    now: DateTime<Utc>,
    more: Tx,
) -> Decided<()> {
    let mut tx = closing_writes(invitation, status, now);
    tx.append(more);
    tx.commit(app.table.as_ref()).await
}

/// The writes that close an open invitation (see [`close`]): the invitation, guarded (the
/// status and version it was read with; refused with [`answered_meanwhile`]), its marker while
/// it holds one (until its expiry; afterwards the marker is another's to take) and its link.
pub(super) fn closing_writes(
    invitation: &InvitationRecord,
    status: InvitationStatus,
    now: DateTime<Utc>,
) -> Tx {
    let mut tx = Tx::new();
    tx.add_or(
        Write::Update {
            key: keys::invitation(invitation.pid, invitation.iid),
            update: Update::new()
                .set("status", spelling(&status))
                .set("answered_at", now.to_rfc3339())
                .remove("token_hash"),
            condition: Some(Condition::All(vec![
                Condition::Equals("status".into(), spelling(&invitation.status).into()),
                Condition::Equals("version".into(), invitation.version.into()),
            ])),
        },
        answered_meanwhile(),
    );
    if invitation.status == InvitationStatus::Pending && invitation.expires_at > now {
        tx.add_or(
            Write::Delete {
                key: keys::pending_invitation(invitation.pid, &invitation.email),
                condition: Some(Condition::Equals(
                    "iid".into(),
                    invitation.iid.to_string().into(),
                )),
            },
            answered_meanwhile(),
        );
    }
    if let Some(hash) = &invitation.token_hash {
        tx.add(Write::delete(keys::token(hash)));
    }
    tx
}

/// The writes that revoke every invitation `inviter` sent that is still open (expired ones
/// included: they could be resent), for a change that takes the inviter's right to invite away
/// (removal, leaving, demotion) in the same transaction. `invitations` is the profile's list.
pub(super) fn revoking_writes_of(
    invitations: &[InvitationRecord],
    inviter: Uuid,
    now: DateTime<Utc>,
) -> Tx {
    let mut tx = Tx::new();
    for invitation in invitations
        .iter()
        .filter(|invitation| invitation.invited_by == inviter)
        .filter(|invitation| is_open(invitation))
    {
        tx.append(closing_writes(invitation, InvitationStatus::Revoked, now));
    }
    tx
}
