//! Structured JSON logs. Nothing logged ever holds a secret, a password or a token.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;
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

/// The subscriber of a Lambda function: one line per event on stdout, which Lambda sends to the
/// function's log group; JSON when Lambda's log format is JSON (`AWS_LAMBDA_LOG_FORMAT`, the
/// template's `LoggingConfig`), text otherwise; no timestamp (Lambda adds its own). The level
/// is Lambda's `AWS_LAMBDA_LOG_LEVEL` (the template's `ApplicationLogLevel`), else `RUST_LOG`
/// when it is a bare level, else `info` ([`lambda_level`]).
///
/// What `lambda_http::tracing::init_default_subscriber` did, but with one level for everything
/// instead of an `EnvFilter`: the filter's directive syntax brought `regex` into every function
/// (issue 14, BENCHMARKS.md "Package size (issue 14)"). Per-target directives in `RUST_LOG`
/// (`info,aws_smithy_runtime=debug`) are not understood there: the level is then `info`.
pub fn init_lambda() {
    let level = lambda_level(
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref(),
        std::env::var("RUST_LOG").ok().as_deref(),
    );
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT")
        .is_ok_and(|format| format.trim().eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false)
        .without_time()
        .with_writer(std::io::stdout);
    let _ = if json {
        builder.json().with_current_span(false).try_init()
    } else {
        builder.try_init()
    };
}

/// The level of a Lambda's logs: `aws_lambda_log_level` (Lambda's names: `TRACE`, `DEBUG`,
/// `INFO`, `WARN`, `ERROR`, `FATAL`, the last taken as `ERROR`) when set, else `rust_log` if it
/// is one level, else `INFO`.
pub fn lambda_level(aws_lambda_log_level: Option<&str>, rust_log: Option<&str>) -> LevelFilter {
    let parse = |value: &str| {
        let value = value.trim();
        if value.eq_ignore_ascii_case("fatal") {
            Some(LevelFilter::ERROR)
        } else {
            value.parse::<LevelFilter>().ok()
        }
    };
    aws_lambda_log_level
        .filter(|value| !value.trim().is_empty())
        .or(rust_log)
        .and_then(parse)
        .unwrap_or(LevelFilter::INFO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambdas_level_comes_first_then_rust_log_then_info() {
        assert_eq!(lambda_level(Some("WARN"), Some("debug")), LevelFilter::WARN);
        assert_eq!(lambda_level(None, Some("debug")), LevelFilter::DEBUG);
        assert_eq!(lambda_level(Some(" "), Some("trace")), LevelFilter::TRACE);
        assert_eq!(lambda_level(None, None), LevelFilter::INFO);
    }

    #[test]
    fn fatal_is_error_and_what_is_not_a_level_is_info() {
        assert_eq!(lambda_level(Some("FATAL"), None), LevelFilter::ERROR);
        assert_eq!(lambda_level(Some("loud"), Some("debug")), LevelFilter::INFO);
        assert_eq!(
            lambda_level(None, Some("info,aws_smithy_runtime=debug")),
            LevelFilter::INFO
        );
    }
}
