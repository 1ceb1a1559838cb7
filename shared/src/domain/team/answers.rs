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

/// The invitation being answered, with what an acceptance needs when it was read on the way:
/// the invitee's account, the profile.
struct Found {
    invitation: InvitationRecord,
    account: Option<AccountRecord>,
    profile: Option<ProfileRecord>,
}

/// Finds the invitation `iid` for whoever answers (with the answering account, when it was
/// read), refusing anyone else with 404 and a link that is not (or no longer) valid. A link
/// claims its profile and invitee (`secrets::pair_claim`): the invitation is read with the
/// link, and for a `joining` answer the profile and the invitee's account too; each is used
/// only where the link and the invitation agree with the claim, and read otherwise.
async fn invitation_for(
    app: &App,
    iid: Uuid,
    answerer: &Answerer,
    joining: bool,
) -> Decided<Found> {
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
            Ok(Found {
                invitation,
                account: Some(account),
                profile: None,
            })
        }
        Answerer::Link(secret) => {
            let refused = || Refusal::Unauthenticated("the invitation link is not valid".into());
            if secrets::parse(secret) != Some(SecretKind::Invitation) {
                return Err(refused());
            }
            let claim = secrets::pair_claim(secret, SecretKind::Invitation);
            let link_key = keys::token(&secrets::digest(secret));
            let claimed = async {
                let (pid, invitee) = claim?;
                let profile = async {
                    match joining {
                        true => Some(profiles::get(app, pid).await),
                        false => None,
                    }
                };
                let account = async {
                    match joining {
                        true => Some(credentials::load(app, invitee).await),
                        false => None,
                    }
                };
                let (invitation, profile, account) =
                    tokio::join!(load(app, pid, iid), profile, account);
                Some((invitation.ok()?, profile, account, invitee))
            };
            let (item, claimed) = tokio::join!(app.table.get(&link_key), claimed);
            let item = item?.ok_or_else(refused)?;
            let TokenRecord::Invitation(link) = keys::from_item(item)? else {
                return Err(refused());
            };
            if link.iid != iid {
                return Err(refused());
            }
            let found = match claimed {
                Some((invitation, profile, account, invitee))
                    if invitation.pid == link.pid && invitation.invitee == invitee =>
                {
                    Found {
                        invitation,
                        account: account.and_then(Result::ok),
                        profile: profile.and_then(Result::ok),
                    }
                }
                _ => Found {
                    invitation: load(app, link.pid, iid).await?,
                    account: None,
                    profile: None,
                },
            };
            if found.invitation.version != link.version {
                return Err(Refusal::Conflict(
                    "this link was replaced by a newer invitation e-mail".into(),
                ));
            }
            Ok(found)
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
    let Found {
        invitation,
        account,
        profile,
    } = invitation_for(app, iid, &answerer, true).await?;
    let now = app.now();
    answerable(&invitation, now)?;
    let (profile, account) = tokio::join!(
        async {
            match profile {
                Some(profile) => Ok(profile),
                None => profiles::get(app, invitation.pid).await,
            }
        },
        async {
            match account {
                Some(account) => Ok(account),
                None => credentials::load(app, invitation.invitee).await,
            }
        }
    );
    let (profile, account) = (profile?, account?);
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
    let invitation = invitation_for(app, iid, &answerer, false).await?.invitation;
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
