//! The fault-injecting proxy as a program, for operators and CI:
//!
//! ```text
//! fault_proxy <upstream URL> <share 0..1> <seed> <listen port> [--ses] [--delay-ms N] [--kinds a,b]
//! ```
//!
//! Prints the address it listens on, then forwards to the upstream with `share` of the calls
//! failing (kinds: server_error, throttle, drop, drop_after_forward, delay; all by default;
//! `--ses` gives the errors SES's shapes). Prints its counts on SIGTERM or Ctrl-C and exits.

use std::time::Duration;

use anyhow::{Context, bail};
use tenantry_tests::fault_proxy::{Fault, FaultProxy, Flavour, Plan};

fn usage() -> anyhow::Error {
    anyhow::anyhow!(
        "usage: fault_proxy <upstream URL> <share 0..1> <seed> <listen port> \
         [--ses] [--delay-ms N] [--kinds server_error,throttle,drop,drop_after_forward,delay]"
    )
}

fn plan(args: &[String]) -> anyhow::Result<(Plan, u16)> {
    let [upstream, share, seed, port, options @ ..] = args else {
        return Err(usage());
    };
    let share: f64 = share.parse().context("share")?;
    if !(0.0..=1.0).contains(&share) {
        bail!("the share is from 0 to 1");
    }
    let mut plan = Plan::new(upstream.clone(), share, seed.parse().context("seed")?);
    let port = port.parse().context("listen port")?;
    let mut options = options.iter();
    while let Some(option) = options.next() {
        match option.as_str() {
            "--ses" => plan.flavour = Flavour::Ses,
            "--delay-ms" => {
                let ms = options.next().ok_or_else(usage)?.parse().context("delay")?;
                plan.delay = Duration::from_millis(ms);
            }
            "--kinds" => {
                let names = options.next().ok_or_else(usage)?;
                plan.kinds = names
                    .split(',')
                    .map(|name| {
                        Fault::ALL
                            .into_iter()
                            .find(|fault| fault.name() == name)
                            .with_context(|| format!("no fault kind {name}"))
                    })
                    .collect::<anyhow::Result<_>>()?;
            }
            _ => return Err(usage()),
        }
    }
    Ok((plan, port))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (plan, port) = plan(&args)?;
    let proxy = FaultProxy::start_on(plan, port).await?;
    println!("{}", proxy.url());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    println!("{}", proxy.stats());
    Ok(())
}
