//! Business rules, written once and free of AWS types: the handlers of every function and the
//! local server call these.

pub mod accounts;
pub mod profiles;
pub mod records;
pub mod team;
pub mod tokens;
pub mod usage;
pub mod validate;

pub use records::Role;
