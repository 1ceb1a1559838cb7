//! Tenantry's common crate: domain rules, the storage port and its adapters, authorization,
//! the HTTP routers of every function, errors and telemetry. AWS types appear only in the
//! adapters: `store::dynamo`, `mail::ses`, `stream` (Lambda's stream records) and `lambda`.

pub mod app;
pub mod auth;
#[cfg(feature = "aws")]
pub mod aws;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod keys;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod mail;
pub mod notify;
pub mod password;
pub mod secrets;
pub mod store;
#[cfg(feature = "stream")]
pub mod stream;
pub mod telemetry;
