//! Limits and usage: metering (this file: the gauges and monthly counters, enforced in the
//! same transaction as the write that consumes; [`meter`]: `api_requests`, counted in the
//! process and written in batches), [`allocation`] (moving amounts between the account's pool
//! and its profiles) and [`report`] (a profile's usage and statistics).
//!
//! Where things live (flat numeric attributes, so one condition guards each):
//! - account item: `pool_<service>` (what it may hand out), `alloc_<service>` (handed out);
//! - profile item: `limit_<service>` (its allocation), `used_<gauge>` (the gauges);
//! - `PROFILE#pid / USAGE#yyyy-mm`: `<service>` (monthly counters) and `<service>_dNN` (per day);
//!   `USAGE#yyyy-mm#LEVELS`: for gauges, the level each day reached.

pub mod allocation;
pub mod meter;
pub mod report;
pub mod tally;

use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use uuid::Uuid;

use super::records::ProfileRecord;
use super::tx::{Tx, refuse_failed};
use crate::app::App;
pub use crate::catalogue::{Amounts, Metering, Service};
use crate::keys;
use crate::refusal::{Decided, Refusal};
use crate::store::{Condition, Key, Update, Write};

/// The month a time falls in, `yyyy-mm`.
pub fn month_of(at: DateTime<Utc>) -> String {
    format!("{:04}-{:02}", at.year(), at.month())
}

/// Parses `yyyy-mm` into the first day of that month.
pub fn parse_month(text: &str) -> Decided<NaiveDate> {
    NaiveDate::parse_from_str(&format!("{}-01", text.trim()), "%Y-%m-%d")
        .map_err(|_| Refusal::invalid("month", format!("`{text}` is not a month (YYYY-MM)")))
}

/// The month `text` names (`yyyy-mm`, normalised), or the current one.
pub fn month_or_now(text: Option<&str>, now: DateTime<Utc>) -> Decided<String> {
    match text {
        Some(text) => {
            let first = parse_month(text)?;
            Ok(format!("{:04}-{:02}", first.year(), first.month()))
        }
        None => Ok(month_of(now)),
    }
}

/// How long until the next calendar month starts (UTC): when a monthly limit lifts.
pub fn until_next_month(now: DateTime<Utc>) -> Duration {
    let (year, month) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    let seconds = match Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0).single() {
        Some(next) => (next - now).num_seconds().max(1) as u64,
        None => 1,
    };
    Duration::from_secs(seconds)
}

/// The refusal of a request that would pass a limit.
pub fn limit_reached(service: Service, now: DateTime<Utc>) -> Refusal {
    Refusal::LimitReached {
        service,
        retry_after: match service.metering() {
            Metering::Monthly => Some(until_next_month(now)),
            Metering::Gauge => None,
        },
    }
}

/// The writes that change gauge `service` of `profile` (as read) by `delta`, to join the
/// transaction of the write that creates (+1) or deletes (-1) the counted item, so the gauge
/// can never drift from the items it counts:
/// 1. the profile's gauge: a rise is guarded by the limit read with the profile and by that
///    limit not having changed meanwhile (refused: `limit-reached`); a fall is not guarded, so
///    deleting always works;
/// 2. the day's level of the gauge in the month's levels item, for statistics (the level this
///    write expects to leave; under concurrent changes the last one wins).
pub fn gauge_writes(
    profile: &ProfileRecord,
    service: Service,
    delta: i64,
    now: DateTime<Utc>,
) -> Decided<Tx> {
    gauges_writes(profile, &[(service, delta)], now)
}

/// [`gauge_writes`] for several services at once (one transaction may write an item only
/// once): one guarded update of the profile, one of the month's levels.
pub fn gauges_writes(
    profile: &ProfileRecord,
    deltas: &[(Service, i64)],
    now: DateTime<Utc>,
) -> Decided<Tx> {
    gauges_writes_and(profile, deltas, now, Update::new())
}

/// [`gauge_writes`] whose update of the profile also does `more` (one transaction may write
/// an item only once: a policy write raises the policy-set version in the same update).
pub fn gauge_writes_and(
    profile: &ProfileRecord,
    service: Service,
    delta: i64,
    now: DateTime<Utc>,
    more: Update,
) -> Decided<Tx> {
    gauges_writes_and(profile, &[(service, delta)], now, more)
}

fn gauges_writes_and(
    profile: &ProfileRecord,
    deltas: &[(Service, i64)],
    now: DateTime<Utc>,
    more: Update,
) -> Decided<Tx> {
    let mut condition = vec![Condition::Exists];
    let mut update = more;
    let month = month_of(now);
    let mut levels = Update::new().set("month", month.clone());
    // The refusal of the first service that grows (a shrinking gauge is never refused).
    let mut refusal = None;
    for &(service, delta) in deltas {
        let (limit, used) = (profile.limit(service), profile.gauge(service));
        if delta > 0 && used + delta > limit {
            return Err(limit_reached(service, now));
        }
        if delta > 0 {
            condition.push(Condition::Equals(service.limit_attr(), limit.into()));
            condition.push(Condition::Below(service.used_attr(), limit - delta + 1));
            refusal.get_or_insert_with(|| limit_reached(service, now));
        }
        update = update.add(service.used_attr(), delta);
        levels = levels.set(service.day_attr(now.day()), (used + delta).max(0));
    }
    let refusal = match (refusal, deltas.first()) {
        (Some(refusal), _) => refusal,
        (None, Some(&(service, _))) => limit_reached(service, now),
        (None, None) => return Ok(Tx::new()),
    };
    let mut tx = Tx::new();
    tx.add_or(
        Write::Update {
            key: keys::profile(profile.pid),
            update,
            condition: Some(Condition::All(condition)),
        },
        refusal,
    )
    .add(Write::update(
        keys::usage_levels(profile.pid, &month),
        levels,
    ));
    Ok(tx)
}

/// The update that counts `count` uses of monthly `service` of `profile` in the current month
/// and day, with its guard: the count stays within the profile's limit. It also records the
/// limit it was checked against, so the change record carries it (the notifications handler
/// needs no read to tell a threshold crossing).
fn monthly_count(
    profile: &ProfileRecord,
    service: Service,
    count: i64,
    now: DateTime<Utc>,
) -> Decided<(Key, Update, Condition)> {
    let limit = profile.limit(service);
    if limit < count {
        return Err(limit_reached(service, now));
    }
    Ok(counter_add(
        profile.pid,
        service,
        limit,
        count,
        &month_of(now),
        now.day(),
    ))
}

/// The one write that counts `count` uses of `service` in `month` (and on its `day`): the
/// month's counter and the day's counter together, the limit recorded beside them, guarded so
/// the counter never passes `limit`. Counting at once and the meter's batches both use it.
pub(super) fn counter_add(
    pid: Uuid,
    service: Service,
    limit: i64,
    count: i64,
    month: &str,
    day: u32,
) -> (Key, Update, Condition) {
    let update = Update::new()
        .set("month", month.to_owned())
        .set(service.limit_attr(), limit)
        .add(service.used_attr(), count)
        .add(service.day_attr(day), count);
    (
        keys::usage(pid, month),
        update,
        Condition::Below(service.used_attr(), limit - count + 1),
    )
}

/// [`count_monthly`] as one write of a transaction (refused: `limit-reached`).
pub fn monthly_writes(
    profile: &ProfileRecord,
    service: Service,
    count: i64,
    now: DateTime<Utc>,
) -> Decided<Tx> {
    let (key, update, condition) = monthly_count(profile, service, count, now)?;
    let mut tx = Tx::new();
    tx.add_or(
        Write::Update {
            key,
            update,
            condition: Some(condition),
        },
        limit_reached(service, now),
    );
    Ok(tx)
}

pub use meter::count_request;

/// Counts `count` uses of a monthly service, refusing them (writing nothing) past the limit.
pub async fn count_monthly(
    app: &App,
    profile: &ProfileRecord,
    service: Service,
    count: i64,
) -> Decided<()> {
    let now = app.now();
    let (key, update, condition) = monthly_count(profile, service, count, now)?;
    let item = refuse_failed(
        app.table.update(&key, update, Some(condition)).await,
        limit_reached(service, now),
    )?;
    if let Some(stored) = item.get(&service.used_attr()).and_then(|v| v.as_i64()) {
        // This process's meter of `api_requests` learns the counter it did not write itself.
        app.meter.learn(profile.pid, &month_of(now), stored);
    }
    Ok(())
}
