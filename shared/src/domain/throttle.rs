//! The login throttle: failed logins counted per e-mail (whether or not an account has it) and
//! per source address, in fixed windows of `login_window`.
//!
//! An attempt is *reserved* before the password is verified: one conditional update per counter
//! (`count < limit`, then `count + 1`), so a burst of parallel attempts gets at most the limit
//! through, whatever their interleaving. Each window is its own item (its start is in the sort
//! key), so a new window is a new counter: there is no reset to race for. A right password
//! releases its reservation again, so only failures stay counted.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::tx::refuse_failed;
use crate::app::App;
use crate::email::Email;
use crate::keys;
use crate::refusal::{Decided, Refusal};
use crate::secrets;
use crate::store::{Condition, Key, StoreError, Update};

/// Where a request came from, as the transport saw it (never a header the client wrote).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceAddress {
    Ip(IpAddr),
    /// The transport did not say; such requests share one counter.
    Unknown,
}

impl SourceAddress {
    /// The counter an address is counted in: an IPv4 address (also when written as IPv4-mapped
    /// IPv6), or the /64 of an IPv6 address, since one host commonly holds a whole /64.
    pub fn bucket(&self) -> String {
        match self {
            SourceAddress::Ip(IpAddr::V4(v4)) => v4.to_string(),
            SourceAddress::Ip(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let s = v6.segments();
                    format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
                }
            },
            SourceAddress::Unknown => "unknown".to_owned(),
        }
    }
}

/// One counter an attempt is reserved in.
struct Counter {
    key: Key,
    limit: i64,
}

/// Attempts reserved in one or more counters; [`Reservation::release`] gives them back.
#[must_use = "a reservation is kept (counted as a failure) unless released"]
pub struct Reservation {
    keys: Vec<Key>,
}

/// The fixed window `now` falls in: its start and its end (Unix seconds).
fn window(app: &App, now: DateTime<Utc>) -> (i64, i64) {
    let length = i64::try_from(app.config.login_window.as_secs())
        .unwrap_or(i64::MAX)
        .max(1);
    let start = now.timestamp().div_euclid(length) * length;
    (start, start.saturating_add(length))
}

/// The e-mail's counter key: by its normalised form, or (for a string that is no e-mail at all)
/// by its digest, so unknown and malformed addresses are counted exactly like known ones.
fn email_key(email: &str, window_start: i64) -> Key {
    match Email::parse(email) {
        Ok(email) => keys::login_throttle_email(&email, window_start),
        Err(_) => keys::login_throttle_unparsed(&secrets::digest(email), window_start),
    }
}

/// The one refusal of a full counter: the same for known and unknown e-mails and for addresses.
fn too_many(now: DateTime<Utc>, window_end: i64) -> Refusal {
    let left = (window_end - now.timestamp()).max(1);
    Refusal::TooManyAttempts {
        detail: "too many failed login attempts; try again later".into(),
        retry_after: Duration::from_secs(u64::try_from(left).unwrap_or(1)),
    }
}

/// Reserves one login attempt for `email` (known or not) and, when given, for `source`.
pub async fn reserve_login(
    app: &App,
    email: &str,
    source: Option<&SourceAddress>,
) -> Decided<Reservation> {
    let now = app.now();
    let (start, _) = window(app, now);
    let mut counters = vec![Counter {
        key: email_key(email, start),
        limit: app.config.login_max_failures,
    }];
    if let Some(source) = source {
        counters.push(Counter {
            key: keys::login_throttle_address(&source.bucket(), start),
            limit: app.config.login_max_failures_per_address,
        });
    }
    reserve(app, now, counters).await
}

/// Reserves one login attempt of a run user of profile `pid` (known or not) and of `source`:
/// the e-mail is counted per profile, the address with every other login.
pub async fn reserve_run_login(
    app: &App,
    pid: uuid::Uuid,
    email: &str,
    source: &SourceAddress,
) -> Decided<Reservation> {
    let now = app.now();
    let (start, _) = window(app, now);
    let email_part = match Email::parse(email) {
        Ok(email) => email.to_string(),
        Err(_) => format!("?{}", secrets::digest(email)),
    };
    let counters = vec![
        Counter {
            key: keys::run_login_throttle(pid, &email_part, start),
            limit: app.config.login_max_failures,
        },
        Counter {
            key: keys::login_throttle_address(&source.bucket(), start),
            limit: app.config.login_max_failures_per_address,
        },
    ];
    reserve(app, now, counters).await
}

/// Takes one attempt from `counter`: one conditional update, refused when it is full.
async fn take(app: &App, counter: &Counter, window_end: i64) -> Result<(), StoreError> {
    app.table
        .update(
            &counter.key,
            Update::new().add("count", 1).set("ttl", window_end),
            Some(Condition::Below("count".into(), counter.limit)),
        )
        .await
        .map(|_| ())
}

/// Reserves one attempt in every counter at once (the updates are sent together); when any is
/// full, gives back the ones that were taken and refuses.
async fn reserve(app: &App, now: DateTime<Utc>, counters: Vec<Counter>) -> Decided<Reservation> {
    let (_, end) = window(app, now);
    let (first, rest) = counters.split_at(counters.len().min(1));
    let (a, b) = tokio::join!(
        async {
            match first.first() {
                Some(counter) => Some(take(app, counter, end).await),
                None => None,
            }
        },
        async {
            let mut outcomes = Vec::with_capacity(rest.len());
            for counter in rest {
                outcomes.push(take(app, counter, end).await);
            }
            outcomes
        }
    );
    let outcomes = a.into_iter().chain(b);
    let mut taken = Vec::new();
    let mut refusal = None;
    for (counter, outcome) in counters.iter().zip(outcomes) {
        match refuse_failed(outcome, too_many(now, end)) {
            Ok(()) => taken.push(counter.key.clone()),
            Err(error) => {
                refusal.get_or_insert(error);
            }
        }
    }
    let reservation = Reservation { keys: taken };
    match refusal {
        None => Ok(reservation),
        Some(refusal) => {
            reservation.release(app).await;
            Err(refusal)
        }
    }
}

/// Reserves one attempt at re-entering `account_email`'s password (token issue, deleting a
/// profile): the same e-mail counter as logins.
pub async fn reserve_reentry(app: &App, account_email: &Email) -> Decided<Reservation> {
    let now = app.now();
    let (start, _) = window(app, now);
    let counter = Counter {
        key: keys::login_throttle_email(account_email, start),
        limit: app.config.login_max_failures,
    };
    reserve(app, now, vec![counter]).await
}

impl Reservation {
    /// Gives the reserved attempts back (the password was right, or nothing was verified). Best
    /// effort: a counter that is gone (its window expired) is left alone, never driven below 0.
    /// The counters (the e-mail's, the address's) are released at the same time: one round trip.
    pub async fn release(self, app: &App) {
        let releases = self.keys.iter().map(|key| {
            app.table.update(
                key,
                Update::new().add("count", -1),
                Some(Condition::AtLeast("count".into(), 1)),
            )
        });
        for outcome in futures_util::future::join_all(releases).await {
            match outcome {
                Ok(_) | Err(StoreError::ConditionFailed) => {}
                Err(error) => tracing::warn!(%error, "releasing a login reservation failed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_counted_by_host_or_slash_64() {
        let v4: IpAddr = "203.0.113.7".parse().expect("ip");
        assert_eq!(SourceAddress::Ip(v4).bucket(), "203.0.113.7");
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().expect("ip");
        assert_eq!(SourceAddress::Ip(mapped).bucket(), "203.0.113.7");
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("ip");
        assert_eq!(SourceAddress::Ip(a).bucket(), "2001:db8:1:2::/64");
        assert_eq!(SourceAddress::Ip(a).bucket(), SourceAddress::Ip(b).bucket());
    }
}
