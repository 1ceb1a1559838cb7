//! Access policies and the policy check (DESIGN.md, "Access policies and the policy check"), as
//! pure rules: no storage and no HTTP here.
//!
//! - [`model`]: the JSON of the catalogue, of a policy, and of what a check asks about.

pub mod model;

pub use model::{Catalogue, Effect, Permission, PolicyBody, ResourceRef, Selector, Subject, Target};
