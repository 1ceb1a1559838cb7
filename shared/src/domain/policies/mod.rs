//! Access policies and the policy check (DESIGN.md, "Access policies and the policy check"), as
//! pure rules: no storage and no HTTP here.
//!
//! - [`model`]: the JSON of the catalogue, of a policy, and of what a check asks about.
//! - [`validate`]: what may be saved (everything that could never match is refused, naming its
//!   path), and what a catalogue change must keep.
//! - [`engine`]: a profile's active policies compiled for checks (built in `compile`).
//! - [`explain`]: what applies to one user.
//!
//! A caller (the policy routes, the check) reads the policies and the policy-set version, compiles
//! them once per version (`engine::Compiled::compile`) and keeps the result; a check then costs
//! no store read beyond the version and the run user.

mod compile;
pub mod engine;
pub mod explain;
pub mod model;
pub mod validate;

pub use engine::{Compiled, Decision, DecisionEffect, Match};
pub use explain::Applied;
pub use model::{
    Catalogue, Effect, Permission, PolicyBody, ResourceRef, Selector, Subject, Target,
};
pub use validate::TargetedUser;
