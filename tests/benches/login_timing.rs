//! Does a login's timing tell an unknown e-mail from a wrong password? Both paths through
//! `credentials::login` on the embedded store, at the default argon2 cost (OWASP minimum):
//!
//! - `unknown_email`: an e-mail no account has: the throttle's two reservations, the claim read
//!   (nothing), a read of an account key that never exists, one argon2 verify of a dummy hash;
//! - `wrong_password`: an existing account with a wrong password: the two reservations, the
//!   claim read, the account read, one argon2 verify of the account's hash.
//!
//! The throttle's limits are raised so every attempt is verified (the reservations still run).
//! 50 samples of one login each (flat sampling): criterion's median is the median of 50. Before
//! criterion runs, 50 logins of each kind, interleaved, print their medians and ratio.
//!
//! `cargo bench -p tenantry-tests --bench login_timing`; the figures are in BENCHMARKS.md.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use shared::app::App;
use shared::config::Config;
use shared::domain::accounts::{self, SignUp};
use shared::domain::credentials;
use shared::domain::throttle::SourceAddress;
use shared::refusal::Refusal;
use tokio::runtime::Runtime;

const KNOWN: &str = "timing@example.com";
const UNKNOWN: &str = "nobody-timing@example.com";
const WRONG: &str = "not the password at all";

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn login_timing(c: &mut Criterion) {
    let rt = runtime();
    let config = Config {
        login_max_failures: 1_000_000_000,
        login_max_failures_per_address: 1_000_000_000,
        ..Config::default()
    };
    let app = App::new(Arc::new(tenantry_tests::fixtures::embedded()), config);
    let source = SourceAddress::Ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    rt.block_on(accounts::sign_up(
        &app,
        SignUp {
            email: KNOWN.to_owned(),
            name: "Timing".to_owned(),
            password: "correct horse battery staple".to_owned(),
        },
    ))
    .expect("sign-up");
    // Both refused alike (and the dummy hash made once, before measuring).
    for email in [KNOWN, UNKNOWN] {
        let refused = rt.block_on(credentials::login(
            &app,
            email,
            WRONG,
            &source,
            &shared::domain::audit::Audit::system(),
        ));
        assert!(matches!(refused, Err(Refusal::InvalidCredentials)));
    }

    // The same comparison, interleaved: 50 logins of each kind, alternating, so that the noise of
    // a shared machine falls on both alike. Printed beside criterion's figures.
    let mut times = [Vec::new(), Vec::new()];
    for round in 0..50 {
        // Which goes first alternates too, so neither always follows the other.
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let email = [UNKNOWN, KNOWN][i];
            let started = Instant::now();
            let refused = rt.block_on(credentials::login(
                &app,
                email,
                WRONG,
                &source,
                &shared::domain::audit::Audit::system(),
            ));
            times[i].push(started.elapsed());
            assert!(refused.is_err());
        }
    }
    let [unknown, known] = times.map(|mut t| {
        t.sort();
        (t[24] + t[25]) / 2
    });
    println!(
        "interleaved medians of 50: unknown_email {:.2} ms, wrong_password {:.2} ms, ratio {:.3}",
        unknown.as_secs_f64() * 1e3,
        known.as_secs_f64() * 1e3,
        unknown.as_secs_f64() / known.as_secs_f64()
    );

    let mut group = c.benchmark_group("login_timing");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    for (name, email) in [("unknown_email", UNKNOWN), ("wrong_password", KNOWN)] {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                credentials::login(
                    black_box(&app),
                    black_box(email),
                    WRONG,
                    &source,
                    &shared::domain::audit::Audit::system(),
                )
                .await
                .err()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, login_timing);
criterion_main!(benches);
