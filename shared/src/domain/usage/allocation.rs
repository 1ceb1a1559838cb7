//! Allocation: what a profile may use is moved from its owner's pool, with the account's
//! allocated totals guarded so that the profiles of an account never hold more than its pool.

use std::collections::BTreeMap;

use crate::app::App;
use crate::catalogue::{Amounts, Service};
use crate::domain::records::{AccountRecord, ProfileRecord};
use crate::domain::tx::Tx;
use crate::keys;
use crate::refusal::{Decided, Refusal};
use crate::store::{Condition, Update, Write};

/// The largest amount a limit or pool may hold.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;
/// How often an allocation is tried again when another one changed the same items meanwhile.
pub const ALLOCATION_TRIES: usize = 5;

/// What a new profile gets: the included amounts, as far as the pool still covers them.
pub fn included_allocation(
    included: &Amounts,
    pool: &Amounts,
    allocated: &Amounts,
) -> (Amounts, Vec<Service>) {
    let mut given = Amounts::default();
    let mut short = Vec::new();
    for service in Service::ALL {
        let free = (pool.get(service) - allocated.get(service)).max(0);
        let want = included.get(service);
        if want > free {
            short.push(service);
        }
        given.set(service, want.min(free));
    }
    (given, short)
}

/// The condition on the account item that moving `delta` from the pool keeps every service's
/// allocation within its pool (and never below zero).
pub fn allocation_condition(pool: &Amounts, delta: &Amounts) -> Condition {
    let mut all = vec![Condition::Exists];
    for service in Service::ALL {
        let d = delta.get(service);
        if d > 0 {
            all.push(Condition::Equals(
                service.pool_attr(),
                pool.get(service).into(),
            ));
            all.push(Condition::Below(
                service.alloc_attr(),
                pool.get(service) - d + 1,
            ));
        } else if d < 0 {
            all.push(Condition::AtLeast(service.alloc_attr(), -d));
        }
    }
    Condition::All(all)
}

/// The update that moves `delta` from the pool to a profile (negative: back to the pool).
pub fn allocation_update(delta: &Amounts) -> Update {
    let mut update = Update::new();
    for service in Service::ALL {
        let d = delta.get(service);
        if d != 0 {
            update = update.add(service.alloc_attr(), d);
        }
    }
    update
}

/// The account-item write that moves `delta` from `owner`'s pool (as read), guarded so that no
/// service's allocation passes its pool; refused as [`Refusal::Contended`] (read again and
/// retry) when the pool changed meanwhile.
pub fn allocation_write(owner: &AccountRecord, delta: &Amounts, more: Update) -> Write {
    let mut update = allocation_update(delta);
    update.set.extend(more.set);
    update.add.extend(more.add);
    update.remove.extend(more.remove);
    Write::Update {
        key: keys::account(owner.aid),
        update,
        condition: Some(allocation_condition(&owner.pool(), delta)),
    }
}

/// Sets some of a profile's limits (the owner moves amounts between the account's pool and the
/// profile). Asking for more than the pool has free is refused (409) and moves nothing; a limit
/// may go below current use, which then blocks further growth.
pub async fn set_limits(
    app: &App,
    profile: &ProfileRecord,
    wanted: &BTreeMap<Service, i64>,
    by: &crate::domain::audit::Audit,
) -> Decided<ProfileRecord> {
    for (service, amount) in wanted {
        if !(0..=MAX_AMOUNT).contains(amount) {
            return Err(Refusal::invalid(
                service.name(),
                format!("a limit is a whole number from 0 to {MAX_AMOUNT}"),
            ));
        }
    }
    let mut current = profile.clone();
    for _ in 0..ALLOCATION_TRIES {
        let owner: AccountRecord = match app.table.get(&keys::account(current.owner)).await? {
            Some(item) => keys::from_item(item)?,
            None => return Err(Refusal::not_found()),
        };
        let mut delta = Amounts::default();
        let mut profile_update = Update::new();
        let mut unchanged = vec![Condition::Exists];
        for (service, amount) in wanted {
            let old = current.limit(*service);
            delta.set(*service, amount - old);
            profile_update = profile_update.set(service.limit_attr(), *amount);
            unchanged.push(Condition::Equals(service.limit_attr(), old.into()));
        }
        if profile_update.is_empty() {
            return Ok(current);
        }
        let limits_changed = Refusal::Contended("the limits changed meanwhile".into());
        let mut tx = Tx::new();
        tx.add_or(
            Write::Update {
                key: keys::profile(current.pid),
                update: profile_update,
                condition: Some(Condition::All(unchanged)),
            },
            limits_changed.clone(),
        )
        .add_or(
            allocation_write(&owner, &delta, Update::new()),
            over_allocation(&owner, wanted, &delta),
        )
        .add(
            by.write(
                app.now(),
                crate::domain::audit::Scope::Profile(current.pid),
                crate::domain::records::Action::LimitsUpdated,
                crate::domain::records::Target::new("profile", current.pid),
                &wanted
                    .keys()
                    .map(|service| service.name())
                    .collect::<Vec<_>>(),
            )?,
        );
        match tx.commit(app.table.as_ref()).await {
            Ok(()) => {
                for (service, amount) in wanted {
                    current.meters.insert(service.limit_attr(), *amount);
                }
                return Ok(current);
            }
            Err(refusal) if refusal == limits_changed => {
                // The limits changed meanwhile: read them again.
                current = match app.table.get(&keys::profile(current.pid)).await? {
                    Some(item) => keys::from_item(item)?,
                    None => return Err(Refusal::not_found()),
                };
            }
            Err(refusal) => return Err(refusal),
        }
    }
    Err(Refusal::Conflict(
        "the limits kept changing; try again".into(),
    ))
}

/// Why moving `delta` from `owner`'s pool was refused: the services it cannot cover, or a pool
/// that changed meanwhile.
fn over_allocation(
    owner: &AccountRecord,
    wanted: &BTreeMap<Service, i64>,
    delta: &Amounts,
) -> Refusal {
    let pool = owner.pool();
    let allocated = owner.allocated();
    let over: Vec<String> = wanted
        .keys()
        .filter(|s| allocated.get(**s) + delta.get(**s) > pool.get(**s))
        .map(|s| {
            format!(
                "{s} (pool {}, free {})",
                pool.get(*s),
                pool.get(*s) - allocated.get(*s)
            )
        })
        .collect();
    Refusal::Conflict(if over.is_empty() {
        "the account's pool changed meanwhile; try again".into()
    } else {
        format!("the account's pool cannot cover this: {}", over.join(", "))
    })
}
