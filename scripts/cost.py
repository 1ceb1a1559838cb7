#!/usr/bin/env python3
"""Dollars per million requests, per route, on AWS (issue 14): prints a Markdown table.

    cargo test --workspace --test authz_matrix round_trips_of_every_route   # writes the counts
    python3 scripts/cost.py [target/tmp/round-trips.json]

Input: the store calls of each route's request as `round_trips_of_every_route` counted them
(steps, gets, queries, items read, writes, items written, transactions; steady state: the
meter's batch is written apart). Each route's function and its memory come from
`infra/template.yaml`.

Model (every assumption is a constant below, so it can be argued with):
- API Gateway HTTP API: per request. Lambda: per request, plus duration at the function's memory
  on arm64, billed per ms; duration = sequential store round trips x ROUND_TRIP_MS + CPU
  (argon2id routes ARGON2_MS at one vCPU, scaled down by memory; others OTHER_CPU_MS).
- DynamoDB on demand: a strongly consistent GetItem of an item up to 4 KB = 1 RRU; a Query = 1 RRU
  per 4 KB read (items at ITEM_KB each, at least 1); a plain write of an item up to 1 KB = 1 WRU;
  a transactional write = 2 WRU per item; a metered request adds 1 / METER_BATCH of a 1 WRU
  counter write.
- The floor: API Gateway + Lambda requests alone.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# us-east-1 list prices (2026; API Gateway HTTP API first 300 M requests; Lambda arm64;
# DynamoDB on-demand after the November 2024 price cut).
APIGW_PER_M = 1.00
LAMBDA_REQUEST_PER_M = 0.20
LAMBDA_ARM_GB_SECOND = 0.0000133334
RRU_PER_M = 0.125
WRU_PER_M = 0.625

ROUND_TRIP_MS = 5.0  # one DynamoDB call within the region, p50, as Lambda waits for it
OTHER_CPU_MS = 0.5  # routing, JSON, checks (the local server's figures: well under 1 ms)
ARGON2_MS = 18.0  # one argon2id hash (m = 19 MiB, t = 2) on one full vCPU (BENCHMARKS "Cryptography")
ITEM_KB = 0.5  # a typical item (run user, token, member, policy)
METER_BATCH = 20
FULL_VCPU_MB = 1769

# Routes that hash or verify a password (argon2id) once.
ARGON2 = {
    ("POST", "/v1/accounts"), ("POST", "/v1/login"), ("PUT", "/v1/account/password"),
    ("DELETE", "/v1/account"), ("DELETE", "/v1/profiles/{pid}"), ("POST", "/v1/profiles/{pid}/tokens"),
    ("POST", "/v1/profiles/{pid}/run/signup"), ("POST", "/v1/profiles/{pid}/run/login"),
    ("PUT", "/v1/run/me/password"), ("PUT", "/v1/profiles/{pid}/run/users/{uid}/password"),
    ("POST", "/v1/password-reset/confirm"), ("POST", "/v1/profiles/{pid}/run/password-reset/confirm"),
}


def memory_of_functions() -> dict[str, int]:
    """Function name -> MemorySize, read from the template (a literal, a parameter's default, or
    the Globals' default)."""
    text = (ROOT / "infra" / "template.yaml").read_text()
    defaults = dict(re.findall(r"\n  (\w+):\n    Type: Number\n(?:    .*\n)*?    Default: (\d+)", text))
    memory: dict[str, int] = {}
    for block in re.split(r"\n  (?=\w+Function:\n)", text):
        name = re.match(r"(\w+)Function:\n", block)
        binary = re.search(r"Binary: ([\w-]+)", block)
        size = re.search(r"\n      MemorySize: (?:!Ref )?(\w+)", block)
        if name and binary:
            value = size.group(1) if size else None
            if value and not value.isdigit():
                value = defaults.get(value)
            memory[binary.group(1)] = int(value) if value else 0
    globals_size = re.search(r"Globals:\n(?:  .*\n)*?    MemorySize: (?:!Ref )?(\w+)", text)
    fallback = 256
    if globals_size:
        value = globals_size.group(1)
        fallback = int(value) if value.isdigit() else int(defaults.get(value, 256))
    return {name: size or fallback for name, size in memory.items()} | {"": fallback}


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "target" / "tmp" / "round-trips.json"
    rows = json.loads(source.read_text())
    memory = memory_of_functions()
    floor = APIGW_PER_M + LAMBDA_REQUEST_PER_M
    print(f"Floor (API Gateway + Lambda requests): ${floor:.2f} per million.\n")
    print("| method | route | function (MB) | steps | RRU | WRU | ms billed | Lambda $ | DynamoDB $ | total $/M | × floor |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    reads_over = []
    for row in rows:
        mb = memory.get(row["function"], memory[""])
        query_items = max(0, row["items_read"] - row["get"])
        rru = row["get"] + max(row["query"], math.ceil(query_items * ITEM_KB / 4)) if row["query"] else row["get"]
        single = row["writes"] - row["transact"]
        tx_items = row["items_written"] - single
        wru = single + 2 * tx_items + (1 / METER_BATCH if row["metered"] else 0)
        cpu = OTHER_CPU_MS
        if (row["method"], row["route"]) in ARGON2:
            cpu += ARGON2_MS * max(1.0, FULL_VCPU_MB / mb)
        billed_ms = math.ceil(row["steps"] * ROUND_TRIP_MS + cpu)
        lambda_duration = mb / 1024 * billed_ms / 1000 * LAMBDA_ARM_GB_SECOND * 1e6
        dynamo = rru * RRU_PER_M + wru * WRU_PER_M
        total = floor + lambda_duration + dynamo
        ratio = total / floor
        if row["method"] == "GET" and row["as"] not in ("anonymous", "link") and ratio > 1.5:
            reads_over.append(f"{row['method']} {row['route']}")
        print(f"| {row['method']} | `{row['route']}` | {row['function']} ({mb}) | {row['steps']} | "
              f"{rru:g} | {wru:g} | {billed_ms} | {lambda_duration:.3f} | {dynamo:.3f} | "
              f"{total:.2f} | {ratio:.2f} |")
    print(f"\nAuthenticated reads over 1.5 × the floor: {', '.join(reads_over) or 'none'}")


if __name__ == "__main__":
    main()
