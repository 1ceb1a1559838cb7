//! The service catalogue: what is metered, how each service is counted, and amounts per
//! service. A leaf: settings, records and every rule about limits build on it.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A metered service.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    RunUsers,
    TeamMembers,
    Tokens,
    Policies,
    Emails,
    ApiRequests,
}

/// How a service is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Metering {
    /// The number of items that exist now; rises and falls with them.
    Gauge,
    /// Uses per calendar month (UTC); starts at 0 each month.
    Monthly,
}

impl Service {
    pub const ALL: [Service; 6] = [
        Service::RunUsers,
        Service::TeamMembers,
        Service::Tokens,
        Service::Policies,
        Service::Emails,
        Service::ApiRequests,
    ];

    /// The name clients and stored attributes use (serde's spelling).
    pub fn name(self) -> &'static str {
        match self {
            Service::RunUsers => "run_users",
            Service::TeamMembers => "team_members",
            Service::Tokens => "tokens",
            Service::Policies => "policies",
            Service::Emails => "emails",
            Service::ApiRequests => "api_requests",
        }
    }

    pub fn parse(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.name() == name)
    }

    pub fn metering(self) -> Metering {
        match self {
            Service::Emails | Service::ApiRequests => Metering::Monthly,
            _ => Metering::Gauge,
        }
    }

    pub fn pool_attr(self) -> String {
        format!("pool_{}", self.name())
    }
    pub fn alloc_attr(self) -> String {
        format!("alloc_{}", self.name())
    }
    pub fn limit_attr(self) -> String {
        format!("limit_{}", self.name())
    }
    /// The gauge on the profile item, or the counter on the month's usage item.
    pub fn used_attr(self) -> String {
        match self.metering() {
            Metering::Gauge => format!("used_{}", self.name()),
            Metering::Monthly => self.name().to_owned(),
        }
    }
    /// The per-day attribute on the month's usage item.
    pub fn day_attr(self, day: u32) -> String {
        format!("{}_d{day:02}", self.name())
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An amount per service.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Amounts(pub BTreeMap<Service, i64>);

impl Amounts {
    pub fn get(&self, service: Service) -> i64 {
        self.0.get(&service).copied().unwrap_or(0)
    }
    pub fn set(&mut self, service: Service, amount: i64) {
        self.0.insert(service, amount);
    }
    pub fn uniform(amount: i64) -> Self {
        Amounts(Service::ALL.into_iter().map(|s| (s, amount)).collect())
    }

    /// Numeric attributes of an item, read by prefix (`pool_`, `alloc_`, `limit_`, `used_`).
    pub fn read(meters: &BTreeMap<String, i64>, attr: impl Fn(Service) -> String) -> Amounts {
        Amounts(
            Service::ALL
                .into_iter()
                .map(|s| (s, meters.get(&attr(s)).copied().unwrap_or(0)))
                .collect(),
        )
    }

    /// Writes these amounts as numeric attributes named by `attr`.
    pub fn write(&self, meters: &mut BTreeMap<String, i64>, attr: impl Fn(Service) -> String) {
        for service in Service::ALL {
            meters.insert(attr(service), self.get(service));
        }
    }
}

/// The spelling serde gives a unit enum variant (`Role::Admin` → `admin`), so stored values and
/// messages never spell an enum by hand.
pub fn spelling<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        _ => String::new(),
    }
}
