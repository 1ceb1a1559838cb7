//! Members of a profile: role changes, removal and leaving.

use uuid::Uuid;

use crate::app::App;
use crate::catalogue::{Service, spelling};
use crate::domain::access::ProfileCaller;
use crate::domain::audit::{Audit, Scope};
use crate::domain::records::{Action, MemberRecord, Role, Target};
use crate::domain::tokens;
use crate::domain::tx::Tx;
use crate::domain::usage;
use crate::keys;
use crate::refusal::{Decided, Refusal};
use crate::store::{Condition, Update, Write};

use super::closing;

/// Changes a member's role (the owner's own role cannot change).
pub async fn change_role(
    app: &App,
    caller: &ProfileCaller,
    aid: Uuid,
    role: Role,
    by: &Audit,
) -> Decided<MemberRecord> {
    if role == Role::Owner {
        return Err(Refusal::invalid(
            "role",
            "ownership cannot be given this way; use admin or member",
        ));
    }
    if aid == caller.profile.owner {
        return Err(Refusal::Conflict("the owner's role cannot change".into()));
    }
    for _ in 0..ATTEMPTS {
        let (members, sent) = super::list(app, caller.pid).await?;
        let member = find(&members, aid)?;
        let mut tx = Tx::new();
        // A demoted admin's pending invitations go with the admin role, in the same change.
        if role < member.role {
            tx.append(closing::revoking_writes_of(&sent, aid, app.now()));
        }
        tx.append(role_writes(caller.pid, aid, role)).add(by.write(
            app.now(),
            Scope::Profile(caller.pid),
            Action::MemberRoleChanged,
            Target::new("member", aid),
            &["role"],
        )?);
        match tx.commit(app.table.as_ref()).await {
            Err(refusal) if refusal == closing::answered_meanwhile() => continue,
            outcome => return outcome.map(|()| MemberRecord { role, ..member }),
        }
    }
    Err(changed_meanwhile())
}

/// How often a change that closes a member's invitations is tried again when one of them was
/// answered meanwhile.
const ATTEMPTS: usize = 3;

fn changed_meanwhile() -> Refusal {
    Refusal::Contended("the team changed meanwhile; try again".into())
}

fn find(members: &[MemberRecord], aid: Uuid) -> Decided<MemberRecord> {
    members
        .iter()
        .find(|member| member.aid == aid)
        .cloned()
        .ok_or_else(Refusal::not_found)
}

/// The role, on both sides of the membership.
fn role_writes(pid: Uuid, aid: Uuid, role: Role) -> Tx {
    let mut tx = Tx::new();
    for key in [
        keys::profile_member(pid, aid),
        keys::account_member(aid, pid),
    ] {
        tx.add_or(
            Write::Update {
                key,
                update: Update::new().set("role", spelling(&role)),
                condition: Some(Condition::Exists),
            },
            Refusal::not_found(),
        );
    }
    tx
}

/// Removes a member (owner and admins may remove others, anyone may leave; the owner cannot
/// leave, and admins cannot remove the owner). In the same change, the member's API tokens on
/// the profile are deleted (the `tokens` gauge lowered by their number: they never come back,
/// even if the member rejoins) and the invitations the member sent that are still pending are
/// revoked. From the next request on, the former member's sessions no longer reach the profile.
pub async fn remove(app: &App, caller: &ProfileCaller, aid: Uuid, by: &Audit) -> Decided<()> {
    let me = caller.principal.account_id();
    if aid == caller.profile.owner {
        return Err(Refusal::Conflict(if aid == me {
            "the owner cannot leave the profile".into()
        } else {
            "the owner cannot be removed".into()
        }));
    }
    if aid != me && caller.role < Role::Admin {
        return Err(Refusal::Forbidden(
            "members may remove only themselves".into(),
        ));
    }
    for _ in 0..ATTEMPTS {
        // The team (members and invitations, one query) and the member's tokens (one query).
        let (team, tokens) = tokio::join!(
            super::list(app, caller.pid),
            tokens::of_member(app, caller.pid, aid)
        );
        let ((members, sent), tokens) = (team?, tokens?);
        find(&members, aid)?;
        let now = app.now();
        let mut gauges = vec![(Service::TeamMembers, -1)];
        if !tokens.is_empty() {
            gauges.push((
                Service::Tokens,
                -i64::try_from(tokens.len()).map_err(|_| Refusal::Internal)?,
            ));
        }
        let mut tx = Tx::new();
        tx.add_or(
            Write::delete(keys::profile_member(caller.pid, aid)).when(Condition::Exists),
            Refusal::not_found(),
        )
        .add(Write::delete(keys::account_member(aid, caller.pid)))
        .append(usage::gauges_writes(&caller.profile, &gauges, now)?)
        .append(closing::revoking_writes_of(&sent, aid, now))
        .add(by.write(
            now,
            Scope::Profile(caller.pid),
            Action::MemberRemoved,
            Target::new("member", aid),
            &[],
        )?);
        for token in tokens {
            // Guarded: a token revoked meanwhile was counted down already; try again.
            tx.add(Write::delete(token).when(Condition::Exists));
        }
        match tx.commit(app.table.as_ref()).await {
            Err(refusal)
                if refusal == closing::answered_meanwhile()
                    || matches!(refusal, Refusal::Contended(_)) =>
            {
                continue;
            }
            outcome => return outcome,
        }
    }
    Err(changed_meanwhile())
}
