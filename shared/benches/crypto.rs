//! Costs of the crate's cryptography, through its public API: argon2id password hashing and
//! verification at the OWASP minimum, and the secrets handed to clients (generation, checksum
//! parsing, SHA-256 digest). Run with `cargo bench -p tenantry-shared --bench crypto`; the
//! figures are in BENCHMARKS.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use shared::password::{self, Cost, Verdict};
use shared::secrets::{self, SecretKind};
use tokio::runtime::Runtime;

const PASSWORD: &str = "correct horse battery staple";

/// `password::hash` and `password::verify` run on tokio's blocking pool, so they are driven by a
/// current-thread runtime: each iteration includes one `spawn_blocking` hand-off, as in the
/// functions.
fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime")
}

fn argon2id(c: &mut Criterion) {
    let rt = runtime();
    let cost = Cost::OWASP;
    let stored = rt
        .block_on(password::hash(PASSWORD.to_owned(), cost))
        .expect("hash");
    let mut group = c.benchmark_group("argon2id_owasp");
    // One iteration takes tens of milliseconds: few, flat samples keep the run near a minute.
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    group.bench_function("hash", |b| {
        b.iter(|| {
            rt.block_on(password::hash(black_box(PASSWORD.to_owned()), cost))
                .expect("hash")
        })
    });
    group.bench_function("verify", |b| {
        b.iter(|| {
            let verdict = rt
                .block_on(password::verify(
                    black_box(PASSWORD.to_owned()),
                    black_box(stored.clone()),
                    cost,
                ))
                .expect("verify");
            assert_eq!(verdict, Verdict::Right);
        })
    });
    group.finish();
}

fn secret_handling(c: &mut Criterion) {
    let secret = secrets::generate(SecretKind::Session).expect("random");
    let mut group = c.benchmark_group("secrets");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("generate", |b| {
        b.iter(|| secrets::generate(black_box(SecretKind::Session)).expect("random"))
    });
    group.bench_function("parse", |b| {
        b.iter(|| {
            let kind = secrets::parse(black_box(&secret));
            assert_eq!(kind, Some(SecretKind::Session));
        })
    });
    group.bench_function("digest", |b| b.iter(|| secrets::digest(black_box(&secret))));
    group.finish();
}

criterion_group!(benches, argon2id, secret_handling);
criterion_main!(benches);
