//! Business rules, written once and free of AWS and web types: the handlers of every function,
//! the notifications handler and the local server call these. Every rule answers with a value
//! or a [`Refusal`](crate::refusal::Refusal).

pub mod access;
pub mod accounts;
pub mod audit;
pub mod billing;
pub mod credentials;
pub mod cursor;
pub mod due;
pub mod membership;
pub mod policies;
pub mod policy_set;
pub mod profiles;
pub mod records;
pub mod recovery;
pub mod run_users;
pub mod team;
pub mod throttle;
pub mod tokens;
pub mod tx;
pub mod usage;
pub mod validate;
pub mod verification;

pub use access::{Permission, Role};
