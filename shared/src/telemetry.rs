//! Structured JSON logs. Nothing logged ever holds a secret, a password or a token.

use tracing_subscriber::EnvFilter;

/// JSON lines on stderr (stdout stays for what a person reads), level from `RUST_LOG`
/// (default `info`). Safe to call twice.
pub fn init_json() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}
