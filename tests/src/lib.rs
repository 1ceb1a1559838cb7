//! Fixtures shared by the black-box tests: fresh tables on both adapters.
//!
//! The DynamoDB fixtures need DynamoDB Local: `scripts/test.sh` starts it and sets
//! `DYNAMODB_ENDPOINT`. Without it they fail loudly; they never pass silently.

pub mod adapters;
pub mod api;
pub mod failing;
pub mod fault_proxy;
pub mod fixtures;
pub mod logs;
pub mod mailbox;
pub mod policy_reference;
pub mod post;
pub mod seed;
pub mod streams;
pub mod world;
