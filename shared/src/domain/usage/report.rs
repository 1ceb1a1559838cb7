//! A profile's usage as reported: one month per service, and series over time. Reads only.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use uuid::Uuid;

use super::{month_of, month_or_now};
use crate::app::App;
use crate::catalogue::{Metering, Service};
use crate::domain::records::{ProfileRecord, UsageRecord};
use crate::keys;
use crate::refusal::{Decided, Refusal};
use crate::store::{Query, query_all};

/// One service's use in a month, and its limit.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct ServiceUse {
    pub used: i64,
    pub limit: i64,
    pub metering: Metering,
}

/// A profile's use of every service in `month` (`None`: this month). Gauges are their level
/// now for the current month, and the last level recorded in a past month.
pub async fn month_usage(
    app: &App,
    profile: &ProfileRecord,
    month: Option<&str>,
) -> Decided<(String, BTreeMap<Service, ServiceUse>)> {
    let month = month_or_now(month, app.now())?;
    let record = month_record(app, profile.pid, &month).await?;
    let services = month_services(app, profile, &month, &record);
    Ok((month, services))
}

/// What profile `pid` recorded in `month` (`yyyy-mm`): its counters and gauge levels. One query.
pub async fn month_record(app: &App, pid: Uuid, month: &str) -> Decided<UsageRecord> {
    Ok(read_months(app, pid, month, month)
        .await?
        .remove(month)
        .unwrap_or_default())
}

/// Each service's use in `month`, from what the month recorded (`month_record`) and, for the
/// gauges of the current month, the profile's levels now.
pub fn month_services(
    app: &App,
    profile: &ProfileRecord,
    month: &str,
    record: &UsageRecord,
) -> BTreeMap<Service, ServiceUse> {
    let this_month = month_of(app.now());
    let mut services = BTreeMap::new();
    for service in Service::ALL {
        let used = match service.metering() {
            Metering::Monthly => record
                .counts
                .get(&service.used_attr())
                .copied()
                .unwrap_or(0),
            Metering::Gauge if month == this_month => profile.gauge(service),
            Metering::Gauge => last_day_value(record, service).unwrap_or(0),
        };
        services.insert(
            service,
            ServiceUse {
                used,
                limit: profile.limit(service),
                metering: service.metering(),
            },
        );
    }
    services
}

/// The usage of the months `first` to `last` (`yyyy-mm`), each month's counters and gauge levels
/// merged into one record. One query.
async fn read_months(
    app: &App,
    pid: Uuid,
    first: &str,
    last: &str,
) -> Decided<BTreeMap<String, UsageRecord>> {
    // What this process has counted and not yet written is written first.
    super::meter::flush_profile(app, pid).await;
    let (from, to) = keys::usage_range(first, last);
    let items = query_all(
        app.table.as_ref(),
        Query::partition(keys::profile_partition(pid)).between(from, to),
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
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
) -> Decided<BTreeMap<Service, Vec<Point>>> {
    if end < start {
        return Err(Refusal::invalid("end", "must not be before start"));
    }
    if (end - start).num_days() > MAX_STATISTICS_DAYS {
        return Err(Refusal::invalid(
            "end",
            format!("the range may cover at most {MAX_STATISTICS_DAYS} days"),
        ));
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
