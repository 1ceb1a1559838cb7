//! Settings, read once from the environment at start, with documented defaults.

use std::time::Duration;

use crate::password::Cost;

#[derive(Clone, Debug)]
pub struct Config {
    /// How long a login session lasts (`SESSION_TTL_HOURS`, default 24).
    pub session_ttl: Duration,
    /// Failed logins allowed per account within `login_window` (`LOGIN_MAX_FAILURES`, default 10).
    pub login_max_failures: i64,
    /// The window failed logins are counted in (`LOGIN_WINDOW_MINUTES`, default 15).
    pub login_window: Duration,
    /// argon2id cost of new password hashes (`ARGON2_MEMORY_KIB`, `ARGON2_ITERATIONS`,
    /// `ARGON2_PARALLELISM`; never below the OWASP minimum 19456 / 2 / 1).
    pub password_cost: Cost,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            session_ttl: Duration::from_secs(24 * 3600),
            login_max_failures: 10,
            login_window: Duration::from_secs(15 * 60),
            password_cost: Cost::OWASP,
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
                .unwrap_or(default.login_max_failures),
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
        }
    }
}
