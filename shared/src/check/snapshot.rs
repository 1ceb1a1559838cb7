//! The table, sorted by partition and parsed into the records the rules read.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::{Findings, Rule};
use crate::domain::records::{
    AccountRecord, ApiTokenRecord, CatalogueRecord, EmailClaim, MemberRecord, MembershipRecord,
    PendingPurge, PolicyRecord, ProfileRecord, RunUserEntry, RunUserRecord, TokenRecord,
    UsageRecord,
};
use crate::keys;
use crate::store::{Item, Key};

// The partitions and sort keys the checker sorts items by (built in `keys`; these are their
// fixed parts).
const ACCOUNT_PARTITION: &str = "ACCOUNT#";
const PROFILE_PARTITION: &str = "PROFILE#";
const EMAIL_PARTITION: &str = "EMAIL#";
const EMAIL_CLAIM_SK: &str = "EMAIL";
const PROFILE_SK: &str = "PROFILE";
const RESOURCE_TYPES_SK: &str = "RESOURCETYPES";

/// One account partition (`ACCOUNT#<aid>`).
#[derive(Default)]
pub(super) struct AccountPartition {
    pub(super) account: Option<(Key, AccountRecord)>,
    /// Account-side memberships, by profile.
    pub(super) memberships: BTreeMap<Uuid, (Key, MembershipRecord)>,
    pub(super) all: Vec<Key>,
}

/// One profile partition (`PROFILE#<pid>`).
#[derive(Default)]
pub(super) struct ProfilePartition {
    pub(super) profile: Option<(Key, ProfileRecord)>,
    /// Profile-side memberships, by account.
    pub(super) members: BTreeMap<Uuid, (Key, MemberRecord)>,
    pub(super) run_users: Vec<(Key, RunUserRecord)>,
    /// E-mail claims of run users, by key.
    pub(super) run_emails: BTreeMap<Key, Uuid>,
    /// Name and tag entries, by key.
    pub(super) entries: BTreeMap<Key, Uuid>,
    pub(super) tag_registry: Option<Item>,
    pub(super) policies: Vec<PolicyRecord>,
    pub(super) catalogue: Option<CatalogueRecord>,
    pub(super) usage: Vec<(Key, UsageRecord)>,
    pub(super) all: Vec<Key>,
}

/// The table, sorted by partition and parsed into records.
#[derive(Default)]
pub(super) struct Snapshot {
    pub(super) items_read: u64,
    pub(super) accounts: BTreeMap<String, AccountPartition>,
    pub(super) email_claims: Vec<(Key, EmailClaim)>,
    pub(super) profiles: BTreeMap<String, ProfilePartition>,
    pub(super) api_tokens: Vec<(Key, ApiTokenRecord)>,
    /// The deleted profiles whose clean-up is still to finish (their pending purges).
    pub(super) pending_purges: BTreeMap<Uuid, Key>,
}

/// `item` as record type `T`; an item that does not read is reported.
fn read<T: DeserializeOwned>(key: &Key, item: Item, found: &mut Findings) -> Option<T> {
    found.checked(Rule::Unreadable);
    match keys::from_item(item) {
        Ok(record) => Some(record),
        Err(error) => {
            found.violation(Rule::Unreadable, key, error.to_string());
            None
        }
    }
}

impl Snapshot {
    pub(super) fn of(items: Vec<Item>, found: &mut Findings) -> Snapshot {
        let mut snapshot = Snapshot {
            items_read: items.len() as u64,
            ..Snapshot::default()
        };
        for item in items {
            let Some(key) = Key::of(&item) else {
                found.violation(
                    Rule::Unreadable,
                    &Key::new("?", "?"),
                    "an item without string PK and SK",
                );
                continue;
            };
            if key.pk.starts_with(ACCOUNT_PARTITION) {
                snapshot.account_item(key, item, found);
            } else if key.pk.starts_with(PROFILE_PARTITION) {
                snapshot.profile_item(key, item, found);
            } else if keys::is_token(&key) {
                if let Some(TokenRecord::Profile(token)) = read(&key, item, found) {
                    snapshot.api_tokens.push((key, token));
                }
            } else if keys::is_pending_purge(&key) {
                if let Some(PendingPurge { pid, .. }) = read(&key, item, found) {
                    snapshot.pending_purges.insert(pid, key);
                }
            } else if key.pk.starts_with(EMAIL_PARTITION)
                && key.sk == EMAIL_CLAIM_SK
                && let Some(claim) = read::<EmailClaim>(&key, item, found)
            {
                snapshot.email_claims.push((key, claim));
            }
            // Anything else (throttles, sent-markers, the cursor secret) no rule is about.
        }
        snapshot
    }

    fn account_item(&mut self, key: Key, item: Item, found: &mut Findings) {
        let partition = self.accounts.entry(key.pk.clone()).or_default();
        partition.all.push(key.clone());
        if keys::is_account(&key) {
            if let Some(account) = read(&key, item, found) {
                partition.account = Some((key, account));
            }
        } else if key.sk.starts_with(keys::MEMBER_PREFIX)
            && let Some(membership) = read::<MembershipRecord>(&key, item, found)
        {
            partition
                .memberships
                .insert(membership.pid, (key, membership));
        }
    }

    fn profile_item(&mut self, key: Key, item: Item, found: &mut Findings) {
        let partition = self.profiles.entry(key.pk.clone()).or_default();
        partition.all.push(key.clone());
        let sk = key.sk.as_str();
        if keys::is_profile(&key) && sk == PROFILE_SK {
            partition.profile = read(&key, item, found).map(|profile| (key, profile));
        } else if sk.starts_with(keys::MEMBER_PREFIX) {
            if let Some(member) = read::<MemberRecord>(&key, item, found) {
                partition.members.insert(member.aid, (key, member));
            }
        } else if sk.starts_with(keys::RUN_USER_PREFIX) {
            if let Some(user) = read(&key, item, found) {
                partition.run_users.push((key, user));
            }
        } else if sk.starts_with(keys::RUN_EMAIL_PREFIX) {
            if let Some(RunUserEntry { uid }) = read(&key, item, found) {
                partition.run_emails.insert(key, uid);
            }
        } else if sk.starts_with(keys::RUN_NAME_PREFIX) || sk.starts_with(keys::RUN_TAG_PREFIX) {
            if let Some(RunUserEntry { uid }) = read(&key, item, found) {
                partition.entries.insert(key, uid);
            }
        } else if keys::profile_of(&key).is_some_and(|pid| key == keys::run_tag_keys(pid)) {
            partition.tag_registry = Some(item);
        } else if sk.starts_with(keys::POLICY_PREFIX) {
            partition.policies.extend(read(&key, item, found));
        } else if sk == RESOURCE_TYPES_SK {
            partition.catalogue = read(&key, item, found);
        } else if keys::is_usage_counters(&key)
            && let Some(usage) = read(&key, item, found)
        {
            partition.usage.push((key, usage));
        }
    }

    pub(super) fn account(&self, aid: Uuid) -> Option<&AccountRecord> {
        self.accounts
            .get(&keys::account_partition(aid))
            .and_then(|partition| partition.account.as_ref())
            .map(|(_, account)| account)
    }

    pub(super) fn profile_exists(&self, pid: Uuid) -> bool {
        self.profiles
            .get(&keys::profile_partition(pid))
            .is_some_and(|partition| partition.profile.is_some())
    }

    /// The profiles that exist, with their partitions.
    pub(super) fn live_profiles(
        &self,
    ) -> impl Iterator<Item = (&Key, &ProfileRecord, &ProfilePartition)> {
        self.profiles.values().filter_map(|partition| {
            partition
                .profile
                .as_ref()
                .map(|(key, profile)| (key, profile, partition))
        })
    }
}
