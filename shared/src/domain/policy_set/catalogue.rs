//! A profile's resource catalogue (`PROFILE#pid / RESOURCETYPES`; absent: DESIGN.md's
//! default): read by every policy write, replaced by `PUT …/resource-types`.
//!
//! A replacement may not strand a saved policy (active or not: an inactive one may be switched
//! back on): removing a type some policy names is `409` naming those policies, and so is
//! removing an action some policy uses (each stored policy is validated against the new
//! catalogue). The replacement raises the policy-set version, conditioned on the version the
//! policies were read at, so a policy saved meanwhile cannot slip past the check.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::{ATTEMPTS, VERSION_ATTR, list_all, raise_version};
use crate::app::App;
use crate::domain::policies::Catalogue;
use crate::domain::policies::validate::{types_in_use, validate, validate_catalogue};
use crate::domain::records::{CatalogueRecord, PolicyRecord, ProfileRecord};
use crate::domain::tx::Tx;
use crate::keys;
use crate::refusal::{Decided, Refusal};
use crate::store::{Condition, Write};

/// The catalogue of profile `pid` and its revision (`None` while it is the default, unstored).
pub async fn read(app: &App, pid: Uuid) -> Decided<(Catalogue, Option<i64>)> {
    match app.table.get(&keys::resource_types(pid)).await? {
        Some(item) => {
            let record: CatalogueRecord = keys::from_item(item)?;
            Ok((record.types, Some(record.revision)))
        }
        None => Ok((Catalogue::default(), None)),
    }
}

/// The check, in a policy write's transaction, that the catalogue is still at `revision`.
pub(super) fn guard(pid: Uuid, revision: Option<i64>) -> Write {
    Write::Check {
        key: keys::resource_types(pid),
        condition: match revision {
            Some(revision) => Condition::Equals("revision".into(), revision.into()),
            None => Condition::NotExists,
        },
    }
}

/// A policy as a conflict names it.
fn named(policy: &PolicyRecord) -> String {
    format!("`{}` ({})", policy.name, policy.id)
}

/// Why `catalogue` cannot replace the current one while `policies` are saved, if it cannot.
fn stranded(catalogue: &Catalogue, policies: &[PolicyRecord]) -> Option<Refusal> {
    let mut users: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for policy in policies {
        for kind in types_in_use([&policy.body()]) {
            if catalogue.actions(&kind).is_none() {
                users.entry(kind).or_default().push(named(policy));
            }
        }
    }
    if !users.is_empty() {
        let uses: Vec<String> = users
            .iter()
            .map(|(kind, names)| format!("`{kind}` by {}", names.join(", ")))
            .collect();
        return Some(Refusal::Conflict(format!(
            "resource types still used by saved policies cannot be removed: {}",
            uses.join("; ")
        )));
    }
    for policy in policies {
        if let Err(Refusal::Invalid { field, detail }) = validate(&policy.body(), catalogue) {
            return Some(Refusal::Conflict(format!(
                "the policy {} would no longer be valid ({field}: {detail}); change it first",
                named(policy)
            )));
        }
    }
    None
}

/// Replaces the catalogue of `profile` (as read by the access check): `422` naming the part
/// that is not a valid catalogue, `409` when a saved policy still needs what it removes.
pub async fn replace(
    app: &App,
    profile: &ProfileRecord,
    catalogue: Catalogue,
    by: &crate::domain::audit::Audit,
) -> Decided<Catalogue> {
    validate_catalogue(&catalogue)?;
    let mut version = profile.policy_version;
    let mut attempt = 0;
    loop {
        attempt += 1;
        if attempt > 1 {
            let item = app
                .table
                .get(&keys::profile(profile.pid))
                .await?
                .ok_or_else(Refusal::not_found)?;
            version = keys::from_item::<ProfileRecord>(item)?.policy_version;
        }
        // The version is read before the policies: a policy written after it fails the
        // conditioned raise below.
        let (_, revision) = read(app, profile.pid).await?;
        let policies = list_all(app, profile.pid).await?;
        if let Some(refusal) = stranded(&catalogue, &policies) {
            return Err(refusal);
        }
        let record = CatalogueRecord {
            types: catalogue.clone(),
            updated_at: app.now(),
            revision: revision.map_or(1, |revision| revision + 1),
        };
        let mut tx = Tx::new();
        tx.add(
            Write::put(keys::to_item(&keys::resource_types(profile.pid), &record)?).when(
                match revision {
                    Some(revision) => Condition::Equals("revision".into(), revision.into()),
                    None => Condition::NotExists,
                },
            ),
        )
        .add(Write::Update {
            key: keys::profile(profile.pid),
            update: raise_version(),
            condition: Some(Condition::All(vec![
                Condition::Exists,
                Condition::AtLeast(VERSION_ATTR.into(), version),
                Condition::Below(VERSION_ATTR.into(), version + 1),
            ])),
        })
        .add(by.write(
            record.updated_at,
            crate::domain::audit::Scope::Profile(profile.pid),
            crate::domain::records::Action::ResourceTypesUpdated,
            crate::domain::records::Target::new("resource_types", profile.pid),
            &["types"],
        )?);
        match tx.commit(app.table.as_ref()).await {
            Ok(()) => return Ok(catalogue),
            Err(Refusal::Contended(_)) if attempt < ATTEMPTS => continue,
            Err(refusal) => return Err(refusal),
        }
    }
}
