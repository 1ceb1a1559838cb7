//! Settings, read once from the environment at start, with documented defaults.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::catalogue::{Amounts, Service};
use crate::password::Cost;

#[derive(Clone, Debug)]
pub struct Config {
    /// How long a login session lasts (`SESSION_TTL_HOURS`, default 24).
    pub session_ttl: Duration,
    /// Failed logins allowed per e-mail (known or not) within `login_window`
    /// (`LOGIN_MAX_FAILURES`, default 10).
    pub login_max_failures: i64,
    /// Failed logins allowed per source address (an IPv6 address counts by its /64) within
    /// `login_window` (`LOGIN_MAX_FAILURES_PER_ADDRESS`, default 100).
    pub login_max_failures_per_address: i64,
    /// The window failed logins are counted in (`LOGIN_WINDOW_MINUTES`, default 15).
    pub login_window: Duration,
    /// argon2id cost of new password hashes (`ARGON2_MEMORY_KIB`, `ARGON2_ITERATIONS`,
    /// `ARGON2_PARALLELISM`; never below the OWASP minimum 19456 / 2 / 1).
    pub password_cost: Cost,
    /// How long an invitation stays valid (`INVITATION_TTL_DAYS`, default 7).
    pub invitation_ttl: Duration,
    /// Where links in e-mails point (`APP_URL`, default `http://127.0.0.1:3000`).
    pub app_url: String,
    /// What a new account may hand out to its profiles, per service (`POOL_<SERVICE>`, e.g.
    /// `POOL_RUN_USERS`; defaults in [`default_pool`]).
    pub pool: Amounts,
    /// What a new profile is allocated from the pool (`INCLUDED_<SERVICE>`; [`default_included`]).
    pub included: Amounts,
    /// Unit prices in US dollars (`PRICE_<SERVICE>`; [`default_prices`]).
    pub prices: BTreeMap<Service, f64>,
    /// Invitations (sends and resends) one account may send per UTC day, across all the
    /// profiles it belongs to (`INVITATIONS_PER_ACCOUNT_PER_DAY`, default 50, at least 1).
    pub invitations_per_account_per_day: i64,
    /// The secret paging cursors are signed with (`CURSOR_SECRET`, at least 32 characters);
    /// when unset, a random key made once and stored in the table (`domain::cursor::key`).
    pub cursor_secret: Option<String>,
    /// `api_requests` a process counts before it writes them as one add (`METER_BATCH`,
    /// default 20, at least 1; 1 writes every request).
    pub meter_batch: i64,
    /// How long counted requests may wait to be written (`METER_FLUSH_MS`, default 5000).
    pub meter_flush: Duration,
}

/// The default pool of a new account.
pub fn default_pool() -> Amounts {
    amounts(&[
        (Service::RunUsers, 10_000),
        (Service::TeamMembers, 50),
        (Service::Tokens, 100),
        (Service::Policies, 500),
        (Service::Emails, 10_000),
        (Service::ApiRequests, 1_000_000),
    ])
}

/// What a new profile gets by default.
pub fn default_included() -> Amounts {
    amounts(&[
        (Service::RunUsers, 1_000),
        (Service::TeamMembers, 5),
        (Service::Tokens, 10),
        (Service::Policies, 50),
        (Service::Emails, 1_000),
        (Service::ApiRequests, 100_000),
    ])
}

/// Default unit prices in US dollars: per use for monthly services, per item and month for
/// gauges. $1 per million API requests, $0.10 per thousand e-mails, $0.002 per run user and
/// month, $0.0005 per policy and month; team members and tokens are free.
pub fn default_prices() -> BTreeMap<Service, f64> {
    BTreeMap::from([
        (Service::RunUsers, 0.002),
        (Service::TeamMembers, 0.0),
        (Service::Tokens, 0.0),
        (Service::Policies, 0.0005),
        (Service::Emails, 0.0001),
        (Service::ApiRequests, 0.000_001),
    ])
}

fn amounts(pairs: &[(Service, i64)]) -> Amounts {
    Amounts(pairs.iter().copied().collect())
}

fn env_amounts(prefix: &str, mut amounts: Amounts) -> Amounts {
    for service in Service::ALL {
        let name = format!("{prefix}_{}", service.name().to_ascii_uppercase());
        if let Some(amount) = env_number::<i64>(&name) {
            amounts.set(service, amount.max(0));
        }
    }
    amounts
}

impl Default for Config {
    fn default() -> Self {
        Config {
            session_ttl: Duration::from_secs(24 * 3600),
            login_max_failures: 10,
            login_max_failures_per_address: 100,
            login_window: Duration::from_secs(15 * 60),
            password_cost: Cost::OWASP,
            invitation_ttl: Duration::from_secs(7 * 24 * 3600),
            app_url: "http://127.0.0.1:3000".to_owned(),
            pool: default_pool(),
            included: default_included(),
            prices: default_prices(),
            invitations_per_account_per_day: 50,
            cursor_secret: None,
            meter_batch: 20,
            meter_flush: Duration::from_secs(5),
        }
    }
}

fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok()?.trim().parse().ok()
}

impl Config {
    pub fn from_env() -> Self {
        let default = Config::default();
        let floor = Cost::OWASP;
        Config {
            session_ttl: env_number::<u64>("SESSION_TTL_HOURS")
                .map(|h| Duration::from_secs(h.max(1) * 3600))
                .unwrap_or(default.session_ttl),
            login_max_failures: env_number("LOGIN_MAX_FAILURES")
                .unwrap_or(default.login_max_failures)
                .max(1),
            login_max_failures_per_address: env_number("LOGIN_MAX_FAILURES_PER_ADDRESS")
                .unwrap_or(default.login_max_failures_per_address)
                .max(1),
            login_window: env_number::<u64>("LOGIN_WINDOW_MINUTES")
                .map(|m| Duration::from_secs(m.max(1) * 60))
                .unwrap_or(default.login_window),
            password_cost: Cost {
                memory_kib: env_number("ARGON2_MEMORY_KIB")
                    .unwrap_or(floor.memory_kib)
                    .max(floor.memory_kib),
                iterations: env_number("ARGON2_ITERATIONS")
                    .unwrap_or(floor.iterations)
                    .max(floor.iterations),
                parallelism: env_number("ARGON2_PARALLELISM")
                    .unwrap_or(floor.parallelism)
                    .max(floor.parallelism),
            },
            invitation_ttl: env_number::<u64>("INVITATION_TTL_DAYS")
                .map(|d| Duration::from_secs(d.max(1) * 24 * 3600))
                .unwrap_or(default.invitation_ttl),
            app_url: std::env::var("APP_URL")
                .ok()
                .map(|url| url.trim().trim_end_matches('/').to_owned())
                .filter(|url| !url.is_empty())
                .unwrap_or(default.app_url),
            pool: env_amounts("POOL", default.pool),
            included: env_amounts("INCLUDED", default.included),
            prices: Service::ALL
                .into_iter()
                .map(|service| {
                    let name = format!("PRICE_{}", service.name().to_ascii_uppercase());
                    let price = env_number::<f64>(&name)
                        .filter(|p| p.is_finite() && *p >= 0.0)
                        .unwrap_or_else(|| default.prices.get(&service).copied().unwrap_or(0.0));
                    (service, price)
                })
                .collect(),
            invitations_per_account_per_day: env_number::<i64>("INVITATIONS_PER_ACCOUNT_PER_DAY")
                .map(|n| n.max(1))
                .unwrap_or(default.invitations_per_account_per_day),
            cursor_secret: cursor_secret(std::env::var("CURSOR_SECRET").ok()),
            meter_batch: env_number::<i64>("METER_BATCH")
                .map(|n| n.max(1))
                .unwrap_or(default.meter_batch),
            meter_flush: env_number::<u64>("METER_FLUSH_MS")
                .map(|ms| Duration::from_millis(ms.max(1)))
                .unwrap_or(default.meter_flush),
        }
    }
}

/// `CURSOR_SECRET` when it is long enough to be a key; a short one is ignored (with a warning)
/// in favour of the stored random key.
fn cursor_secret(value: Option<String>) -> Option<String> {
    let value = value
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())?;
    if value.chars().count() < 32 {
        tracing::warn!("CURSOR_SECRET is shorter than 32 characters and is ignored");
        return None;
    }
    Some(value)
}
