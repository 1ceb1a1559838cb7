//! The policy check and the per-user explanation, through the cache.
//!
//! Round trips of a warm check (the set compiled at the profile's current version is cached):
//! - by the team (`POST …/policies/check`): what the access check reads anyway (the token, then
//!   the membership and the profile with its `policy_version` together, then the
//!   `api_requests` count), then one `GetItem` per distinct run user named (in parallel; none
//!   for a tag subject);
//! - by a run user (`POST /v1/run/check`): nothing beyond the access check, which already reads
//!   the user and the profile together.
//!
//! Cold (another version, or a process that never compiled the profile), one query of the
//! profile's `POLICY#` items is added, in parallel with the run users' reads.
//! The run user is read fresh on every check, so a change of its tags or `active` is seen at
//! once; a policy change raises the version, which the next check reads with the profile.

use std::collections::BTreeMap;
use std::sync::Arc;

use uuid::Uuid;

use super::list_all;
use crate::app::App;
use crate::domain::policies::{Applied, Compiled, Decision, ResourceRef, Subject};
use crate::domain::records::{ProfileRecord, RunUserRecord, Tag};
use crate::domain::run_users::fields::MAX_TAGS;
use crate::keys;
use crate::refusal::{Decided, Refusal};

/// The most checks one batch may hold.
pub const MAX_CHECKS: usize = 100;

/// Who a team's check is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckTarget {
    /// A run user of the profile, read fresh.
    RunUser(Uuid),
    /// Any subject carrying these tags.
    Tags(Vec<Tag>),
}

/// One check: may `target` do `action` on `resource`?
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckRequest {
    pub target: CheckTarget,
    pub action: String,
    pub resource: ResourceRef,
}

/// One check a run user asks about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnCheck {
    pub action: String,
    pub resource: ResourceRef,
}

/// The compiled policy set of `profile` at the `policy_version` it was read with: from the
/// cache, or read and compiled (and cached).
pub async fn compiled(app: &App, profile: &ProfileRecord) -> Decided<Arc<Compiled>> {
    if let Some(compiled) = app.policies.get(profile.pid, profile.policy_version) {
        return Ok(compiled);
    }
    let policies: Vec<(Uuid, _)> = list_all(app, profile.pid)
        .await?
        .into_iter()
        .map(|policy| (policy.id, policy.body()))
        .collect();
    let compiled = Arc::new(Compiled::compile(profile.policy_version, &policies));
    app.policies.put(profile.pid, compiled.clone());
    Ok(compiled)
}

/// The path prefix of check `index` (`checks[3].` in a batch, nothing for a single check).
fn prefix(batch: bool, index: usize) -> String {
    if batch {
        format!("checks[{index}].")
    } else {
        String::new()
    }
}

/// Bounds of what one check may carry (a request is a small thing to evaluate).
fn check_bounds(field: &str, action: &str, resource: &ResourceRef) -> Decided<()> {
    if action.is_empty() {
        return Err(Refusal::invalid(
            format!("{field}action"),
            "must not be empty",
        ));
    }
    if resource.tags.len() > MAX_TAGS {
        return Err(Refusal::invalid(
            format!("{field}resource.tags"),
            format!("at most {MAX_TAGS} tags"),
        ));
    }
    Ok(())
}

fn count_bounds(count: usize) -> Decided<()> {
    if count == 0 || count > MAX_CHECKS {
        return Err(Refusal::invalid(
            "checks",
            format!("from 1 to {MAX_CHECKS} checks"),
        ));
    }
    Ok(())
}

/// The team's checks on `profile` (a batch when `batch`), in order. A run user that is not
/// one of the profile's is `422` at `target.run_user` (`checks[i].target.run_user`).
pub async fn check(
    app: &App,
    profile: &ProfileRecord,
    requests: &[CheckRequest],
    batch: bool,
    explain: bool,
) -> Decided<Vec<Decision>> {
    count_bounds(requests.len())?;
    let mut wanted: BTreeMap<Uuid, usize> = BTreeMap::new();
    for (index, request) in requests.iter().enumerate() {
        let field = prefix(batch, index);
        check_bounds(&field, &request.action, &request.resource)?;
        match &request.target {
            CheckTarget::RunUser(uid) => {
                wanted.entry(*uid).or_insert(index);
            }
            CheckTarget::Tags(tags) if tags.len() > MAX_TAGS => {
                return Err(Refusal::invalid(
                    format!("{field}target.tags"),
                    format!("at most {MAX_TAGS} tags"),
                ));
            }
            CheckTarget::Tags(_) => {}
        }
    }
    let mut reads = tokio::task::JoinSet::new();
    for (&uid, &index) in &wanted {
        let table = app.table.clone();
        let key = keys::run_user(profile.pid, uid);
        reads.spawn(async move { (uid, index, table.get(&key).await) });
    }
    let compiled = compiled(app, profile).await?;
    let mut users: BTreeMap<Uuid, RunUserRecord> = BTreeMap::new();
    let mut unknown: Option<usize> = None;
    while let Some(joined) = reads.join_next().await {
        let (uid, index, found) = joined.map_err(|_| Refusal::Internal)?;
        match found? {
            Some(item) => {
                users.insert(uid, keys::from_item(item)?);
            }
            None => {
                unknown = Some(unknown.map_or(index, |first| first.min(index)));
            }
        }
    }
    if let Some(index) = unknown {
        return Err(Refusal::invalid(
            format!("{}target.run_user", prefix(batch, index)),
            "no run user of this profile has this id",
        ));
    }
    requests
        .iter()
        .map(|request| {
            let subject = match &request.target {
                CheckTarget::RunUser(uid) => {
                    Subject::from(users.get(uid).ok_or(Refusal::Internal)?)
                }
                CheckTarget::Tags(tags) => Subject::Tags(tags),
            };
            Ok(compiled.check(&subject, &request.action, &request.resource, explain))
        })
        .collect()
}

/// A run user's checks about itself (`user` and `profile` as the session check read them).
pub async fn check_own(
    app: &App,
    profile: &ProfileRecord,
    user: &RunUserRecord,
    checks: &[OwnCheck],
    batch: bool,
) -> Decided<Vec<Decision>> {
    count_bounds(checks.len())?;
    for (index, check) in checks.iter().enumerate() {
        check_bounds(&prefix(batch, index), &check.action, &check.resource)?;
    }
    let compiled = compiled(app, profile).await?;
    let subject = Subject::from(user);
    Ok(checks
        .iter()
        .map(|check| compiled.check(&subject, &check.action, &check.resource, false))
        .collect())
}

/// Everything that applies to run user `uid` of `profile`, with the user as read (`404` for a
/// user the profile does not have).
pub async fn permissions(
    app: &App,
    profile: &ProfileRecord,
    uid: Uuid,
) -> Decided<(RunUserRecord, Vec<Applied>)> {
    let (user, compiled) = tokio::join!(
        crate::domain::run_users::get(app, profile.pid, uid),
        compiled(app, profile)
    );
    let (user, compiled) = (user?, compiled?);
    let applied = compiled.explain_user(&Subject::from(&user));
    Ok((user, applied))
}
