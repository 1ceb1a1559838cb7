//! In-process cost of verifying a bearer token, on the embedded store: what every authenticated
//! request pays before its handler runs, minus the network round trip that DynamoDB adds.
//!
//! `cargo bench -p tenantry-tests --bench auth`; the figures are in BENCHMARKS.md.
//!
//! - `authenticate_session`: `access::authenticate` with a valid session token: prefix and
//!   checksum check, SHA-256 digest, one GetItem of the token item (a `redb` read transaction
//!   on tokio's blocking pool), JSON decoding of the record, expiry check;
//! - `parse_and_digest`: the same secret through `secrets::parse` and `secrets::digest` only;
//! - `refuse_mistyped`: `access::authenticate` with a token one character off: refused by its
//!   checksum, without reading the store.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use shared::app::App;
use shared::config::Config;
use shared::domain::access::{self as auth, Principal};
use shared::domain::{accounts, credentials};
use shared::email::Email;
use shared::secrets;
use tokio::runtime::Runtime;

/// A multi-thread runtime like a Lambda's (`#[tokio::main]`), its workers on the 2 cores.
fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// An account (its password hash is never checked here, so none is computed) and a session.
async fn session(app: &App) -> String {
    let (account, _) = accounts::create_account(
        app,
        Email::parse(&format!(
            "bench-{}@example.com",
            uuid::Uuid::now_v7().simple()
        ))
        .expect("an address"),
        "Bench".to_owned(),
        "not-a-hash: never verified in this bench".to_owned(),
    )
    .await
    .expect("create account");
    credentials::open_session(app, account.aid)
        .await
        .expect("session")
        .token
}

/// The secret with one character of its body changed: well-formed, wrong checksum.
fn mistyped(secret: &str) -> String {
    let mut bytes = secret.as_bytes().to_vec();
    let at = bytes.len() / 2;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("ASCII")
}

fn token_verification(c: &mut Criterion) {
    let rt = runtime();
    let app = App::new(
        Arc::new(tenantry_tests::fixtures::embedded()),
        Config::default(),
    );
    let token = rt.block_on(session(&app));
    let header = token.clone();
    let typo = mistyped(&token);
    // What each bench does succeeds (or is refused) as intended.
    let principal = rt
        .block_on(auth::authenticate(&app, &header))
        .expect("a valid session");
    assert!(matches!(principal, Principal::Account { .. }));
    assert!(secrets::parse(&mistyped(&token)).is_none());

    let mut group = c.benchmark_group("token_verification");
    group
        .sample_size(100)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    group.bench_function("authenticate_session", |b| {
        b.to_async(&rt).iter(|| async {
            auth::authenticate(black_box(&app), black_box(header.as_str()))
                .await
                .expect("a valid session")
        })
    });
    group.bench_function("parse_and_digest", |b| {
        b.iter(|| {
            let secret = black_box(token.as_str());
            (secrets::parse(secret), secrets::digest(secret))
        })
    });
    group.bench_function("refuse_mistyped", |b| {
        b.to_async(&rt).iter(|| async {
            auth::authenticate(black_box(&app), black_box(typo.as_str()))
                .await
                .expect_err("a mistyped token")
        })
    });
    group.finish();
}

criterion_group!(benches, token_verification);
criterion_main!(benches);
