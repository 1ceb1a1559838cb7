//! Tenantry's common crate: domain rules, the storage port and its adapters, authorization,
//! the HTTP routers of every function, errors and telemetry. Nothing here names an AWS type
//! outside the adapters in `store::dynamo`.

pub mod app;
pub mod auth;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod keys;
pub mod lambda;
pub mod mail;
pub mod notify;
pub mod password;
pub mod secrets;
pub mod store;
pub mod telemetry;
