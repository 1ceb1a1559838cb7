//! The rules about items that name each other: e-mail claims, run users' index entries and tag
//! registry, the two sides of memberships, and what is left of a profile or account that is gone.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::snapshot::Snapshot;
use super::{Findings, Rule};
use crate::domain::records::{Role, RunUserRecord};
use crate::domain::run_users::index;
use crate::keys;
use crate::store::Key;

/// Every account e-mail claim names an account with that e-mail (and, when it holds a password
/// hash, the account's), and every account has its claim.
pub(super) fn account_claims(snapshot: &Snapshot, found: &mut Findings) {
    let claims: BTreeMap<&Key, Uuid> = snapshot
        .email_claims
        .iter()
        .map(|(key, claim)| (key, claim.aid))
        .collect();
    for (key, claim) in &snapshot.email_claims {
        let aid = &claim.aid;
        found.checked(Rule::AccountEmailClaim);
        match snapshot.account(*aid) {
            None => found.violation(
                Rule::AccountEmailClaim,
                key,
                format!("claims the e-mail for account {aid}, which is gone"),
            ),
            Some(account) if keys::email_claim(&account.email) != *key => found.violation(
                Rule::AccountEmailClaim,
                key,
                format!("names account {aid}, whose e-mail is {}", account.email),
            ),
            Some(account)
                if claim
                    .password_hash
                    .as_ref()
                    .is_some_and(|hash| *hash != account.password_hash) =>
            {
                found.violation(
                    Rule::AccountEmailClaim,
                    key,
                    format!("holds another password hash than account {aid}'s"),
                )
            }
            Some(_) => {}
        }
    }
    for partition in snapshot.accounts.values() {
        let Some((key, account)) = &partition.account else {
            continue;
        };
        found.checked(Rule::AccountEmailClaim);
        let claim = keys::email_claim(&account.email);
        match claims.get(&claim) {
            Some(aid) if *aid == account.aid => {}
            Some(other) => found.violation(
                Rule::AccountEmailClaim,
                key,
                format!("its e-mail {} is claimed by account {other}", account.email),
            ),
            None => found.violation(
                Rule::AccountEmailClaim,
                key,
                format!("no claim for its e-mail {}", account.email),
            ),
        }
    }
}

/// Per profile: run users and their e-mail claims match both ways, every user has its name and
/// tag entries and every entry names a user that carries it, every tag key is registered.
pub(super) fn run_user_indexes(snapshot: &Snapshot, found: &mut Findings) {
    for (_, profile, partition) in snapshot.live_profiles() {
        let users: BTreeMap<Uuid, &RunUserRecord> = partition
            .run_users
            .iter()
            .map(|(_, user)| (user.uid, user))
            .collect();
        let mut expected: BTreeMap<Key, Uuid> = BTreeMap::new();
        for (key, user) in &partition.run_users {
            // Its e-mail claim.
            found.checked(Rule::RunUserEmailClaim);
            let claim = keys::run_email_claim(profile.pid, &user.email);
            match partition.run_emails.get(&claim) {
                Some(uid) if *uid == user.uid => {}
                Some(other) => found.violation(
                    Rule::RunUserEmailClaim,
                    key,
                    format!("its e-mail {} is claimed by run user {other}", user.email),
                ),
                None => found.violation(
                    Rule::RunUserEmailClaim,
                    key,
                    format!("no claim for its e-mail {}", user.email),
                ),
            }
            // Its entries.
            for entry in index::entries(user) {
                found.checked(Rule::RunUserEntryMissing);
                if partition.entries.get(&entry) != Some(&user.uid) {
                    found.violation(
                        Rule::RunUserEntryMissing,
                        key,
                        format!("no entry {}", entry.sk),
                    );
                }
                expected.insert(entry, user.uid);
            }
            // Its tag keys, registered.
            for tag in &user.tags {
                found.checked(Rule::TagKeyRegistry);
                let attr = index::registry_attr(&tag.key);
                if !partition
                    .tag_registry
                    .as_ref()
                    .is_some_and(|registry| registry.contains_key(&attr))
                {
                    found.violation(
                        Rule::TagKeyRegistry,
                        key,
                        format!("tag key `{}` is not in the profile's registry", tag.key),
                    );
                }
            }
        }
        for (key, uid) in &partition.run_emails {
            found.checked(Rule::RunUserEmailClaim);
            match users.get(uid) {
                None => found.violation(
                    Rule::RunUserEmailClaim,
                    key,
                    format!("names run user {uid}, who is gone"),
                ),
                Some(user) if keys::run_email_claim(profile.pid, &user.email) != *key => found
                    .violation(
                        Rule::RunUserEmailClaim,
                        key,
                        format!("names run user {uid}, whose e-mail is {}", user.email),
                    ),
                Some(_) => {}
            }
        }
        for (key, uid) in &partition.entries {
            found.checked(Rule::RunUserEntryStale);
            if expected.get(key) != Some(uid) {
                let why = if users.contains_key(uid) {
                    "who no longer carries this name or tag"
                } else {
                    "who is gone"
                };
                found.violation(
                    Rule::RunUserEntryStale,
                    key,
                    format!("names run user {uid}, {why}"),
                );
            }
        }
    }
}

/// Both sides of every membership, with the same role; one owner per profile, its `owner`; no
/// membership naming a missing account. (Account-side memberships of a profile that is gone are
/// orphans: see [`orphans`].)
pub(super) fn memberships(snapshot: &Snapshot, found: &mut Findings) {
    for (profile_key, profile, partition) in snapshot.live_profiles() {
        found.checked(Rule::ProfileOwner);
        let owners: Vec<Uuid> = partition
            .members
            .values()
            .filter(|(_, member)| member.role == Role::Owner)
            .map(|(_, member)| member.aid)
            .collect();
        if owners != [profile.owner] {
            found.violation(
                Rule::ProfileOwner,
                profile_key,
                format!("owner {}, owner memberships {owners:?}", profile.owner),
            );
        }
        for (aid, (key, member)) in &partition.members {
            found.checked(Rule::MemberAccount);
            let Some(account_side) = snapshot.accounts.get(&keys::account_partition(*aid)) else {
                found.violation(Rule::MemberAccount, key, format!("account {aid} is gone"));
                continue;
            };
            if account_side.account.is_none() {
                found.violation(Rule::MemberAccount, key, format!("account {aid} is gone"));
                continue;
            }
            found.checked(Rule::Membership);
            match account_side.memberships.get(&profile.pid) {
                None => found.violation(
                    Rule::Membership,
                    key,
                    "no account-side membership".to_owned(),
                ),
                Some((_, other)) if other.role != member.role => found.violation(
                    Rule::Membership,
                    key,
                    format!(
                        "role {:?} here, {:?} on the account side",
                        member.role, other.role
                    ),
                ),
                Some(_) => {}
            }
        }
    }
    for partition in snapshot.accounts.values() {
        if partition.account.is_none() {
            continue;
        }
        for (pid, (key, membership)) in &partition.memberships {
            let Some(profile_side) = snapshot
                .profiles
                .get(&keys::profile_partition(*pid))
                .filter(|profile| profile.profile.is_some())
            else {
                continue;
            };
            found.checked(Rule::Membership);
            if !profile_side.members.contains_key(&membership.aid) {
                found.violation(
                    Rule::Membership,
                    key,
                    "no profile-side membership".to_owned(),
                );
            }
        }
    }
}

/// Nothing is left of a profile or an account that is gone: no item in its partition (but the
/// audit entry of an account's deletion), no
/// account-side membership of a gone profile, no API token of a gone profile. What is left of a
/// profile whose purge is still pending (a clean-up cut short, which the stream finishes) is a
/// notice, not a violation; a pending purge of a profile that exists is a violation.
pub(super) fn orphans(snapshot: &Snapshot, found: &mut Findings) {
    let left = |found: &mut Findings, pid: Option<Uuid>, key: &Key, detail: String| {
        if pid.is_some_and(|pid| snapshot.pending_purges.contains_key(&pid)) {
            found.notice(
                Rule::Orphan,
                key,
                format!("{detail} (its purge is pending)"),
            );
        } else {
            found.violation(Rule::Orphan, key, detail);
        }
    };
    for (pid, key) in &snapshot.pending_purges {
        found.checked(Rule::Orphan);
        if snapshot.profile_exists(*pid) {
            found.violation(
                Rule::Orphan,
                key,
                format!("a purge is pending for profile {pid}, which exists"),
            );
        }
    }
    for (pk, partition) in &snapshot.profiles {
        found.checked(Rule::Orphan);
        if partition.profile.is_none() {
            for key in &partition.all {
                left(
                    found,
                    keys::profile_of(key),
                    key,
                    format!("the profile {pk} is gone"),
                );
            }
        }
    }
    for (pk, partition) in &snapshot.accounts {
        found.checked(Rule::Orphan);
        if partition.account.is_none() {
            // The entry that records the deletion outlives the account (until its `ttl`): the
            // deletion removes every other entry first.
            for key in partition
                .all
                .iter()
                .filter(|key| !keys::is_audit_entry(key))
            {
                found.violation(Rule::Orphan, key, format!("the account {pk} is gone"));
            }
            continue;
        }
        for (pid, (key, _)) in &partition.memberships {
            found.checked(Rule::Orphan);
            if !snapshot.profile_exists(*pid) {
                left(
                    found,
                    Some(*pid),
                    key,
                    format!("a membership of profile {pid}, which is gone"),
                );
            }
        }
    }
    for (key, token) in &snapshot.api_tokens {
        found.checked(Rule::Orphan);
        if !snapshot.profile_exists(token.pid) {
            left(
                found,
                Some(token.pid),
                key,
                format!(
                    "API token {} of profile {}, which is gone",
                    token.tid, token.pid
                ),
            );
        }
    }
}
