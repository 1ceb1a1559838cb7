//! Members of a profile: role changes, removal and leaving.

use uuid::Uuid;

use crate::app::App;
use crate::catalogue::{Service, spelling};
use crate::domain::access::ProfileCaller;
use crate::domain::membership;
use crate::domain::records::{MemberRecord, Role};
use crate::domain::tx::Tx;
use crate::domain::usage;
use crate::keys;
use crate::refusal::{Decided, Refusal};
use crate::store::{Condition, Update, Write};

/// Changes a member's role (the owner's own role cannot change).
pub async fn change_role(
    app: &App,
    caller: &ProfileCaller,
    aid: Uuid,
    role: Role,
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
    let member = membership::member(app, caller.pid, aid).await?;
    let mut tx = Tx::new();
    for key in [
        keys::profile_member(caller.pid, aid),
        keys::account_member(aid, caller.pid),
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
    tx.commit(app.table.as_ref()).await?;
    Ok(MemberRecord { role, ..member })
}

/// Removes a member (owner and admins may remove others, anyone may leave; the owner cannot
/// leave, and admins cannot remove the owner). From the next request on, the former member's
/// sessions and tokens no longer reach the profile.
pub async fn remove(app: &App, caller: &ProfileCaller, aid: Uuid) -> Decided<()> {
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
    membership::member(app, caller.pid, aid).await?;
    let mut tx = Tx::new();
    tx.add_or(
        Write::delete(keys::profile_member(caller.pid, aid)).when(Condition::Exists),
        Refusal::not_found(),
    )
    .add(Write::delete(keys::account_member(aid, caller.pid)))
    .append(usage::gauge_writes(
        &caller.profile,
        Service::TeamMembers,
        -1,
        app.now(),
    )?);
    tx.commit(app.table.as_ref()).await
}
