//! Membership: an account on a profile with a role, stored on both sides (the profile's team
//! is one query, an account's profiles are one query).

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::records::{AccountRecord, MemberRecord, MembershipRecord, ProfileRecord, Role};
use super::tx::Tx;
use crate::app::App;
use crate::keys;
use crate::refusal::{Decided, Refusal};
use crate::store::{Query, Write, query_all};

/// The writes that make `account` a member of `profile` with `role`, on both sides.
pub fn joining_writes(
    account: &AccountRecord,
    profile: &ProfileRecord,
    role: Role,
    at: DateTime<Utc>,
) -> Decided<Tx> {
    let member = MemberRecord {
        pid: profile.pid,
        aid: account.aid,
        role,
        email: account.email.clone(),
        name: account.name.clone(),
        joined_at: at,
    };
    let membership = MembershipRecord {
        pid: profile.pid,
        aid: account.aid,
        role,
        profile_name: profile.name.clone(),
        logo_url: profile.logo_url.clone(),
        joined_at: at,
    };
    let already = Refusal::Conflict("this account is already a member".into());
    let mut tx = Tx::new();
    tx.add_or(
        Write::put_new(keys::to_item(
            &keys::profile_member(profile.pid, account.aid),
            &member,
        )?),
        already.clone(),
    )
    .add_or(
        Write::put_new(keys::to_item(
            &keys::account_member(account.aid, profile.pid),
            &membership,
        )?),
        already,
    );
    Ok(tx)
}

/// The query of the membership items of one partition (an account's or a profile's).
fn memberships_query(partition: String) -> Query {
    Query::partition(partition).prefix(keys::MEMBER_PREFIX)
}

/// The query of the profiles account `aid` is on.
pub fn profiles_query(aid: Uuid) -> Query {
    memberships_query(keys::account_partition(aid))
}

/// The query of profile `pid`'s members.
pub fn members_query(pid: Uuid) -> Query {
    memberships_query(keys::profile_partition(pid))
}

/// The membership items of one partition (an account's or a profile's): one query.
async fn memberships<T: DeserializeOwned>(app: &App, partition: String) -> Decided<Vec<T>> {
    let items = query_all(app.table.as_ref(), memberships_query(partition)).await?;
    Ok(items
        .into_iter()
        .map(keys::from_item)
        .collect::<Result<_, _>>()?)
}

/// The profiles `aid` owns or belongs to, each with its role: one query.
pub async fn profiles_of(app: &App, aid: Uuid) -> Decided<Vec<MembershipRecord>> {
    memberships(app, keys::account_partition(aid)).await
}

/// The members of profile `pid`: one query.
pub async fn members_of(app: &App, pid: Uuid) -> Decided<Vec<MemberRecord>> {
    memberships(app, keys::profile_partition(pid)).await
}

/// One member of profile `pid` (404 when `aid` is not on it).
pub async fn member(app: &App, pid: Uuid, aid: Uuid) -> Decided<MemberRecord> {
    match app.table.get(&keys::profile_member(pid, aid)).await? {
        Some(item) => Ok(keys::from_item(item)?),
        None => Err(Refusal::not_found()),
    }
}
