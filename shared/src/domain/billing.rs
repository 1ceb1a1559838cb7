//! Statistics and cost of an account: use and cost per owned profile and per service in a
//! month, at the configured prices.

use std::collections::BTreeMap;

use serde::Serialize;
use uuid::Uuid;

use super::profiles;
use super::records::{ProfileRecord, Role};
use super::usage::month_or_now;
use super::usage::report::{month_record, month_services};
use crate::app::App;
use crate::catalogue::Service;
use crate::keys;
use crate::refusal::{Decided, Refusal};

/// What `used` units of `service` cost at `prices` (US dollars per unit: per use for monthly
/// services, per item and month for gauges), to the micro-dollar.
pub fn cost(prices: &BTreeMap<Service, f64>, service: Service, used: i64) -> f64 {
    let price = prices.get(&service).copied().unwrap_or(0.0);
    round_money(used as f64 * price)
}

/// One service's use and cost.
#[derive(Clone, Debug, Default, Serialize, schemars::JsonSchema)]
pub struct UseAndCost {
    pub used: i64,
    pub cost: f64,
}

/// One profile's use and cost in a month.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct ProfileCost {
    pub id: Uuid,
    pub name: String,
    pub services: BTreeMap<Service, UseAndCost>,
    pub cost: f64,
}

/// An account's month: per owned profile and in total.
pub struct AccountStatistics {
    pub month: String,
    pub profiles: Vec<ProfileCost>,
    pub totals: BTreeMap<Service, UseAndCost>,
    pub cost: f64,
}

/// Use and cost per owned profile and per service in `month`, with totals. Reads the account's
/// memberships (one query), then each owned profile and its usage item, all at once.
pub async fn account_statistics(
    app: &App,
    aid: Uuid,
    month: Option<&str>,
) -> Decided<AccountStatistics> {
    let month = month_or_now(month, app.now())?;
    let owned: Vec<Uuid> = profiles::list(app, aid)
        .await?
        .into_iter()
        .filter(|m| m.role == Role::Owner)
        .map(|m| m.pid)
        .collect();
    // Each owned profile and its month's usage, all at the same time: one step.
    let reads = futures_util::future::join_all(owned.into_iter().map(|pid| {
        let month = month.as_str();
        async move {
            let key = keys::profile(pid);
            let (item, record) = tokio::join!(app.table.get(&key), month_record(app, pid, month));
            let Some(item) = item? else {
                return Ok(None);
            };
            let profile: ProfileRecord = keys::from_item(item)?;
            let services = month_services(app, &profile, month, &record?);
            Ok::<_, Refusal>(Some((profile, services)))
        }
    }))
    .await;
    let mut profiles = Vec::new();
    let mut totals: BTreeMap<Service, UseAndCost> = BTreeMap::new();
    for read in reads {
        let Some((profile, services)) = read? else {
            continue;
        };
        let mut costs = BTreeMap::new();
        let mut profile_cost = 0.0;
        for (service, used) in services {
            let amount = cost(&app.config.prices, service, used.used);
            profile_cost += amount;
            let total = totals.entry(service).or_default();
            total.used += used.used;
            total.cost += amount;
            costs.insert(
                service,
                UseAndCost {
                    used: used.used,
                    cost: amount,
                },
            );
        }
        profiles.push(ProfileCost {
            id: profile.pid,
            name: profile.name,
            services: costs,
            cost: round_money(profile_cost),
        });
    }
    profiles.sort_by_key(|p| p.id);
    for total in totals.values_mut() {
        total.cost = round_money(total.cost);
    }
    let total_cost = round_money(totals.values().map(|t| t.cost).sum());
    Ok(AccountStatistics {
        month,
        profiles,
        totals,
        cost: total_cost,
    })
}

fn round_money(amount: f64) -> f64 {
    (amount * 1_000_000.0).round() / 1_000_000.0
}
