//! The login throttle: failed attempts at a password counted per e-mail (whether or not an
//! account has it) and per source address, in fixed windows of `login_window`.
//!
//! An attempt is *checked, then counted with its outcome* (DECISIONS "Round trips"):
//! - [`Attempt::admit`] reads the counters with the attempt's first reads and refuses a full one
//!   before the password is looked at;
//! - a wrong password's one write raises every counter, each on the condition that it is still
//!   below its limit ([`Attempt::failed`]); a right password's one transaction carries the same
//!   conditions without raising anything ([`Passed::guard`]).
//!
//! Whatever the interleaving of a burst, the outcome of a verification is told only when its
//! write lands while every counter is below its limit; any other attempt gets the one 429. So at
//! most the limit of wrong passwords are told apart per window, and a right password past the
//! limit is refused like a wrong one. Each window is its own item (its start is in the sort
//! key), so a new window is a new counter: there is no reset to race for.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::tx::Tx;
use crate::app::App;
use crate::email::Email;
use crate::keys;
use crate::refusal::{Decided, Refusal};
use crate::secrets;
use crate::store::{Condition, Key, Update, Write};

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

/// One counter an attempt is counted in.
#[derive(Clone, Debug)]
struct Counter {
    key: Key,
    limit: i64,
}

/// One attempt at a password: the counters it is checked against and counted in, and the
/// window they count (its end, Unix seconds, and the time the attempt was made).
#[derive(Clone, Debug)]
pub struct Attempt {
    counters: Vec<Counter>,
    now: DateTime<Utc>,
    window_end: i64,
}

/// A right password, checked against counters that must still be below their limits when the
/// change it allows is written: [`Passed::guard`] adds those conditions to its transaction.
#[must_use = "a right password counts only in a transaction its conditions guard"]
#[derive(Clone, Debug)]
pub struct Passed(Attempt);

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

impl Attempt {
    fn new(app: &App, counters: impl FnOnce(i64) -> Vec<Counter>) -> Attempt {
        let now = app.now();
        let (start, end) = window(app, now);
        Attempt {
            counters: counters(start),
            now,
            window_end: end,
        }
    }

    /// A login with `email` (known or not), from `source` when given.
    pub fn login(app: &App, email: &str, source: Option<&SourceAddress>) -> Attempt {
        Attempt::new(app, |start| {
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
            counters
        })
    }

    /// A login (or re-entered password) of a run user of profile `pid` with `email` (known or
    /// not), from `source`: the e-mail is counted per profile, the address with every other
    /// login.
    pub fn run_login(app: &App, pid: uuid::Uuid, email: &str, source: &SourceAddress) -> Attempt {
        let email_part = match Email::parse(email) {
            Ok(email) => email.to_string(),
            Err(_) => format!("?{}", secrets::digest(email)),
        };
        Attempt::new(app, |start| {
            vec![
                Counter {
                    key: keys::run_login_throttle(pid, &email_part, start),
                    limit: app.config.login_max_failures,
                },
                Counter {
                    key: keys::login_throttle_address(&source.bucket(), start),
                    limit: app.config.login_max_failures_per_address,
                },
            ]
        })
    }

    /// Re-entering `account_email`'s password (token issue, password change, deletions): the
    /// same e-mail counter as logins.
    pub fn reentry(app: &App, account_email: &Email) -> Attempt {
        Attempt::new(app, |start| {
            vec![Counter {
                key: keys::login_throttle_email(account_email, start),
                limit: app.config.login_max_failures,
            }]
        })
    }

    /// The one refusal of a full counter: the same for known and unknown e-mails and for
    /// addresses.
    pub fn refusal(&self) -> Refusal {
        let left = (self.window_end - self.now.timestamp()).max(1);
        Refusal::TooManyAttempts {
            detail: "too many failed login attempts; try again later".into(),
            retry_after: Duration::from_secs(u64::try_from(left).unwrap_or(1)),
        }
    }

    /// Reads the counters (at the same time); refuses when any is full. Made beside the
    /// attempt's other first reads, it spares a full counter's attempts the verification.
    pub async fn admit(&self, app: &App) -> Decided<()> {
        let reads = self
            .counters
            .iter()
            .map(|counter| app.table.get(&counter.key));
        for (counter, read) in self
            .counters
            .iter()
            .zip(futures_util::future::join_all(reads).await)
        {
            let count = read?
                .and_then(|item| item.get("count").and_then(|v| v.as_i64()))
                .unwrap_or(0);
            if count >= counter.limit {
                return Err(self.refusal());
            }
        }
        Ok(())
    }

    /// The password was wrong: every counter raised by one, each on the condition that it is
    /// below its limit (else the transaction answers 429).
    pub fn failed(&self, tx: &mut Tx) {
        for counter in &self.counters {
            tx.add_or(
                Write::Update {
                    key: counter.key.clone(),
                    update: Update::new().add("count", 1).set("ttl", self.window_end),
                    condition: Some(Condition::Below("count".into(), counter.limit)),
                },
                self.refusal(),
            );
        }
    }

    /// Writes a wrong password's count on its own (with `also`, the writes that record it) and
    /// answers as a wrong password does: `invalid-credentials`, or 429 past the limit.
    pub async fn count_failure(&self, app: &App, also: Vec<Write>) -> Refusal {
        let mut tx = Tx::new();
        self.failed(&mut tx);
        tx.add_all(also);
        match tx.commit(app.table.as_ref()).await {
            Ok(()) => Refusal::InvalidCredentials,
            Err(refusal) => refusal,
        }
    }

    /// The password was right: what it allows is written on the counters' conditions.
    pub fn passed(self) -> Passed {
        Passed(self)
    }
}

impl Passed {
    /// Adds to `tx` the conditions that every counter is still below its limit (none is raised).
    pub fn guard(&self, tx: &mut Tx) {
        for counter in &self.0.counters {
            tx.add_or(
                Write::Check {
                    key: counter.key.clone(),
                    condition: Condition::Below("count".into(), counter.limit),
                },
                self.0.refusal(),
            );
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
