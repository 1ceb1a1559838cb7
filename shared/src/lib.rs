//! Tenantry's common crate. Layers, bottom to top; a module imports only from layers below
//! its own (docs/ARCHITECTURE.md draws them):
//!
//! 1. leaves: [`catalogue`] (the metered services), [`config`] (settings), [`refusal`] (the
//!    domain's one error language), [`email`] (normalised addresses), [`secrets`], [`password`],
//!    [`telemetry`];
//! 2. ports and their adapters: [`store`] (the table) with [`keys`] (the key design), [`mail`];
//! 3. [`app`]: the context every rule runs with (table, settings, clock);
//! 4. [`domain`]: every business rule, free of AWS and web types;
//! 5. triggers on top: [`http`] (routers, problem+json), [`notify`] (the change handler),
//!    [`stream`] and [`lambda`] (what Lambda hands over), [`check`] (the invariant checker).
//!    AWS types appear only in the adapters: `store::dynamo`, `mail::ses`, `stream`, `lambda`
//!    and [`aws`].

pub mod app;
#[cfg(feature = "aws")]
pub mod aws;
pub mod catalogue;
pub mod check;
pub mod config;
pub mod domain;
pub mod email;
pub mod http;
pub mod keys;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod mail;
pub mod maintenance;
pub mod notify;
pub mod password;
pub mod refusal;
pub mod secrets;
pub mod store;
#[cfg(feature = "stream")]
pub mod stream;
pub mod telemetry;
