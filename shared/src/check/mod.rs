//! The invariant checker: reads the whole table and reports every item that breaks a rule the
//! domain keeps with its transactions (issue 13). For operators (`tenantry-local check`) and for
//! the fault-injection workload, never on a request path: it reads the table with a scan (every
//! item, page by page, strongly consistent on both adapters), which is fine for an occasional
//! check and would be far too costly per request.
//!
//! Each rule family is one function, in `counts` (numbers) or `links` (items that name each
//! other); docs/DECISIONS.md ("Invariant checker") lists them with their tolerances. In short:
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

mod counts;
mod links;
mod snapshot;

use std::collections::BTreeMap;

use serde::Serialize;

use self::counts::{allocations, gauges, monthly_counters, policy_versions};
use self::links::{account_claims, memberships, orphans, run_user_indexes};
use self::snapshot::Snapshot;
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
