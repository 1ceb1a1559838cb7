//! Access policies and the policy check (DESIGN.md, "Access policies and the policy check"), as
//! pure rules: no storage and no HTTP here.
//!
//! - [`model`]: the JSON of the catalogue, of a policy, and of what a check asks about.
//! - [`validate`]: what may be saved (everything that could never match is refused, naming its
//!   path), and what a catalogue change must keep.

pub mod model;
pub mod validate;

pub use model::{Catalogue, Effect, Permission, PolicyBody, ResourceRef, Selector, Subject, Target};
pub use validate::TargetedUser;
