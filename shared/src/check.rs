//! The invariant checker: reads the whole table and reports every item that breaks a rule the
//! domain keeps with its transactions (issue 13). For operators (`tenantry-local check`) and for
//! the fault-injection workload, never on a request path: it reads the table with a scan (every
//! item, page by page, strongly consistent on both adapters), which is fine for an occasional
//! check and would be far too costly per request.
//!
//! Each rule family is one function below; docs/DECISIONS.md ("Invariant checker") lists them with
//! their tolerances. In short:
//! - gauges (`used_<service>` on the profile) equal the items they count, exactly: every create
//!   and delete of a counted item moves its gauge in the same transaction. The one gauge change no
//!   request makes is an API token removed by TTL, which lowers `tokens` when its change record is
//!   handled: check once the stream (or the local change feed) is drained;
//! - the e-mail claims of accounts and of run users, and the run users' name and tag entries,
//!   match their records both ways; every tag key a run user carries is in its profile's registry;
//! - both sides of every membership exist with the same role; a profile has exactly one owner
//!   membership, its `owner`; no membership names a missing account;
//! - nothing is left of a profile or an account that is gone (its partition, the other side of its
//!   memberships, its API tokens);
//! - a monthly counter never passes the limit it was counted against (recorded beside it) and
//!   equals the sum of its days; an account's allocated totals equal its profiles' limits and stay
//!   within its pool; `profile_count` counts its profiles; the policy-set version is at least the
//!   number of policy and catalogue writes still visible.
//!
//! A gauge above its limit is legal (the owner may lower a limit below use, which then blocks
//! growth): it is reported as a notice, not a violation.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::catalogue::{Metering, Service};
use crate::domain::records::{
    AccountRecord, ApiTokenRecord, CatalogueRecord, EmailClaim, MemberRecord, MembershipRecord,
    PolicyRecord, ProfileRecord, Role, RunUserEntry, RunUserRecord, TokenRecord, UsageRecord,
};
use crate::keys;
use crate::store::{Item, Key, StoreError, Table, scan_all};

/// A rule the checker enforces (serialised kebab-case, e.g. `gauge-count`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// A stored item does not read as its record type.
    Unreadable,
    /// A profile's gauge differs from the number of items it counts.
    GaugeCount,
    /// An account's e-mail claim without its account (or naming an account with another
    /// e-mail), or an account without its claim.
    AccountEmailClaim,
    /// The same for a run user's e-mail claim in its profile.
    RunUserEmailClaim,
    /// A run user without one of its name or tag entries.
    RunUserEntryMissing,
    /// A name or tag entry naming a run user that is gone or no longer carries that name or tag.
    RunUserEntryStale,
    /// A run user's tag key missing from its profile's tag-key registry.
    TagKeyRegistry,
    /// One side of a membership without the other, or the two sides with different roles.
    Membership,
    /// A profile without exactly one owner membership, the one of its `owner`.
    ProfileOwner,
    /// A membership (profile side) naming an account that is gone.
    MemberAccount,
    /// An item left of a profile or an account that is gone.
    Orphan,
    /// A monthly counter above the limit it was counted against, or not the sum of its days.
    MonthlyLimit,
    /// An account's allocated totals or profile count not matching its profiles, or an
    /// allocation above the pool.
    Allocation,
    /// A policy-set version below the policy and catalogue writes it must have counted.
    PolicyVersion,
    /// Notice, not a violation: a gauge above its limit (legal once a limit is lowered).
    GaugeAboveLimit,
}

/// One item at fault.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Violation {
    pub rule: Rule,
    /// `PK | SK` of the item at fault.
    pub key: String,
    pub detail: String,
}

/// What a check found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub items_read: u64,
    /// How many items (or pairs of items) each rule looked at.
    pub checked: BTreeMap<Rule, u64>,
    pub violations: Vec<Violation>,
    /// Legal states worth knowing (a gauge above a lowered limit); never make a report unclean.
    pub notices: Vec<Violation>,
}

impl Report {
    /// No violation (notices do not count).
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Reads every item of `table` (a scan) and checks every invariant on them.
pub async fn check_table(table: &dyn Table) -> Result<Report, StoreError> {
    let items = scan_all(table).await?;
    Ok(check_items(items))
}

/// Checks every invariant on `items`, the whole table.
pub fn check_items(items: Vec<Item>) -> Report {
    let mut found = Findings::default();
    let snapshot = Snapshot::of(items, &mut found);
    gauges(&snapshot, &mut found);
    account_claims(&snapshot, &mut found);
    run_user_indexes(&snapshot, &mut found);
    memberships(&snapshot, &mut found);
    orphans(&snapshot, &mut found);
    monthly_counters(&snapshot, &mut found);
    allocations(&snapshot, &mut found);
    policy_versions(&snapshot, &mut found);
    Report {
        items_read: snapshot.items_read,
        checked: found.checked,
        violations: found.violations,
        notices: found.notices,
    }
}

#[derive(Default)]
struct Findings {
    checked: BTreeMap<Rule, u64>,
    violations: Vec<Violation>,
    notices: Vec<Violation>,
}

impl Findings {
    fn checked(&mut self, rule: Rule) {
        *self.checked.entry(rule).or_default() += 1;
    }
    fn violation(&mut self, rule: Rule, key: &Key, detail: impl Into<String>) {
        self.violations.push(Violation {
            rule,
            key: spell(key),
            detail: detail.into(),
        });
    }
    fn notice(&mut self, rule: Rule, key: &Key, detail: impl Into<String>) {
        self.notices.push(Violation {
            rule,
            key: spell(key),
            detail: detail.into(),
        });
    }
}

fn spell(key: &Key) -> String {
    format!("{} | {}", key.pk, key.sk)
}

// The partitions and sort keys the checker sorts items by (built in `keys`; these are their
// fixed parts).
const ACCOUNT_PARTITION: &str = "ACCOUNT#";
const PROFILE_PARTITION: &str = "PROFILE#";
const EMAIL_PARTITION: &str = "EMAIL#";
const EMAIL_CLAIM_SK: &str = "EMAIL";
const PROFILE_SK: &str = "PROFILE";
const RESOURCE_TYPES_SK: &str = "RESOURCETYPES";
/// The attribute prefix of the tag-key registry (`index::registry_attr`).
const REGISTRY_ATTR_PREFIX: &str = "key:";

/// One account partition (`ACCOUNT#<aid>`).
#[derive(Default)]
struct AccountPartition {
    account: Option<(Key, AccountRecord)>,
    /// Account-side memberships, by profile.
    memberships: BTreeMap<Uuid, (Key, MembershipRecord)>,
    all: Vec<Key>,
}

/// One profile partition (`PROFILE#<pid>`).
#[derive(Default)]
struct ProfilePartition {
    profile: Option<(Key, ProfileRecord)>,
    /// Profile-side memberships, by account.
    members: BTreeMap<Uuid, (Key, MemberRecord)>,
    run_users: Vec<(Key, RunUserRecord)>,
    /// E-mail claims of run users, by key.
    run_emails: BTreeMap<Key, Uuid>,
    /// Name and tag entries, by key.
    entries: BTreeMap<Key, Uuid>,
    tag_registry: Option<Item>,
    policies: Vec<PolicyRecord>,
    catalogue: Option<CatalogueRecord>,
    usage: Vec<(Key, UsageRecord)>,
    all: Vec<Key>,
}

/// The table, sorted by partition and parsed into records.
#[derive(Default)]
struct Snapshot {
    items_read: u64,
    accounts: BTreeMap<String, AccountPartition>,
    email_claims: Vec<(Key, Uuid)>,
    profiles: BTreeMap<String, ProfilePartition>,
    api_tokens: Vec<(Key, ApiTokenRecord)>,
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
    fn of(items: Vec<Item>, found: &mut Findings) -> Snapshot {
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
            } else if key.pk.starts_with(EMAIL_PARTITION) && key.sk == EMAIL_CLAIM_SK {
                if let Some(EmailClaim { aid }) = read(&key, item, found) {
                    snapshot.email_claims.push((key, aid));
                }
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

    fn account(&self, aid: Uuid) -> Option<&AccountRecord> {
        self.accounts
            .get(&keys::account_partition(aid))
            .and_then(|partition| partition.account.as_ref())
            .map(|(_, account)| account)
    }

    fn profile_exists(&self, pid: Uuid) -> bool {
        self.profiles
            .get(&keys::profile_partition(pid))
            .is_some_and(|partition| partition.profile.is_some())
    }

    /// The profiles that exist, with their partitions.
    fn live_profiles(&self) -> impl Iterator<Item = (&Key, &ProfileRecord, &ProfilePartition)> {
        self.profiles.values().filter_map(|partition| {
            partition
                .profile
                .as_ref()
                .map(|(key, profile)| (key, profile, partition))
        })
    }
}

/// Every gauge equals the items it counts (see the module doc for the one lag: API tokens
/// removed by TTL). A gauge above its limit is a notice.
fn gauges(snapshot: &Snapshot, found: &mut Findings) {
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

/// Every account e-mail claim names an account with that e-mail, and every account has its
/// claim.
fn account_claims(snapshot: &Snapshot, found: &mut Findings) {
    let claims: BTreeMap<&Key, Uuid> = snapshot
        .email_claims
        .iter()
        .map(|(key, aid)| (key, *aid))
        .collect();
    for (key, aid) in &snapshot.email_claims {
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

/// The name and tag entries a run user must have (as `run_users::index` writes them).
fn expected_entries(user: &RunUserRecord) -> BTreeSet<Key> {
    let mut entries = BTreeSet::new();
    entries.insert(keys::run_name_entry(
        user.pid,
        &user.name.to_lowercase(),
        user.uid,
    ));
    for tag in &user.tags {
        entries.insert(keys::run_tag_entry(
            user.pid, &tag.key, &tag.value, user.uid,
        ));
    }
    entries
}

/// Per profile: run users and their e-mail claims match both ways, every user has its name and
/// tag entries and every entry names a user that carries it, every tag key is registered.
fn run_user_indexes(snapshot: &Snapshot, found: &mut Findings) {
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
            for entry in expected_entries(user) {
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
                let attr = format!("{REGISTRY_ATTR_PREFIX}{}", tag.key);
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
fn memberships(snapshot: &Snapshot, found: &mut Findings) {
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

/// Nothing is left of a profile or an account that is gone: no item in its partition, no
/// account-side membership of a gone profile, no API token of a gone profile.
fn orphans(snapshot: &Snapshot, found: &mut Findings) {
    for (pk, partition) in &snapshot.profiles {
        found.checked(Rule::Orphan);
        if partition.profile.is_none() {
            for key in &partition.all {
                found.violation(Rule::Orphan, key, format!("the profile {pk} is gone"));
            }
        }
    }
    for (pk, partition) in &snapshot.accounts {
        found.checked(Rule::Orphan);
        if partition.account.is_none() {
            for key in &partition.all {
                found.violation(Rule::Orphan, key, format!("the account {pk} is gone"));
            }
            continue;
        }
        for (pid, (key, _)) in &partition.memberships {
            found.checked(Rule::Orphan);
            if !snapshot.profile_exists(*pid) {
                found.violation(
                    Rule::Orphan,
                    key,
                    format!("a membership of profile {pid}, which is gone"),
                );
            }
        }
    }
    for (key, token) in &snapshot.api_tokens {
        found.checked(Rule::Orphan);
        if !snapshot.profile_exists(token.pid) {
            found.violation(
                Rule::Orphan,
                key,
                format!(
                    "API token {} of profile {}, which is gone",
                    token.tid, token.pid
                ),
            );
        }
    }
}

/// Every monthly counter stays within the limit it was last counted against (each count records
/// that limit beside it; the owner may lower the profile's limit since) and equals the sum of
/// its days.
fn monthly_counters(snapshot: &Snapshot, found: &mut Findings) {
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
fn allocations(snapshot: &Snapshot, found: &mut Findings) {
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
fn policy_versions(snapshot: &Snapshot, found: &mut Findings) {
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
