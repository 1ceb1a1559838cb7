"""Property-based API fuzzing of the local server with schemathesis (issue 13).

Usage: python tests/fuzz/fuzz.py <tenantry-local binary> <log dir>

Starts the server on a free port with a fresh data dir, prepares state through the real HTTP API
(a verified account with a login session, its profile, a full API token, run users with tags and a
run-user session, a policy, a team member and a pending invitation), replays the regression cases
found by earlier fuzz runs, then runs schemathesis over docs/openapi.json with every check on,
path parameters bound to the prepared objects and a fixed seed. Exits non-zero on any failure.

Two runs, because a few operations end the fuzzer's own credentials:
  1. the main run: every operation but `POST /v1/logout`, `POST /v1/run/logout` and
     `DELETE /v1/account` (the ones that revoke the session or run-user session the run uses, or
     the account itself). The operations that can cut the run user's sessions (delete, set
     password, deactivate) are pointed at a second run user (`uid`), not the session's holder.
  2. the end run: those three operations, after which the credentials may be gone.
"""

from __future__ import annotations

import email
import email.policy
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
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "docs" / "openapi.json"
SEED = 20261113
# Examples per operation in the main run; with the coverage phase the run exceeds 1,000 cases.
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "25"))
PASSWORD = "fuzz-Passw0rd-long-enough"
# Fuzzed last, one after the other, in this order: each may end credentials the next ones use.
END_RUN = ["DELETE /v1/account", "POST /v1/run/logout", "POST /v1/logout"]
END_EXAMPLES = 10


def die(message: str) -> None:
    print(f"fuzz: {message}", file=sys.stderr)
    sys.exit(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(binary: str, log_dir: Path, data_dir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, PORT=str(port), TENANTRY_DATA_DIR=str(data_dir))
    for name in ("TABLE_NAME", "DYNAMODB_ENDPOINT", "SES_ENDPOINT", "MAIL_FROM"):
        env.pop(name, None)
    log = open(log_dir / "fuzz-server.log", "wb")
    proc = subprocess.Popen(
        [binary], env=env, stdout=subprocess.PIPE, stderr=log, start_new_session=True
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            die(f"server exited before listening (see {log_dir / 'fuzz-server.log'})")
        log.write(line)
        log.flush()
        if b"listening on" in line:
            # Keep draining stdout into the log so the server never blocks on a full pipe.
            def drain() -> None:
                for rest in proc.stdout:  # type: ignore[union-attr]
                    log.write(rest)
                    log.flush()

            import threading

            threading.Thread(target=drain, daemon=True).start()
            return proc, f"http://127.0.0.1:{port}"
    die("server did not print `listening on` within 60 s")
    raise AssertionError


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class Api:
    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()

    def call(self, method: str, path: str, body=None, token: str | None = None, expect: int = 200):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        r = self.http.request(method, self.base + path, json=body, headers=headers, timeout=30)
        if r.status_code != expect:
            die(f"prepare: {method} {path} answered {r.status_code}, wanted {expect}: {r.text[:500]}")
        return r.json() if r.content and "json" in r.headers.get("content-type", "") else None


def outbox_token(data_dir: Path, to: str, since: set[str]) -> str:
    """The `token=` secret of the newest e-mail to `to` not in `since`."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for f in sorted((data_dir / "outbox").glob("*.eml")):
            if f.name in since:
                continue
            msg = email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
            if to not in str(msg["To"]):
                continue
            body = msg.get_body(preferencelist=("plain", "html"))
            text = body.get_content() if body else ""
            m = re.search(r"token=([A-Za-z0-9_\-.~]+)", text)
            if m:
                return m.group(1)
        time.sleep(0.1)
    die(f"no e-mail with a token to {to} in the outbox")
    raise AssertionError


def seen(data_dir: Path) -> set[str]:
    box = data_dir / "outbox"
    return {f.name for f in box.glob("*.eml")} if box.exists() else set()


def sign_up(api: Api, data_dir: Path, address: str, name: str) -> tuple[dict, str]:
    """A verified account and a login session token."""
    before = seen(data_dir)
    account = api.call("POST", "/v1/accounts", {"email": address, "name": name, "password": PASSWORD}, expect=201)
    token = outbox_token(data_dir, address, before)
    api.call("POST", "/v1/accounts/verify", {"token": token})
    session = api.call("POST", "/v1/login", {"email": address, "password": PASSWORD})["token"]
    return account, session


def prepare(api: Api, data_dir: Path) -> dict[str, str]:
    owner, session = sign_up(api, data_dir, "owner@fuzz.example", "Fuzz Owner")
    other, other_session = sign_up(api, data_dir, "member@fuzz.example", "Fuzz Member")
    sign_up(api, data_dir, "invitee@fuzz.example", "Fuzz Invitee")
    pid = api.call("GET", "/v1/profiles", token=session)["profiles"][0]["id"]
    p = f"/v1/profiles/{pid}"
    tok = api.call(
        "POST", f"{p}/tokens",
        {"name": "fuzz", "permission": "full", "expires_in": "1 day", "password": PASSWORD},
        token=session, expect=201,
    )
    api_token = tok["token"]
    # A second token, the one the fuzzer may revoke (`tid`); the first stays for the whole run.
    tid = api.call(
        "POST", f"{p}/tokens",
        {"name": "fuzz-revocable", "permission": "read", "expires_in": "1 day", "password": PASSWORD},
        token=session, expect=201,
    )["id"]
    holder = api.call(
        "POST", f"{p}/run/users",
        {"email": "holder@fuzz.example", "name": "Session Holder", "password": PASSWORD,
         "tags": [{"key": "team", "value": "blue"}, {"key": "plan", "value": "pro"}]},
        token=session, expect=201,
    )
    target = api.call(
        "POST", f"{p}/run/users",
        {"email": "target@fuzz.example", "name": "Fuzz Target", "password": PASSWORD,
         "tags": [{"key": "team", "value": "red"}]},
        token=session, expect=201,
    )
    run_session = api.call(
        "POST", f"{p}/run/login", {"email": "holder@fuzz.example", "password": PASSWORD}
    )["token"]
    policy = api.call(
        "POST", f"{p}/policies",
        {"name": "blue devices", "targets": [{"tag": {"key": "team", "value": "blue"}}],
         "permissions": [{"effect": "allow", "actions": ["access"], "resources": [{"type": "device"}]}]},
        token=session, expect=201,
    )
    api.call(
        "PUT", f"{p}/run/settings",
        {"signup_enabled": True, "fields": [{"key": "team", "label": "Team", "type": "text"}]},
        token=session,
    )
    # A team member (invited, accepted) and a pending invitation.
    before = seen(data_dir)
    inv = api.call("POST", f"{p}/team", {"email": "member@fuzz.example", "role": "member"}, token=session, expect=201)
    outbox_token(data_dir, "member@fuzz.example", before)
    api.call("POST", f"/v1/invitations/{inv['id']}/accept", {}, token=other_session)
    pending = api.call("POST", f"{p}/team", {"email": "invitee@fuzz.example"}, token=session, expect=201)
    limits_pid = api.call("POST", "/v1/profiles", {"name": "Limits"}, token=session, expect=201)["id"]
    return {
        "limits_pid": limits_pid,
        "session": session,
        "api_token": api_token,
        "run_session": run_session,
        "pid": pid,
        "uid": target["id"],
        "id": policy["id"],
        "tid": tid,
        "aid": other["id"],
        "iid": pending["id"],
    }


# Cases found by earlier fuzz runs, replayed before the fuzz run so they stay fixed even when the
# seed or schemathesis changes: (method, path template, auth, raw body, content type, wanted status).
REGRESSIONS: list[tuple[str, str, str | None, bytes | None, str | None, int]] = []


def replay_regressions(base: str, state: dict[str, str]) -> int:
    failures = 0
    for method, path, auth, body, ctype, want in REGRESSIONS:
        url = base + path.format(**state)
        headers = {}
        if auth:
            headers["Authorization"] = f"Bearer {state[auth]}"
        if ctype:
            headers["Content-Type"] = ctype
        r = requests.request(method, url, data=body, headers=headers, timeout=30)
        ok = r.status_code == want
        if ok and r.status_code >= 400:
            ok = r.headers.get("content-type", "").startswith("application/problem+json")
        if not ok:
            failures += 1
            print(f"fuzz: regression {method} {path} {body!r}: {r.status_code} "
                  f"{r.headers.get('content-type')} {r.text[:300]}", file=sys.stderr)
    print(f"fuzz: {len(REGRESSIONS)} regression cases replayed, {failures} failed")
    return failures


def config(state: dict[str, str], report: Path, only: str | None) -> str:
    """The schemathesis configuration: the main run (`only` None) or the run of one end operation."""
    if only is None:
        ops = "".join(f'\n[[operations]]\ninclude-name = "{name}"\nenabled = false\n' for name in END_RUN)
    else:
        ops = ""
    return f"""
seed = {SEED}
continue-on-failure = true
suppress-health-check = ["all"]
workers = 1

[cache]
enabled = false

[generation]
max-examples = {MAX_EXAMPLES if only is None else END_EXAMPLES}
database = "none"

[checks]
enabled = true
# Schema-valid input that breaks a rule JSON Schema cannot say (an end before its start, a
# month 13, a name of control characters, a policy that could never match...) is refused with
# 422 `validation-failed`: an answer the document lists. Every other refusal of valid data fails.
positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]

[phases.stateful]
enabled = false

[auth.openapi.session]
bearer = "{state['session']}"
[auth.openapi.apiToken]
bearer = "{state['api_token']}"
[auth.openapi.runUserSession]
bearer = "{state['run_session']}"

[parameters]
"path.pid" = "{state['pid']}"
"path.uid" = "{state['uid']}"
"path.id" = "{state['id']}"
"path.tid" = "{state['tid']}"
"path.aid" = "{state['aid']}"
"path.iid" = "{state['iid']}"

[reports]
directory = "{report}"
[reports.junit]
enabled = true

# The limits are fuzzed on a profile of their own: a limit of 0 would refuse the rest of the run.
[[operations]]
include-name = "PUT /v1/profiles/{{pid}}/limits"
parameters = {{ "path.pid" = "{state['limits_pid']}" }}

# A paging cursor is opaque and tamper-evident: one the server did not hand out is 400
# `invalid-cursor` (documented), whatever its shape.
[[operations]]
include-name = "GET /v1/profiles/{{pid}}/run/users"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "422", "429"]
{ops}"""


def run_schemathesis(base: str, state: dict[str, str], log_dir: Path, work: Path, only: str | None) -> tuple[int, int]:
    name = "main" if only is None else "end-" + re.sub(r"[^a-z]+", "-", only.lower()).strip("-")
    report = log_dir / f"fuzz-{name}"
    cfg = work / f"schemathesis-{name}.toml"
    cfg.write_text(config(state, report, only))
    args = [str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(cfg), "--no-color",
            "run", str(SCHEMA), "--url", base]
    if only is not None:
        args += ["--include-name", only]
    out_path = log_dir / f"fuzz-{name}.log"
    with open(out_path, "w") as out:
        rc = subprocess.call(args, stdout=out, stderr=subprocess.STDOUT, cwd=work)
    text = out_path.read_text()
    m = re.search(r"Test cases:\s*\n\s*(\d+) generated", text)
    cases = int(m.group(1)) if m else 0
    print(f"fuzz: {name}: schemathesis exit {rc}, {cases} cases (log {out_path})")
    if rc != 0:
        start = text.find("FAILURES")
        print(text[start - 40 if start > 0 else -4000:], file=sys.stderr)
    return rc, cases


def main() -> int:
    if len(sys.argv) != 3:
        die("usage: fuzz.py <tenantry-local binary> <log dir>")
    binary, log_dir = sys.argv[1], Path(sys.argv[2]).resolve()
    log_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="tenantry-fuzz-"))
    started = time.monotonic()
    proc, base = start_server(binary, log_dir, work / "data")
    failed = 0
    total = 0
    try:
        api = Api(base)
        state = prepare(api, work / "data")
        failed += replay_regressions(base, state)
        for only in [None, *END_RUN]:
            rc, cases = run_schemathesis(base, state, log_dir, work, only)
            failed += rc != 0
            total += cases
    finally:
        stop_server(proc)
        shutil.rmtree(work, ignore_errors=True)
    print(f"fuzz: {total} schemathesis cases run in {time.monotonic() - started:.0f} s")
    if total < 1000:
        print("fuzz: fewer than 1,000 cases", file=sys.stderr)
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
