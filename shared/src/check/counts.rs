//! The rules about numbers: gauges, monthly counters, allocations, the policy-set version.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::snapshot::Snapshot;
use super::{Findings, Rule};
use crate::catalogue::{Metering, Service};
use crate::domain::records::ProfileRecord;

/// Every gauge equals the items it counts (see the module doc for the one lag: API tokens
/// removed by TTL). A gauge above its limit is a notice.
pub(super) fn gauges(snapshot: &Snapshot, found: &mut Findings) {
    let mut tokens: BTreeMap<Uuid, i64> = BTreeMap::new();
    for (_, token) in &snapshot.api_tokens {
        *tokens.entry(token.pid).or_default() += 1;
    }
    for (key, profile, partition) in snapshot.live_profiles() {
        for service in Service::ALL {
            let items = match service {
                Service::RunUsers => partition.run_users.len() as i64,
                // The owner is not counted: `team_members` counts the members who joined.
                Service::TeamMembers => partition
                    .members
                    .keys()
                    .filter(|aid| **aid != profile.owner)
                    .count() as i64,
                Service::Tokens => tokens.get(&profile.pid).copied().unwrap_or(0),
                Service::Policies => partition.policies.len() as i64,
                Service::Emails | Service::ApiRequests => continue,
            };
            found.checked(Rule::GaugeCount);
            let gauge = profile.gauge(service);
            if gauge != items {
                let lag = if service == Service::Tokens && gauge > items {
                    " (API tokens removed by TTL lower it when their change record is handled)"
                } else {
                    ""
                };
                found.violation(
                    Rule::GaugeCount,
                    key,
                    format!("{service}: gauge {gauge}, {items} items{lag}"),
                );
            }
            let limit = profile.limit(service);
            if gauge > limit {
                found.notice(
                    Rule::GaugeAboveLimit,
                    key,
                    format!("{service}: gauge {gauge} above its limit {limit} (lowered below use)"),
                );
            }
        }
    }
}

/// Every monthly counter stays within the limit it was last counted against (each count records
/// that limit beside it; the owner may lower the profile's limit since) and equals the sum of
/// its days.
pub(super) fn monthly_counters(snapshot: &Snapshot, found: &mut Findings) {
    for (_, _, partition) in snapshot.live_profiles() {
        for (key, usage) in &partition.usage {
            for service in Service::ALL {
                if service.metering() != Metering::Monthly {
                    continue;
                }
                let count = usage.counts.get(&service.used_attr()).copied().unwrap_or(0);
                let days: i64 = (1..=31)
                    .filter_map(|day| usage.counts.get(&service.day_attr(day)))
                    .sum();
                found.checked(Rule::MonthlyLimit);
                if count != days {
                    found.violation(
                        Rule::MonthlyLimit,
                        key,
                        format!("{service}: {count} in the month, {days} in its days"),
                    );
                }
                if count == 0 {
                    continue;
                }
                match usage.counts.get(&service.limit_attr()) {
                    Some(limit) if count <= *limit => {}
                    Some(limit) => found.violation(
                        Rule::MonthlyLimit,
                        key,
                        format!("{service}: {count} above its limit {limit}"),
                    ),
                    None => found.violation(
                        Rule::MonthlyLimit,
                        key,
                        format!("{service}: {count} counted against no limit"),
                    ),
                }
            }
        }
    }
}

/// An account's allocated totals equal the limits of the profiles it owns and stay within its
/// pool; its `profile_count` is the number of those profiles. While its deletion runs
/// (`deleting`), its profiles go without giving their limits back: then the totals and the count
/// may only be higher.
pub(super) fn allocations(snapshot: &Snapshot, found: &mut Findings) {
    let mut owned: BTreeMap<Uuid, Vec<&ProfileRecord>> = BTreeMap::new();
    for (_, profile, _) in snapshot.live_profiles() {
        owned.entry(profile.owner).or_default().push(profile);
    }
    for partition in snapshot.accounts.values() {
        let Some((key, account)) = &partition.account else {
            continue;
        };
        let profiles = owned.get(&account.aid).map(Vec::as_slice).unwrap_or(&[]);
        let (pool, allocated) = (account.pool(), account.allocated());
        let consistent = |recorded: i64, counted: i64| {
            if account.deleting {
                recorded >= counted
            } else {
                recorded == counted
            }
        };
        for service in Service::ALL {
            found.checked(Rule::Allocation);
            let limits: i64 = profiles.iter().map(|profile| profile.limit(service)).sum();
            let alloc = allocated.get(service);
            if !consistent(alloc, limits) {
                found.violation(
                    Rule::Allocation,
                    key,
                    format!("{service}: allocated {alloc}, its profiles' limits sum to {limits}"),
                );
            }
            if alloc > pool.get(service) {
                found.violation(
                    Rule::Allocation,
                    key,
                    format!(
                        "{service}: allocated {alloc} above the pool {}",
                        pool.get(service)
                    ),
                );
            }
        }
        found.checked(Rule::Allocation);
        let count = profiles.len() as i64;
        if !consistent(account.profile_count, count) {
            found.violation(
                Rule::Allocation,
                key,
                format!(
                    "profile_count {}, owns {count} profiles",
                    account.profile_count
                ),
            );
        }
    }
}

/// The policy-set version rises by one with every policy create, change and delete and every
/// catalogue replacement: it is at least the number of policies, plus their revisions (one per
/// change), plus the catalogue's revision (one per replacement).
pub(super) fn policy_versions(snapshot: &Snapshot, found: &mut Findings) {
    for (key, profile, partition) in snapshot.live_profiles() {
        found.checked(Rule::PolicyVersion);
        let policies = partition.policies.len() as i64;
        let changes: i64 = partition
            .policies
            .iter()
            .map(|policy| policy.revision)
            .sum();
        let catalogue = partition
            .catalogue
            .as_ref()
            .map_or(0, |catalogue| catalogue.revision);
        let least = policies + changes + catalogue;
        if profile.policy_version < least {
            found.violation(
                Rule::PolicyVersion,
                key,
                format!(
                    "version {}, below {least} ({policies} policies, {changes} policy changes, \
                     catalogue revision {catalogue})",
                    profile.policy_version
                ),
            );
        }
    }
}
