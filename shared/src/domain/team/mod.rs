//! A profile's team: [`invitations`] by e-mail to existing accounts (sent, resent, revoked),
//! their [`answers`] (accept, decline), how they [`closing`] (answered, revoked, expired), the [`members`] and their roles, and the invitation
//! [`links`] the notifications handler prepares.
//!
//! An invitation is written with everything it consumes in one transaction (the `emails`
//! counter, the hourly invitation rate, the one-pending-per-e-mail marker). Its e-mail, with the
//! link's secret, is prepared and sent by the notifications handler from the change record, so
//! the secret exists only in the e-mail and, hashed, in the store.

pub mod answers;
pub mod closing;
pub mod invitations;
pub mod links;
pub mod members;

use uuid::Uuid;

use super::records::{InvitationRecord, MemberRecord};
use crate::app::App;
use crate::keys;
use crate::refusal::Decided;
use crate::store::{Key, Query, query_all};

pub use answers::{Answerer, accept, addressed_to, decline};
pub use invitations::{INVITATIONS_PER_HOUR, invite, resend, revoke};
pub use links::{prepare_link, unprepare_link};
pub use members::{change_role, remove};

/// The query of profile `pid`'s team.
pub fn team_query(pid: Uuid) -> Query {
    let (from, to) = keys::team_range();
    Query::partition(keys::profile_partition(pid)).between(from, to)
}

/// The team: members and invitations (expired ones included, so they can be resent). One query.
pub async fn list(app: &App, pid: Uuid) -> Decided<(Vec<MemberRecord>, Vec<InvitationRecord>)> {
    let items = query_all(app.table.as_ref(), team_query(pid)).await?;
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
