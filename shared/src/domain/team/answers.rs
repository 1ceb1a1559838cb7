//! Answers to an invitation: the invitee accepts (and joins) or declines, signed in or with
//! the link from the e-mail; and the invitations waiting for an account.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::closing::{close, load};
use crate::app::App;
use crate::catalogue::{Service, spelling};
use crate::domain::access::Principal;
use crate::domain::audit::{Audit, Scope};
use crate::domain::records::{
    AccountRecord, Action, Actor, InvitationRecord, InvitationStatus, ProfileRecord, Target,
    TokenRecord,
};
use crate::domain::tx::Tx;
use crate::domain::{credentials, membership, profiles, usage};
use crate::keys;
use crate::refusal::{Decided, Refusal};
use crate::secrets::{self, SecretKind};
use crate::store::{Query, query_all, query_first};

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
) -> Decided<(InvitationRecord, Option<AccountRecord>)> {
    match answerer {
        Answerer::Session(principal) => {
            let account = credentials::load(app, principal.account_id()).await?;
            let item = query_first(
                app.table.as_ref(),
                Query::gsi1(keys::invitee(&account.email)).prefix(keys::invitation_sk(iid)),
            )
            .await?
            .ok_or_else(Refusal::not_found)?;
            let invitation: InvitationRecord = keys::from_item(item)?;
            if invitation.invitee != account.aid {
                return Err(Refusal::not_found());
            }
            Ok((invitation, Some(account)))
        }
        Answerer::Link(secret) => {
            let refused = || Refusal::Unauthenticated("the invitation link is not valid".into());
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
            let invitation = load(app, link.pid, iid).await?;
            if invitation.version != link.version {
                return Err(Refusal::Conflict(
                    "this link was replaced by a newer invitation e-mail".into(),
                ));
            }
            Ok((invitation, None))
        }
    }
}

fn answerable(invitation: &InvitationRecord, now: DateTime<Utc>) -> Decided<()> {
    match invitation.status_at(now) {
        InvitationStatus::Pending => Ok(()),
        other => Err(Refusal::Conflict(format!(
            "this invitation is {}",
            spelling(&other)
        ))),
    }
}

/// Accepts: the invitee joins the profile with the invited role, counted against
/// `team_members`. Accepting twice, even at once, succeeds once.
pub async fn accept(
    app: &App,
    iid: Uuid,
    answerer: Answerer,
    by: &Audit,
) -> Decided<(InvitationRecord, ProfileRecord)> {
    let (invitation, account) = invitation_for(app, iid, &answerer).await?;
    let now = app.now();
    answerable(&invitation, now)?;
    let (profile, account) = match account {
        Some(account) => (profiles::get(app, invitation.pid).await?, account),
        None => {
            let (profile, account) = tokio::join!(
                profiles::get(app, invitation.pid),
                credentials::load(app, invitation.invitee)
            );
            (profile?, account?)
        }
    };
    // Only a proven mailbox joins: an address squatted before its owner signed up cannot.
    if !account.email_verified {
        return Err(Refusal::EmailUnverified);
    }
    let mut joining = membership::joining_writes(&account, &profile, invitation.role, now)?;
    joining
        .append(usage::gauge_writes(&profile, Service::TeamMembers, 1, now)?)
        .add(answer_entry(
            by,
            &invitation,
            Action::InvitationAccepted,
            now,
        )?);
    close(app, &invitation, InvitationStatus::Accepted, now, joining).await?;
    Ok((invitation, profile))
}

/// Declines: nothing joins; the link stops working.
pub async fn decline(app: &App, iid: Uuid, answerer: Answerer, by: &Audit) -> Decided<()> {
    let (invitation, _) = invitation_for(app, iid, &answerer).await?;
    let now = app.now();
    answerable(&invitation, now)?;
    let mut entry = Tx::new();
    entry.add(answer_entry(
        by,
        &invitation,
        Action::InvitationDeclined,
        now,
    )?);
    close(app, &invitation, InvitationStatus::Declined, now, entry).await
}

/// The profile's entry of an answer, by the invitee (signed in, or through the link).
fn answer_entry(
    by: &Audit,
    invitation: &InvitationRecord,
    action: Action,
    now: DateTime<Utc>,
) -> Decided<crate::store::Write> {
    by.by(Actor::account(invitation.invitee)).write(
        now,
        Scope::Profile(invitation.pid),
        action,
        Target::new("invitation", invitation.iid),
        &["status"],
    )
}

/// The pending invitations addressed to the caller's e-mail. One query (plus the account).
pub async fn addressed_to(app: &App, aid: Uuid) -> Decided<Vec<InvitationRecord>> {
    let account = credentials::load(app, aid).await?;
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
