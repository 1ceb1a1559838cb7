//! Passwords: the policy for new ones, argon2id hashing (at least the OWASP minimum
//! m = 19 MiB, t = 2, p = 1), constant-time verification and re-hashing when parameters rise.
//! Hashing runs on the blocking pool so it never stalls the async runtime, a few at a time.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use tokio::sync::Semaphore;

use crate::refusal::{Decided, Refusal};

pub const MIN_CHARS: usize = 8;
pub const MAX_CHARS: usize = 128;

/// The argon2id parameters new hashes get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Cost {
    /// The OWASP minimum for argon2id.
    pub const OWASP: Cost = Cost {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };

    fn hasher(self) -> Decided<Argon2<'static>> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|_| Refusal::Internal)?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// Refuses a password that breaks the policy: 8 to 128 characters (any characters, never
/// truncated) and not on the list of common passwords.
pub fn check_policy(password: &str) -> Decided<()> {
    check_policy_of("password", password)
}

/// The same, naming `field` in the refusal.
pub fn check_policy_of(field: &str, password: &str) -> Decided<()> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(Refusal::invalid(
            field,
            format!("at least {MIN_CHARS} characters are needed"),
        ));
    }
    if chars > MAX_CHARS {
        return Err(Refusal::invalid(
            field,
            format!("at most {MAX_CHARS} characters are allowed"),
        ));
    }
    if is_common(password) || is_common(&password.to_lowercase()) {
        return Err(Refusal::invalid(
            field,
            "this password is too common, choose another",
        ));
    }
    Ok(())
}

/// The common passwords of at least [`MIN_CHARS`] characters (shorter ones are refused before
/// the list is asked), one a line, sorted by bytes: `data/common-passwords.txt`, made from the
/// list of the `passwords` crate (MIT; `data/README.md` says how). One string, searched in place:
/// no table of pointers to relocate at load, a third of the bytes of the crate's form.
static COMMON: &str = include_str!("../data/common-passwords.txt");

/// Whether `password` is on the list of common passwords: a binary search over the lines of
/// [`COMMON`].
pub fn is_common(password: &str) -> bool {
    let list = COMMON.as_bytes();
    let wanted = password.as_bytes();
    let (mut low, mut high) = (0, list.len());
    while low < high {
        let middle = low + (high - low) / 2;
        let start = list[..middle]
            .iter()
            .rposition(|&byte| byte == b'\n')
            .map_or(0, |at| at + 1);
        let end = list[middle..]
            .iter()
            .position(|&byte| byte == b'\n')
            .map_or(list.len(), |at| middle + at);
        match list[start..end].cmp(wanted) {
            std::cmp::Ordering::Equal => return true,
            std::cmp::Ordering::Less => low = end + 1,
            std::cmp::Ordering::Greater => high = start,
        }
    }
    false
}

/// At most this many hashes or verifications run at once per process; more wait their turn, so
/// a flood of logins queues instead of holding a 19 MiB buffer each.
fn hashing_slots() -> &'static Semaphore {
    static SLOTS: OnceLock<Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| Semaphore::new(hashing_concurrency().0))
}

/// Hashes running now, and the most that ever ran at once in this process.
static RUNNING: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// How many hashes may run at once in this process, and the most that ever did.
pub fn hashing_concurrency() -> (usize, usize) {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    (cores.clamp(2, 8), PEAK.load(Ordering::SeqCst))
}

/// Runs one argon2 computation on the blocking pool once a slot is free.
async fn on_a_slot<T: Send + 'static>(
    work: impl FnOnce() -> Decided<T> + Send + 'static,
) -> Decided<T> {
    let _slot = hashing_slots()
        .acquire()
        .await
        .map_err(|_| Refusal::Internal)?;
    let running = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
    PEAK.fetch_max(running, Ordering::SeqCst);
    let done = tokio::task::spawn_blocking(work).await;
    RUNNING.fetch_sub(1, Ordering::SeqCst);
    done.map_err(|_| Refusal::Internal)?
}

/// Hashes `password` with `cost`, on the blocking pool.
pub async fn hash(password: String, cost: Cost) -> Decided<String> {
    on_a_slot(move || hash_now(&password, cost)).await
}

fn hash_now(password: &str, cost: Cost) -> Decided<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|_| Refusal::Internal)?;
    let salt = SaltString::encode_b64(&salt).map_err(|_| Refusal::Internal)?;
    let hash = cost
        .hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|_| Refusal::Internal)?;
    Ok(hash.to_string())
}

/// What verifying a password found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Wrong,
    Right,
    /// Right, and the stored hash is weaker than `cost`: store a new one.
    RightButRehash,
}

/// Verifies `password` against `stored` (constant time), on the blocking pool.
pub async fn verify(password: String, stored: String, cost: Cost) -> Decided<Verdict> {
    on_a_slot(move || verify_now(&password, &stored, cost)).await
}

fn verify_now(password: &str, stored: &str, cost: Cost) -> Decided<Verdict> {
    let parsed = PasswordHash::new(stored).map_err(|_| Refusal::Internal)?;
    if Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_err()
    {
        return Ok(Verdict::Wrong);
    }
    let weaker = match Params::try_from(&parsed) {
        Ok(params) => {
            params.m_cost() < cost.memory_kib
                || params.t_cost() < cost.iterations
                || params.p_cost() < cost.parallelism
                || parsed.algorithm != Algorithm::Argon2id.ident()
        }
        Err(_) => true,
    };
    Ok(if weaker {
        Verdict::RightButRehash
    } else {
        Verdict::Right
    })
}

/// Spends the time of one verification for a login whose e-mail is unknown, so the answer
/// takes about as long as for a wrong password.
pub async fn verify_dummy(password: String, cost: Cost) -> Decided<()> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let stored = match DUMMY.get() {
        Some(stored) => stored.clone(),
        None => {
            let made = hash("not a password anyone has".to_owned(), cost).await?;
            DUMMY.get_or_init(|| made).clone()
        }
    };
    verify(password, stored, cost).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_bounds_and_common_passwords() {
        assert!(check_policy("short").is_err());
        assert!(check_policy(&"x".repeat(129)).is_err());
        assert!(check_policy("password123").is_err());
        assert!(check_policy("correct horse battery").is_ok());
        // 128 characters of any kind are kept whole.
        assert!(check_policy(&"é".repeat(128)).is_ok());
    }

    #[tokio::test]
    async fn hash_verify_and_rehash() {
        let cost = Cost::OWASP;
        let stored = hash("a long enough secret".into(), cost)
            .await
            .expect("hash");
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let right = verify("a long enough secret".into(), stored.clone(), cost).await;
        assert_eq!(right.expect("verify"), Verdict::Right);
        let wrong = verify("a long enough secreT".into(), stored.clone(), cost).await;
        assert_eq!(wrong.expect("verify"), Verdict::Wrong);
        let stronger = Cost {
            iterations: 3,
            ..cost
        };
        let rehash = verify("a long enough secret".into(), stored, stronger).await;
        assert_eq!(rehash.expect("verify"), Verdict::RightButRehash);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_flood_of_verifications_queues_within_the_bound() {
        let cost = Cost::OWASP;
        let stored = hash("a long enough secret".into(), cost)
            .await
            .expect("hash");
        let (bound, _) = hashing_concurrency();
        let mut flood = tokio::task::JoinSet::new();
        for _ in 0..bound * 4 {
            let stored = stored.clone();
            flood.spawn(async move { verify("a long enough secret".into(), stored, cost).await });
        }
        while let Some(done) = flood.join_next().await {
            assert_eq!(done.expect("joined").expect("verified"), Verdict::Right);
        }
        let (_, peak) = hashing_concurrency();
        assert!(peak >= 1 && peak <= bound, "peak {peak}, bound {bound}");
    }

    #[tokio::test]
    async fn no_truncation_at_any_length() {
        let cost = Cost::OWASP;
        let long = "a".repeat(127) + "b";
        let stored = hash(long.clone(), cost).await.expect("hash");
        let other = "a".repeat(127) + "c";
        assert_eq!(
            verify(other, stored.clone(), cost).await.expect("verify"),
            Verdict::Wrong
        );
        assert_eq!(
            verify(long, stored, cost).await.expect("verify"),
            Verdict::Right
        );
    }

    #[test]
    fn the_list_finds_each_of_its_lines_and_nothing_else() {
        let lines: Vec<&str> = COMMON.lines().collect();
        assert!(
            lines
                .windows(2)
                .all(|pair| pair[0].as_bytes() < pair[1].as_bytes())
        );
        assert!(lines.iter().all(|line| line.chars().count() >= MIN_CHARS));
        for line in &lines {
            assert!(is_common(line), "{line:?} not found");
            // Between two neighbours, at either end, or a prefix of one: not on the list.
            assert!(!is_common(&format!("{line}\u{0}")));
        }
        for absent in [
            "",
            "\n",
            "!",
            "password1!x",
            "~~~~~~~~~~~~",
            "correct horse battery",
        ] {
            assert!(!is_common(absent), "{absent:?}");
        }
        assert!(is_common("password") && is_common("12345678") && is_common("iloveyou"));
        assert!(
            check_policy("Password").is_err(),
            "the lower-case form is on the list"
        );
    }
}
