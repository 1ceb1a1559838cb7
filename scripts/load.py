#!/usr/bin/env python3
"""Load bench of the local server (issue 14): requests/s, p50 and p99 of five routes.

    python3 scripts/load.py [--duration 10] [--connections 32] [--threads 1]

One command: builds the local server in release (`cargo build --release -p tenantry-local`),
installs the load generator `wrk` (Debian's package) when it is missing, starts the server on a
free loopback port over a fresh data directory (the embedded store), prepares an owner, 200 run
users, 50 policies and a run-user session through the API, then runs wrk against each route in
turn and prints a Markdown table. After the run it reads the profile's usage and checks that
every metered request wrk got a 2xx for was counted (the meter's batches are written when the
server stops, and before a usage read).

The server and wrk share this machine's cores: compare routes as ratios within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "load bench owner's passphrase"
RUN_PASSWORD = "load bench run user's passphrase"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    def __init__(self, base: str) -> None:
        self.base = base

    def call(self, method: str, path: str, token: str | None = None, body=None, expect=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("content-type", "application/json")
        if token:
            request.add_header("authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request) as reply:
                status, text = reply.status, reply.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode()
        if expect is not None and status != expect:
            sys.exit(f"{method} {path}: expected {expect}, got {status}: {text}")
        return json.loads(text) if text else None


def wrk_script(method: str, body, token: str) -> str:
    lines = [f'wrk.method = "{method}"', f'wrk.headers["authorization"] = "Bearer {token}"']
    if body is not None:
        lines.append('wrk.headers["content-type"] = "application/json"')
        lines.append(f"wrk.body = {json.dumps(json.dumps(body))}")
    return "\n".join(lines) + "\n"


def millis(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, script: str, args) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    out = subprocess.run(
        ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{args.duration}s",
         "--latency", "-s", f.name, url],
        capture_output=True, text=True, check=True,
    ).stdout
    os.unlink(f.name)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    p50 = millis(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = millis(re.search(r"\s99%\s+(\S+)", out).group(1))
    # wrk counts the answers that are not 2xx or 3xx itself, and prints the line only when
    # there are some. (A counter kept in the script's `response` cannot be used: wrk runs
    # `done` in another Lua state, where it always read 0, so refusals passed for fast answers.)
    refused = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    bad = int(refused.group(1)) if refused else 0
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rate": rate, "total": total, "p50": p50, "p99": p99, "bad": bad,
            "errors": errors.group(1) if errors else ""}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--login-duration", type=int, default=5)
    args = parser.parse_args()

    if shutil.which("wrk") is None:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run(sudo + ["apt-get", "install", "-y", "wrk"], check=True)
    subprocess.run(["cargo", "build", "--release", "-p", "tenantry-local"], cwd=ROOT, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    binary = target / "release" / "tenantry-local"

    port = free_port()
    data = tempfile.mkdtemp(prefix="tenantry-load-")
    env = dict(os.environ, PORT=str(port), TENANTRY_DATA_DIR=data, RUST_LOG="warn")
    server = subprocess.Popen([str(binary)], env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    api = Client(base)
    try:
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        email = "owner@load.example.com"
        api.call("POST", "/v1/accounts", body={"email": email, "name": "Load", "password": PASSWORD},
                 expect=201)
        token = api.call("POST", "/v1/login", body={"email": email, "password": PASSWORD},
                         expect=200)["token"]
        pid = api.call("GET", "/v1/profiles", token, expect=200)
        pid = (pid.get("items") or pid.get("profiles"))[0]["id"]
        api.call("PUT", f"/v1/profiles/{pid}/limits", token,
                 {"api_requests": 1_000_000, "policies": 100}, expect=200)
        users = []
        for i in range(200):
            body = {"email": f"run{i}@load.example.com", "name": f"Run {i}",
                    "tags": [{"key": "site", "value": f"site-{i % 10}"}]}
            if i == 0:
                body["password"] = RUN_PASSWORD
            users.append(api.call("POST", f"/v1/profiles/{pid}/run/users", token, body,
                                  expect=201)["id"])
        for i in range(50):
            api.call("POST", f"/v1/profiles/{pid}/policies", token,
                     {"name": f"p{i}", "targets": [{"tag": {"key": "site", "value": f"site-{i % 10}"}}],
                      "permissions": [{"effect": "allow", "actions": ["access"],
                                       "resources": [{"type": "device", "id": f"d{i}"}]}]},
                     expect=201)
        check = {"target": {"run_user": users[7]}, "action": "access",
                 "resource": {"type": "device", "id": "d7"}}
        assert api.call("POST", f"/v1/profiles/{pid}/policies/check", token, check,
                        expect=200)["allowed"] is True
        used_before = api.call("GET", f"/v1/profiles/{pid}/usage", token,
                               expect=200)["services"]["api_requests"]["used"]

        routes = [
            ("GET /v1/profiles/{pid} (management, not metered)", "GET",
             f"/v1/profiles/{pid}", None, False),
            ("GET /v1/profiles/{pid}/run/users/{uid} (metered)", "GET",
             f"/v1/profiles/{pid}/run/users/{users[3]}", None, True),
            ("GET /v1/profiles/{pid}/run/users?limit=50 (a page, metered)", "GET",
             f"/v1/profiles/{pid}/run/users?limit=50", None, True),
            ("POST /v1/profiles/{pid}/policies/check (metered)", "POST",
             f"/v1/profiles/{pid}/policies/check", check, True),
        ]
        rows, metered_ok = [], 0
        for name, method, path, body, metered in routes:
            figures = run_wrk(base + path, wrk_script(method, body, token), args)
            rows.append((name, figures))
            if metered:
                metered_ok += figures["total"] - figures["bad"]
        login = {"email": email, "password": PASSWORD}
        login_args = argparse.Namespace(**{**vars(args), "duration": args.login_duration})
        rows.append(("POST /v1/login (argon2id)",
                     run_wrk(base + "/v1/login", wrk_script("POST", login, ""), login_args)))

        used_after = api.call("GET", f"/v1/profiles/{pid}/usage", token,
                              expect=200)["services"]["api_requests"]["used"]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        shutil.rmtree(data, ignore_errors=True)

    cores = os.cpu_count()
    print(f"\nwrk -t {args.threads} -c {args.connections} -d {args.duration}s "
          f"(login {args.login_duration}s), {cores} cores shared by server and wrk\n")
    print("| route | requests/s | p50 (ms) | p99 (ms) | requests | non-2xx | socket errors |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, f in rows:
        print(f"| `{name}` | {f['rate']:,.0f} | {f['p50']:.2f} | {f['p99']:.2f} | {f['total']:,} "
              f"| {f['bad']} | {f['errors'] or '-'} |")
    counted = used_after - used_before
    print(f"\nmetered requests answered 2xx: {metered_ok:,}; counted by the profile's usage: {counted:,}")
    # wrk stops its clock with requests in flight (answered, counted, not tallied): at most one
    # per connection and route.
    slack = args.connections * 3
    if not metered_ok <= counted <= metered_ok + slack:
        sys.exit(f"metering lost or invented requests: {metered_ok} answered, {counted} counted")
    if any(f["bad"] for _, f in rows):
        sys.exit("some requests were refused: the figures are not of the routes' work")


if __name__ == "__main__":
    main()
