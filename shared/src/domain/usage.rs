//! Services, limits and usage: the account's pool, what each profile was allocated, the gauges
//! and monthly counters, and enforcement in the same transaction as the write that consumes.
//!
//! Where things live (flat numeric attributes, so one condition guards each):
//! - account item: `pool_<service>` (what it may hand out), `alloc_<service>` (handed out);
//! - profile item: `limit_<service>` (its allocation), `used_<gauge>` (the gauges);
//! - `PROFILE#pid / USAGE#yyyy-mm`: `<service>` (monthly counters) and `<service>_dNN` (per day;
//!   for gauges, the value the gauge reached that day).

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::records::{AccountRecord, ProfileRecord, UsageRecord};
use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::store::StoreError;
use crate::store::{Condition, Key, Update, Write};
use uuid::Uuid;

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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
}

/// Numeric attributes of an item, read by prefix (`pool_`, `alloc_`, `limit_`, `used_`).
pub fn read_amounts(meters: &BTreeMap<String, i64>, attr: impl Fn(Service) -> String) -> Amounts {
    Amounts(
        Service::ALL
            .into_iter()
            .map(|s| (s, meters.get(&attr(s)).copied().unwrap_or(0)))
            .collect(),
    )
}

/// Writes `amounts` as numeric attributes named by `attr`.
pub fn write_amounts(
    meters: &mut BTreeMap<String, i64>,
    amounts: &Amounts,
    attr: impl Fn(Service) -> String,
) {
    for service in Service::ALL {
        meters.insert(attr(service), amounts.get(service));
    }
}

/// The month a time falls in, `yyyy-mm`.
pub fn month_of(at: DateTime<Utc>) -> String {
    format!("{:04}-{:02}", at.year(), at.month())
}

/// Parses `yyyy-mm` into the first day of that month.
pub fn parse_month(text: &str) -> ApiResult<NaiveDate> {
    NaiveDate::parse_from_str(&format!("{}-01", text.trim()), "%Y-%m-%d")
        .map_err(|_| ApiError::Validation(format!("month: `{text}` is not a month (YYYY-MM)")))
}

/// Seconds until the next calendar month starts (UTC): when a monthly limit lifts.
pub fn seconds_to_next_month(now: DateTime<Utc>) -> u64 {
    let (year, month) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    match Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0).single() {
        Some(next) => (next - now).num_seconds().max(1) as u64,
        None => 1,
    }
}

/// The key of a profile's usage item for one month.
pub fn usage_key(pid: Uuid, month: &str) -> Key {
    Key::new(keys::profile_partition(pid), format!("USAGE#{month}"))
}

/// The refusal of a request that would pass a limit.
pub fn limit_reached(service: Service, now: DateTime<Utc>) -> ApiError {
    ApiError::LimitReached {
        service: service.name(),
        retry_after_seconds: match service.metering() {
            Metering::Monthly => Some(seconds_to_next_month(now)),
            Metering::Gauge => None,
        },
    }
}

/// The writes that change gauge `service` of `profile` (as read) by `delta`, to join the
/// transaction of the write that creates (+1) or deletes (-1) the counted item, so the gauge
/// can never drift from the items it counts:
/// 1. the profile's gauge: a rise is guarded by the limit read with the profile and by that
///    limit not having changed meanwhile; a fall is not guarded, so deleting always works;
/// 2. the day's level of the gauge in the month's levels item, for statistics (the level this
///    write expects to leave; under concurrent changes the last one wins).
pub fn gauge_writes(
    profile: &ProfileRecord,
    service: Service,
    delta: i64,
    now: DateTime<Utc>,
) -> ApiResult<Vec<Write>> {
    let (limit, used) = (profile.limit(service), profile.gauge(service));
    if delta > 0 && used + delta > limit {
        return Err(limit_reached(service, now));
    }
    let mut condition = vec![Condition::Exists];
    if delta > 0 {
        condition.push(Condition::Equals(service.limit_attr(), limit.into()));
        condition.push(Condition::Below(service.used_attr(), limit - delta + 1));
    }
    let month = month_of(now);
    Ok(vec![
        Write::Update {
            key: keys::profile(profile.pid),
            update: Update::new().add(service.used_attr(), delta),
            condition: Some(Condition::All(condition)),
        },
        Write::update(
            levels_key(profile.pid, &month),
            Update::new()
                .set("month", month)
                .set(service.day_attr(now.day()), (used + delta).max(0)),
        ),
    ])
}

/// The key of a profile's gauge levels for one month (beside its usage item, so one query
/// reads both).
pub fn levels_key(pid: Uuid, month: &str) -> Key {
    Key::new(
        keys::profile_partition(pid),
        format!("USAGE#{month}#LEVELS"),
    )
}

/// The update that counts `count` uses of monthly `service` in the current month and day,
/// guarded by the limit: it fails when the month's count would pass `limit`.
pub fn monthly_update(
    service: Service,
    count: i64,
    limit: i64,
    now: DateTime<Utc>,
) -> (Update, Condition) {
    (
        Update::new()
            .set("month", month_of(now))
            .set(service.limit_attr(), limit)
            .add(service.used_attr(), count)
            .add(service.day_attr(now.day()), count),
        Condition::Below(service.used_attr(), limit - count + 1),
    )
}

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

/// What `used` units of `service` cost at `prices` (US dollars per unit: per use for monthly
/// services, per item and month for gauges), to the micro-dollar.
pub fn cost(prices: &BTreeMap<Service, f64>, service: Service, used: i64) -> f64 {
    let price = prices.get(&service).copied().unwrap_or(0.0);
    round_money(used as f64 * price)
}

/// Counts one API request on the profile for this month (one conditional write); refuses it
/// with 429 when the month's `api_requests` limit is reached. Nothing else of this profile or
/// any other is affected.
pub async fn count_request(app: &App, profile: &ProfileRecord) -> ApiResult<()> {
    count_monthly(app, profile, Service::ApiRequests, 1).await
}

/// Counts `count` uses of a monthly service, refusing them (writing nothing) past the limit.
/// The write also records the limit it was checked against, so the change record carries it
/// (the notifications handler needs no read to tell a threshold crossing).
pub async fn count_monthly(
    app: &App,
    profile: &ProfileRecord,
    service: Service,
    count: i64,
) -> ApiResult<()> {
    let now = app.now();
    let limit = profile.limit(service);
    if limit < count {
        return Err(limit_reached(service, now));
    }
    let (update, condition) = monthly_update(service, count, limit, now);
    match app
        .table
        .update(
            &usage_key(profile.pid, &month_of(now)),
            update,
            Some(condition),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(StoreError::ConditionFailed) => Err(limit_reached(service, now)),
        Err(error) => Err(error.into()),
    }
}

/// Sets some of a profile's limits (the owner moves amounts between the account's pool and the
/// profile). Asking for more than the pool has free is refused (409) and moves nothing; a limit
/// may go below current use, which then blocks further growth.
pub async fn set_limits(
    app: &App,
    profile: &ProfileRecord,
    wanted: &BTreeMap<Service, i64>,
) -> ApiResult<ProfileRecord> {
    for (service, amount) in wanted {
        if !(0..=MAX_AMOUNT).contains(amount) {
            return Err(ApiError::Validation(format!(
                "{service}: a limit is a whole number from 0 to {MAX_AMOUNT}"
            )));
        }
    }
    let mut current = profile.clone();
    for _ in 0..ALLOCATION_TRIES {
        let owner: AccountRecord = match app.table.get(&keys::account(current.owner)).await? {
            Some(item) => keys::from_item(item)?,
            None => return Err(ApiError::not_found()),
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
        let writes = vec![
            Write::Update {
                key: keys::profile(current.pid),
                update: profile_update,
                condition: Some(Condition::All(unchanged)),
            },
            Write::Update {
                key: keys::account(owner.aid),
                update: allocation_update(&delta),
                condition: Some(allocation_condition(&owner.pool(), &delta)),
            },
        ];
        match app.table.transact(writes).await {
            Ok(()) => {
                for (service, amount) in wanted {
                    current.meters.insert(service.limit_attr(), *amount);
                }
                return Ok(current);
            }
            Err(StoreError::TransactionCancelled { failed }) if failed.contains(&0) => {
                // The limits changed meanwhile: read them again.
                current = match app.table.get(&keys::profile(current.pid)).await? {
                    Some(item) => keys::from_item(item)?,
                    None => return Err(ApiError::not_found()),
                };
            }
            Err(StoreError::TransactionCancelled { .. }) => {
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
                return Err(ApiError::Conflict(if over.is_empty() {
                    "the account's pool changed meanwhile; try again".into()
                } else {
                    format!("the account's pool cannot cover this: {}", over.join(", "))
                }));
            }
            Err(error) => return Err(error.into()),
        }
    }
    Err(ApiError::Conflict(
        "the limits kept changing; try again".into(),
    ))
}

/// The largest amount a limit or pool may hold.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;
/// How often an allocation is tried again when another one changed the same items meanwhile.
pub const ALLOCATION_TRIES: usize = 5;

/// One service's use in a month, and its limit.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct ServiceUse {
    pub used: i64,
    pub limit: i64,
    pub metering: &'static str,
}

/// A profile's use of every service in `month` (`None`: this month). Gauges are their level
/// now for the current month, and the last level recorded in a past month.
pub async fn month_usage(
    app: &App,
    profile: &ProfileRecord,
    month: Option<&str>,
) -> ApiResult<(String, BTreeMap<Service, ServiceUse>)> {
    let now = app.now();
    let this_month = month_of(now);
    let month = match month {
        Some(text) => {
            let first = parse_month(text)?;
            format!("{:04}-{:02}", first.year(), first.month())
        }
        None => this_month.clone(),
    };
    let record = read_months(app, profile.pid, &month, &month)
        .await?
        .remove(&month)
        .unwrap_or_default();
    let mut services = BTreeMap::new();
    for service in Service::ALL {
        let used = match service.metering() {
            Metering::Monthly => record
                .counts
                .get(&service.used_attr())
                .copied()
                .unwrap_or(0),
            Metering::Gauge if month == this_month => profile.gauge(service),
            Metering::Gauge => last_day_value(&record, service).unwrap_or(0),
        };
        services.insert(
            service,
            ServiceUse {
                used,
                limit: profile.limit(service),
                metering: match service.metering() {
                    Metering::Gauge => "gauge",
                    Metering::Monthly => "monthly",
                },
            },
        );
    }
    Ok((month, services))
}

/// The usage of the months `first` to `last` (`yyyy-mm`), each month's counters and gauge levels
/// merged into one record. One query.
async fn read_months(
    app: &App,
    pid: Uuid,
    first: &str,
    last: &str,
) -> ApiResult<BTreeMap<String, UsageRecord>> {
    let items = crate::store::query_all(
        app.table.as_ref(),
        crate::store::Query::partition(keys::profile_partition(pid))
            .between(format!("USAGE#{first}"), format!("USAGE#{last}#~")),
    )
    .await?;
    let mut months: BTreeMap<String, UsageRecord> = BTreeMap::new();
    for item in items {
        let record: UsageRecord = keys::from_item(item)?;
        let month = months.entry(record.month.clone()).or_default();
        month.month = record.month;
        month.counts.extend(record.counts);
    }
    Ok(months)
}

fn last_day_value(record: &UsageRecord, service: Service) -> Option<i64> {
    (1..=31)
        .rev()
        .find_map(|day| record.counts.get(&service.day_attr(day)).copied())
}

/// How a statistics series is bucketed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Periodicity {
    Day,
    Month,
}

/// One point of a series.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Point {
    pub period: String,
    pub value: i64,
}

/// The longest range a statistics request may cover.
pub const MAX_STATISTICS_DAYS: i64 = 366 * 2;

/// A series per service from `start` to `end` (days, both included): monthly services sum
/// their uses per period; gauges show their level at the end of each period (carried forward
/// over days without a record). One query.
pub async fn statistics(
    app: &App,
    profile: &ProfileRecord,
    start: NaiveDate,
    end: NaiveDate,
    periodicity: Periodicity,
) -> ApiResult<BTreeMap<Service, Vec<Point>>> {
    if end < start {
        return Err(ApiError::Validation("end: must not be before start".into()));
    }
    if (end - start).num_days() > MAX_STATISTICS_DAYS {
        return Err(ApiError::Validation(format!(
            "the range may cover at most {MAX_STATISTICS_DAYS} days"
        )));
    }
    let months = read_months(
        app,
        profile.pid,
        &format!("{:04}-{:02}", start.year(), start.month()),
        &format!("{:04}-{:02}", end.year(), end.month()),
    )
    .await?;
    let today = app.now().date_naive();
    let mut series: BTreeMap<Service, Vec<Point>> = BTreeMap::new();
    let mut level: BTreeMap<Service, i64> = BTreeMap::new();
    let mut day = start;
    while day <= end {
        let month = format!("{:04}-{:02}", day.year(), day.month());
        let record = months.get(&month);
        let period = match periodicity {
            Periodicity::Day => day.format("%Y-%m-%d").to_string(),
            Periodicity::Month => month.clone(),
        };
        for service in Service::ALL {
            let recorded = record.and_then(|r| r.counts.get(&service.day_attr(day.day())).copied());
            let points = series.entry(service).or_default();
            let value = match service.metering() {
                Metering::Monthly => recorded.unwrap_or(0),
                Metering::Gauge => {
                    let now_level = if day == today {
                        Some(profile.gauge(service))
                    } else {
                        recorded
                    };
                    let carried =
                        now_level.unwrap_or_else(|| level.get(&service).copied().unwrap_or(0));
                    level.insert(service, carried);
                    carried
                }
            };
            match points.last_mut() {
                Some(point) if point.period == period => match service.metering() {
                    Metering::Monthly => point.value += value,
                    Metering::Gauge => point.value = value,
                },
                _ => points.push(Point {
                    period: period.clone(),
                    value,
                }),
            }
        }
        day = match day.succ_opt() {
            Some(next) => next,
            None => break,
        };
    }
    Ok(series)
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

/// Use and cost per owned profile and per service in `month`, with totals. Reads the account's
/// memberships (one query), then each owned profile and its usage item, all at once.
pub async fn account_statistics(
    app: &App,
    aid: Uuid,
    month: Option<&str>,
) -> ApiResult<(String, Vec<ProfileCost>, BTreeMap<Service, UseAndCost>, f64)> {
    let month = match month {
        Some(text) => {
            let first = parse_month(text)?;
            format!("{:04}-{:02}", first.year(), first.month())
        }
        None => month_of(app.now()),
    };
    let owned: Vec<Uuid> = super::profiles::list(app, aid)
        .await?
        .into_iter()
        .filter(|m| m.role == super::Role::Owner)
        .map(|m| m.pid)
        .collect();
    let mut reads = tokio::task::JoinSet::new();
    for pid in owned {
        let app = app.clone();
        let month = month.clone();
        reads.spawn(async move {
            let Some(item) = app.table.get(&keys::profile(pid)).await? else {
                return Ok(None);
            };
            let profile: ProfileRecord = keys::from_item(item)?;
            let (_, services) = month_usage(&app, &profile, Some(&month)).await?;
            Ok::<_, ApiError>(Some((profile, services)))
        });
    }
    let mut profiles = Vec::new();
    let mut totals: BTreeMap<Service, UseAndCost> = BTreeMap::new();
    while let Some(read) = reads.join_next().await {
        let Some((profile, services)) = read.map_err(|_| ApiError::Internal)?? else {
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
    Ok((month, profiles, totals, total_cost))
}

fn round_money(amount: f64) -> f64 {
    (amount * 1_000_000.0).round() / 1_000_000.0
}
