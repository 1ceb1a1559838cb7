//! Where a function's init goes (issue 14, BENCHMARKS.md "Cold start"): in a fresh process, each
//! step `shared::lambda::serve` takes before its first `/next` (the `run-users` function's), in
//! microseconds, as one line of JSON. An example of the `run-users` crate so that it links what
//! the function links (the same features of `shared`). Each run is a new process:
//!
//! ```sh
//! cargo build --release -p run-users --example init_steps
//! for i in $(seq 30); do env -i TABLE_NAME=t AWS_REGION=us-east-1 \
//!     AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test target/release/examples/init_steps; done
//! ```
//!
//! `env -i` matters: with `SSL_CERT_FILE` or `SSL_CERT_DIR` set, the client loads those roots
//! instead of the AWS ones compiled in (`shared::aws`), as a Lambda never does. `RUNTIME=multi_thread`
//! builds the runtime `#[tokio::main]` builds by default instead of the functions' current-thread one.

use std::time::Instant;

fn main() {
    let start = Instant::now();
    let mut steps: Vec<(&str, u128)> = Vec::new();
    let mut mark = |name, since: &mut Instant| {
        steps.push((name, since.elapsed().as_micros()));
        *since = Instant::now();
    };
    let mut at = Instant::now();
    let mut builder = if std::env::var("RUNTIME").as_deref() == Ok("multi_thread") {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = builder.enable_all().build().expect("runtime");
    mark("tokio runtime", &mut at);
    runtime.block_on(async {
        shared::telemetry::init_lambda();
        mark("telemetry", &mut at);
        let sdk = shared::aws::lambda_config();
        mark("sdk config", &mut at);
        let client = shared::store::dynamo::DynamoTable::client(sdk);
        mark("dynamodb client", &mut at);
        let table = shared::store::dynamo::DynamoTable::new(client, "t");
        let app = shared::app::App::new(
            std::sync::Arc::new(table),
            shared::config::Config::from_env(),
        );
        mark("app", &mut at);
        let router = shared::http::function_router(app, &shared::http::RUN_USERS);
        mark("router (run-users)", &mut at);
        drop(router);
    });
    let total = start.elapsed().as_micros();
    let fields: Vec<String> = steps
        .iter()
        .map(|(name, micros)| format!("\"{name}\": {micros}"))
        .collect();
    println!("{{{}, \"total\": {total}}}", fields.join(", "));
}
