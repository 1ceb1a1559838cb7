//! Structured JSON logs. Nothing logged ever holds a secret, a password or a token.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// JSON lines on stderr (stdout stays for what a person reads), level from `RUST_LOG`
/// (default `info`). Safe to call twice.
pub fn init_json() {
    init_json_to(std::io::stderr);
}

/// The same JSON lines, to `writer` (the tests write theirs to files, which the test command
/// scans for secrets). The first call in a process wins; later calls do nothing.
pub fn init_json_to<W>(writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .with_writer(writer)
        .try_init();
}
