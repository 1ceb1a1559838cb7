//! What the test run logs, for the test command's secret scan (`scripts/logscan.py`).
//!
//! When `TENANTRY_TEST_LOG_DIR` is set (`scripts/test.sh` sets it to `target/test-logs`), each
//! test binary that builds an app writes the app's JSON log lines — the same format and level as
//! the functions in Lambda (`shared::telemetry`, `RUST_LOG`, default `info`) — to
//! `<dir>/app/<binary>-<pid>.jsonl`, and every password the tests send goes to
//! `<dir>/secrets/<binary>-<pid>.txt`, one per line, so the scan can look for each of them.
//! (Tokens and link secrets need no list: their `tny?_` prefix finds them.) Without the variable
//! nothing is written.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

/// The variable that turns the logs and the password list on.
pub const LOG_DIR_VAR: &str = "TENANTRY_TEST_LOG_DIR";

/// Passwords shorter than this are not listed: such a string would match unrelated text.
const SHORTEST_LISTED: usize = 8;

fn dir() -> Option<PathBuf> {
    std::env::var_os(LOG_DIR_VAR)
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
}

/// `<dir>/<sub>/<this binary>-<pid>.<extension>`, its directory created.
fn file_in(sub: &str, extension: &str) -> Option<File> {
    let dir = dir()?.join(sub);
    std::fs::create_dir_all(&dir).unwrap_or_else(|err| panic!("creating {}: {err}", dir.display()));
    let binary = std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.file_stem()
                .map(|stem| stem.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "test".to_owned());
    let path = dir.join(format!("{binary}-{}.{extension}", std::process::id()));
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|err| panic!("opening {}: {err}", path.display()));
    Some(file)
}

/// Sends the app's log lines to this binary's log file (once per process; nothing without
/// [`LOG_DIR_VAR`]). Every fixture that builds an app or a table calls it.
pub fn init() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        if let Some(file) = file_in("app", "jsonl") {
            shared::telemetry::init_json_to(Mutex::new(file));
        }
    });
}

/// The password list's file, and what it holds already.
type Listed = (File, HashSet<String>);

/// Lists `password` for the scan, once per process (nothing without [`LOG_DIR_VAR`]).
pub fn remember_password(password: &str) {
    static LIST: OnceLock<Option<Mutex<Listed>>> = OnceLock::new();
    if password.chars().count() < SHORTEST_LISTED || password.contains('\n') {
        return;
    }
    let list = LIST
        .get_or_init(|| file_in("secrets", "txt").map(|file| Mutex::new((file, HashSet::new()))));
    if let Some(list) = list {
        let mut list = list.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (file, listed) = &mut *list;
        if listed.insert(password.to_owned()) {
            writeln!(file, "{password}").expect("writing the password list");
        }
    }
}

/// Lists every string under a key that names a password (`password`, `new_password`, …) in a
/// JSON request body, at any depth.
pub fn remember_passwords_in(body: &Value) {
    match body {
        Value::Object(map) => {
            for (key, value) in map {
                match value {
                    Value::String(text) if key.to_ascii_lowercase().contains("password") => {
                        remember_password(text)
                    }
                    other => remember_passwords_in(other),
                }
            }
        }
        Value::Array(values) => values.iter().for_each(remember_passwords_in),
        _ => {}
    }
}
