//! A profile's stored policy set: its policies (`PROFILE#pid / POLICY#id`), its resource
//! catalogue ([`catalogue`]) and its policy-set version (`policy_version` on the profile item),
//! and the check that reads them ([`check`]) through the in-memory cache ([`cache`]). The rules
//! themselves (what may be saved, what a check decides) are `domain::policies`.
//!
//! Every write of a policy (create, change, delete) and every catalogue replacement raises the
//! policy-set version by one in the same transaction as the change, so a process that compiled
//! the set at an older version recompiles at the next check. A create or delete also moves the
//! `policies` gauge in that transaction (one update of the profile item does both), so the gauge
//! holds exactly under concurrency.
//!
//! What a policy write validated stays true until it commits: the transaction checks that the
//! catalogue is still at the revision the body was validated against, and that every run user
//! its targets name still exists; a catalogue replacement is conditioned on the policy-set
//! version it read the policies at. A write that loses such a race is tried again (at most
//! [`ATTEMPTS`] times).

pub mod cache;
pub mod catalogue;
pub mod check;

use std::collections::BTreeSet;

use uuid::Uuid;

use super::audit::{Audit, Scope};
use super::policies::validate::{self, TargetedUser};
use super::policies::{Permission, PolicyBody, Target};
use super::records::{Action, PolicyRecord, ProfileRecord, Target as AuditTarget};
use super::tx::Tx;
use super::usage::{self, Service};
use crate::app::App;
use crate::keys;
use crate::refusal::{Decided, Refusal};
use crate::store::{Condition, Query, Update, Write, query_all};

/// How often a write that lost a race is tried again.
pub const ATTEMPTS: usize = 3;

/// The profile attribute that holds the policy-set version.
pub const VERSION_ATTR: &str = "policy_version";

/// The update of the profile item that raises the policy-set version.
fn raise_version() -> Update {
    Update::new().add(VERSION_ATTR, 1)
}

/// A change of a policy: absent fields stay. `revision`, when given, must be the policy's
/// current one (else `409`): the client's guard against overwriting a change it has not seen.
#[derive(Clone, Debug, Default)]
pub struct PolicyChanges {
    pub name: Option<String>,
    pub active: Option<bool>,
    pub targets: Option<Vec<Target>>,
    pub permissions: Option<Vec<Permission>>,
    pub revision: Option<i64>,
}

fn not_found() -> Refusal {
    Refusal::NotFound("no such policy".into())
}

fn stale(given: i64, current: i64) -> Refusal {
    Refusal::Conflict(format!(
        "the policy changed since revision {given} (it is at revision {current}); read it again"
    ))
}

/// The query of every policy of profile `pid`.
pub fn all_query(pid: Uuid) -> Query {
    Query::partition(keys::profile_partition(pid)).prefix(keys::POLICY_PREFIX)
}

/// Every policy of profile `pid`, by id (creation order). Bounded by the `policies` gauge.
pub async fn list_all(app: &App, pid: Uuid) -> Decided<Vec<PolicyRecord>> {
    let items = query_all(app.table.as_ref(), all_query(pid)).await?;
    items
        .into_iter()
        .map(|item| keys::from_item(item).map_err(Refusal::from))
        .collect()
}

/// Policy `id` of profile `pid` (404 when there is none).
pub async fn get(app: &App, pid: Uuid, id: Uuid) -> Decided<PolicyRecord> {
    match app.table.get(&keys::policy(pid, id)).await? {
        Some(item) => Ok(keys::from_item(item)?),
        None => Err(not_found()),
    }
}

/// Validates `body` for profile `pid` (against its catalogue; every run user it targets must
/// be one of the profile's, else `422` at `targets[i].run_user`), and answers the checks that
/// keep this true until the write commits.
async fn checked(app: &App, pid: Uuid, body: &PolicyBody) -> Decided<Tx> {
    let (catalogue, revision) = catalogue::read(app, pid).await?;
    let targeted = validate::validate(body, &catalogue)?;
    let mut seen = BTreeSet::new();
    let mut reads = tokio::task::JoinSet::new();
    for user in targeted {
        if seen.insert(user.uid) {
            let table = app.table.clone();
            reads.spawn(async move {
                let found = table.get(&keys::run_user(pid, user.uid)).await;
                (user, found)
            });
        }
    }
    let mut users: Vec<TargetedUser> = Vec::new();
    let mut missing: Option<TargetedUser> = None;
    while let Some(joined) = reads.join_next().await {
        let (user, found) = joined.map_err(|_| Refusal::Internal)?;
        if found?.is_none() {
            if missing.is_none_or(|first| user.index < first.index) {
                missing = Some(user);
            }
        } else {
            users.push(user);
        }
    }
    if let Some(user) = missing {
        return Err(unknown_user(&user));
    }
    let mut tx = Tx::new();
    tx.add(catalogue::guard(pid, revision));
    for user in users {
        tx.add_or(
            Write::Check {
                key: keys::run_user(pid, user.uid),
                condition: Condition::Exists,
            },
            unknown_user(&user),
        );
    }
    Ok(tx)
}

fn unknown_user(user: &TargetedUser) -> Refusal {
    Refusal::invalid(user.field(), "no run user of this profile has this id")
}

/// Saves a new policy: `422` naming the path when it could never match, `429` at the
/// `policies` limit; the policy, the gauge and the version in one transaction.
pub async fn create(
    app: &App,
    profile: &ProfileRecord,
    body: PolicyBody,
    by: &Audit,
) -> Decided<PolicyRecord> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let guards = checked(app, profile.pid, &body).await?;
        let now = app.now();
        let record = PolicyRecord {
            id: Uuid::now_v7(),
            pid: profile.pid,
            name: body.name.clone(),
            active: body.active,
            targets: body.targets.clone(),
            permissions: body.permissions.clone(),
            created_at: now,
            updated_at: now,
            revision: 0,
        };
        let mut tx = Tx::new();
        tx.add(Write::put_new(keys::to_item(
            &keys::policy(record.pid, record.id),
            &record,
        )?))
        .append(usage::gauge_writes_and(
            profile,
            Service::Policies,
            1,
            now,
            raise_version(),
        )?)
        .add(entry(
            by,
            now,
            &record,
            Action::PolicyCreated,
            &POLICY_FIELDS,
        )?)
        .append(guards);
        match tx.commit(app.table.as_ref()).await {
            Ok(()) => return Ok(record),
            Err(Refusal::Contended(_)) if attempt < ATTEMPTS => continue,
            Err(refusal) => return Err(refusal),
        }
    }
}

/// Changes policy `id`: the given fields replace the stored ones, and the result is validated
/// as a new policy would be. Raises the policy-set version.
pub async fn update(
    app: &App,
    pid: Uuid,
    id: Uuid,
    changes: PolicyChanges,
    by: &Audit,
) -> Decided<PolicyRecord> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let old = get(app, pid, id).await?;
        if let Some(given) = changes.revision
            && given != old.revision
        {
            return Err(stale(given, old.revision));
        }
        let mut body = old.body();
        if let Some(name) = &changes.name {
            body.name = name.clone();
        }
        if let Some(active) = changes.active {
            body.active = active;
        }
        if let Some(targets) = &changes.targets {
            body.targets = targets.clone();
        }
        if let Some(permissions) = &changes.permissions {
            body.permissions = permissions.clone();
        }
        let guards = checked(app, pid, &body).await?;
        let changed: Vec<&str> = [
            ("name", changes.name.is_some()),
            ("active", changes.active.is_some()),
            ("targets", changes.targets.is_some()),
            ("permissions", changes.permissions.is_some()),
        ]
        .into_iter()
        .filter_map(|(field, given)| given.then_some(field))
        .collect();
        let mut record = old.clone();
        record.set_body(body);
        record.updated_at = app.now();
        record.revision += 1;
        let mut tx = Tx::new();
        tx.add(
            Write::put(keys::to_item(&keys::policy(pid, id), &record)?)
                .when(Condition::Equals("revision".into(), old.revision.into())),
        )
        .add(Write::Update {
            key: keys::profile(pid),
            update: raise_version(),
            condition: Some(Condition::Exists),
        })
        .add(entry(
            by,
            record.updated_at,
            &record,
            Action::PolicyUpdated,
            &changed,
        )?)
        .append(guards);
        match tx.commit(app.table.as_ref()).await {
            Ok(()) => return Ok(record),
            // The next attempt reads the policy again (and refuses a stale client revision).
            Err(Refusal::Contended(_)) if attempt < ATTEMPTS => continue,
            Err(refusal) => return Err(refusal),
        }
    }
}

/// Deletes policy `id` (at `revision`, when given): the gauge falls and the version rises in
/// the same transaction.
pub async fn delete(
    app: &App,
    profile: &ProfileRecord,
    id: Uuid,
    revision: Option<i64>,
    by: &Audit,
) -> Decided<()> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let old = get(app, profile.pid, id).await?;
        if let Some(given) = revision
            && given != old.revision
        {
            return Err(stale(given, old.revision));
        }
        let mut tx = Tx::new();
        tx.add(
            Write::delete(keys::policy(profile.pid, id))
                .when(Condition::Equals("revision".into(), old.revision.into())),
        )
        .append(usage::gauge_writes_and(
            profile,
            Service::Policies,
            -1,
            app.now(),
            raise_version(),
        )?)
        .add(entry(by, app.now(), &old, Action::PolicyDeleted, &[])?);
        match tx.commit(app.table.as_ref()).await {
            Ok(()) => return Ok(()),
            Err(Refusal::Contended(_)) if attempt < ATTEMPTS => continue,
            Err(refusal) => return Err(refusal),
        }
    }
}

/// The fields a new policy is given.
const POLICY_FIELDS: [&str; 4] = ["name", "active", "targets", "permissions"];

/// The profile's audit entry of `action` on `policy` (changed fields by name).
fn entry(
    by: &Audit,
    at: chrono::DateTime<chrono::Utc>,
    policy: &PolicyRecord,
    action: Action,
    fields: &[&str],
) -> Decided<Write> {
    by.write(
        at,
        Scope::Profile(policy.pid),
        action,
        AuditTarget::new("policy", policy.id),
        fields,
    )
}
