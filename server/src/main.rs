//! The local server: every function's routes on one port, on the embedded store (or DynamoDB
//! when `TABLE_NAME` is set).
//!
//! - `PORT` (default 3000) on 127.0.0.1; prints `listening on http://127.0.0.1:<port>` once ready.
//! - `TENANTRY_DATA_DIR` (default `./.tenantry`) keeps the data, across restarts.
//! - Stops cleanly on Ctrl-C / SIGTERM.
//! - Also serves the OpenAPI document at `GET /v1/openapi.json`; `tenantry-local openapi [FILE]`
//!   prints it (or writes it to FILE, e.g. `docs/openapi.json`) and exits.
//! - `tenantry-local check` checks the invariants of the stored data (issue 13: gauges, e-mail
//!   claims, memberships, orphans, limits; see `shared::check`) on the embedded store, which must
//!   not be in use by a running server (redb locks its file), or on DynamoDB with `TABLE_NAME`;
//!   prints the report as JSON, exits 0 when clean, 1 with violations, 2 on an error.

mod check;
mod feed;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use shared::app::App;
use shared::config::Config;
use shared::store::Table;
use shared::store::dynamo::DynamoTable;
use shared::store::embedded::EmbeddedTable;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None => {}
        Some("openapi") => return write_openapi(args.get(1).map(String::as_str)),
        Some("check") => std::process::exit(check::run(&data_dir()).await),
        Some(other) => anyhow::bail!(
            "unknown argument `{other}`: run without arguments to serve, `openapi [FILE]`, or \
             `check` (the invariants of the stored data; stop the server first)"
        ),
    }
    shared::telemetry::init_json();
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port.trim().parse().context("PORT must be a port number")?,
        Err(_) => 3000,
    };
    let data_dir = data_dir();

    let mailer = shared::mail::mailer_from_env(&data_dir).await?;
    let mut feed_of = None;
    let table: Arc<dyn Table> = if std::env::var("TABLE_NAME").is_ok_and(|t| !t.is_empty()) {
        tracing::info!("using DynamoDB (notifications are sent by the stream, not by this server)");
        // On the process's one SDK config, which an SES mailer shares.
        let client = DynamoTable::client(shared::aws::config().await);
        Arc::new(DynamoTable::new(client, std::env::var("TABLE_NAME")?))
    } else {
        let path = data_dir.join("tenantry.redb");
        let embedded = EmbeddedTable::open(&path)
            .with_context(|| format!("opening the embedded store at {}", path.display()))?;
        tracing::info!(path = %path.display(), "using the embedded store");
        tokio::spawn(expire_items(embedded.clone()));
        feed_of = Some(embedded.clone());
        Arc::new(embedded)
    };
    let app = App::new(table, Config::from_env());
    tokio::spawn(maintain(app.clone(), mailer.clone()));
    let (stop_feed, feed_stopped) = tokio::sync::watch::channel(false);
    let feed = feed_of
        .map(|embedded| tokio::spawn(feed::run(embedded, app.clone(), mailer, feed_stopped)));

    let metering = tokio::spawn(flush_metering(app.clone()));

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{port}"))?;
    let bound = listener.local_addr()?.port();
    println!("listening on http://127.0.0.1:{bound}");
    // With the peer's address, which the login throttle counts by (never a client's header).
    let service =
        shared::http::router(app.clone()).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown())
        .await?;
    // The requests counted and not yet written are written before the process ends.
    metering.abort();
    shared::domain::usage::meter::flush_all(&app).await;
    // The feed finishes the batch in hand; what is left is handled at the next start.
    let _ = stop_feed.send(true);
    if let Some(feed) = feed
        && tokio::time::timeout(Duration::from_secs(30), feed)
            .await
            .is_err()
    {
        tracing::warn!("the change feed did not stop within 30 s");
    }
    tracing::info!("stopped");
    Ok(())
}

/// `TENANTRY_DATA_DIR`, by default `./.tenantry`.
fn data_dir() -> PathBuf {
    PathBuf::from(std::env::var("TENANTRY_DATA_DIR").unwrap_or_else(|_| "./.tenantry".to_owned()))
}

/// Prints the OpenAPI document, or writes it to `file`.
fn write_openapi(file: Option<&str>) -> anyhow::Result<()> {
    let text = shared::http::openapi::text();
    match file {
        Some(file) => {
            std::fs::write(file, text).with_context(|| format!("writing {file}"))?;
            eprintln!("wrote {file}");
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// Writes the `api_requests` counted and due (a Lambda writes them with its next request;
/// this server may see none for a while).
async fn flush_metering(app: App) {
    let mut every =
        tokio::time::interval((app.config.meter_flush / 2).max(Duration::from_millis(10)));
    loop {
        every.tick().await;
        shared::domain::usage::meter::flush_due(&app).await;
    }
}

/// The scheduled maintenance job (hourly in AWS, the `maintenance` function) every minute: a run
/// reads only the due markers of the hours since its checkpoint, so most runs read one partition.
async fn maintain(app: App, mailer: Arc<dyn shared::mail::Mailer>) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    loop {
        every.tick().await;
        if let Err(refusal) = shared::maintenance::run(&app, mailer.as_ref()).await {
            tracing::warn!(%refusal, "the maintenance run failed");
        }
    }
}

/// Removes expired items now and then, as DynamoDB's TTL does in AWS.
async fn expire_items(table: EmbeddedTable) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    loop {
        every.tick().await;
        if let Err(error) = table.purge_expired(chrono::Utc::now().timestamp()).await {
            tracing::warn!(%error, "purging expired items failed");
        }
    }
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
