"""Property-based API fuzzing of the local server with schemathesis (issue 13).

Usage: python tests/fuzz/fuzz.py <tenantry-local binary> <log dir>

Starts the server on a free port with a fresh data dir (its output in <log dir>/fuzz-server.log),
prepares state through the real HTTP API (a verified owner with a login session, a full API
token, run users with tags and a run-user session, policies, team members, invitations, scratch
profiles), replays the cases earlier fuzz runs found (`DOCUMENTED` and `replay_regressions`),
then runs schemathesis over docs/openapi.json with every check on (plus the one in hooks.py), a
fixed seed and the bearer schemes bound to the prepared tokens. Prints the cases run; exits
non-zero on any failure, on fewer than 1,000 cases, or if the server died on the way.

The runs, in order (a few operations end the fuzzer's own credentials):
  1. main: every operation but those of `END_RUN`, path parameters bound to prepared objects.
     Each deleting operation gets an object of its own, and what would change the rest of the
     run (limits, sign-up settings, resource catalogue) works on scratch profiles.
  2. unbound: the same operations with path parameters left to the fuzzer (malformed ids,
     strangers' ids).
  3. one run per operation of `END_RUN` (`DELETE /v1/account`, `POST /v1/run/logout`,
     `POST /v1/logout`): each may revoke the credentials the later ones use.
Knobs: FUZZ_SEED, FUZZ_MAX_EXAMPLES (main run, per operation), FUZZ_UNBOUND_EXAMPLES.
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
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "docs" / "openapi.json"
SEED = int(os.environ.get("FUZZ_SEED", "20261113"))
# Examples per operation in the main run; with the coverage phase the run exceeds 1,000 cases.
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "25"))
PASSWORD = "fuzz-Passw0rd-long-enough"
WRONG_PASSWORD = "not the password"
# Fuzzed last, one after the other, in this order: each may end credentials the next ones use.
END_RUN = ["DELETE /v1/account", "POST /v1/run/logout", "POST /v1/logout"]
END_EXAMPLES = 10
# Examples per operation in the run with the path parameters left to the fuzzer.
UNBOUND_EXAMPLES = int(os.environ.get("FUZZ_UNBOUND_EXAMPLES", "5"))


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
    """Objects for every path parameter. Each deleting operation gets an object of its own (so
    the others keep reaching a live one), and the operations that would change what the rest
    of the run relies on (limits, sign-up settings, the resource catalogue) work on a second,
    scratch profile."""
    owner, session = sign_up(api, data_dir, "owner@fuzz.example", "Fuzz Owner")
    pid = api.call("GET", "/v1/profiles", token=session)["profiles"][0]["id"]
    scratch = api.call("POST", "/v1/profiles", {"name": "Scratch"}, token=session, expect=201)["id"]
    limits = api.call("POST", "/v1/profiles", {"name": "Limits"}, token=session, expect=201)["id"]
    p = f"/v1/profiles/{pid}"

    def token(name: str, permission: str) -> dict:
        return api.call(
            "POST", f"{p}/tokens",
            {"name": name, "permission": permission, "expires_in": "1 day", "password": PASSWORD},
            token=session, expect=201,
        )

    def run_user(address: str, tags: list[dict]) -> str:
        return api.call(
            "POST", f"{p}/run/users",
            {"email": address, "name": address.split("@")[0], "password": PASSWORD, "tags": tags},
            token=session, expect=201,
        )["id"]

    def policy(name: str) -> str:
        return api.call(
            "POST", f"{p}/policies",
            {"name": name, "targets": [{"tag": {"key": "team", "value": "blue"}}],
             "permissions": [{"effect": "allow", "actions": ["access"], "resources": [{"type": "device"}]}]},
            token=session, expect=201,
        )["id"]

    def invite(profile: str, address: str) -> str:
        return api.call("POST", f"/v1/profiles/{profile}/team", {"email": address}, token=session, expect=201)["id"]

    api_token = token("fuzz", "full")["token"]
    tid = token("fuzz-revocable", "read")["id"]
    run_user("holder@fuzz.example", [{"key": "team", "value": "blue"}, {"key": "plan", "value": "pro"}])
    uid = run_user("target@fuzz.example", [{"key": "team", "value": "red"}])
    uid_deleted = run_user("deleted@fuzz.example", [{"key": "team", "value": "blue"}])
    run_session = api.call("POST", f"{p}/run/login", {"email": "holder@fuzz.example", "password": PASSWORD})["token"]
    policy_id, policy_deleted = policy("blue devices"), policy("deleted")
    api.call(
        "PUT", f"{p}/run/settings",
        {"signup_enabled": True, "fields": [{"key": "team", "label": "Team", "type": "text"}]},
        token=session,
    )
    # Two members (one to remove), a pending invitation to resend, one to revoke, and one (from
    # the scratch profile) for its invitee to accept or decline.
    members = []
    for address in ("member@fuzz.example", "leaver@fuzz.example"):
        account, member_session = sign_up(api, data_dir, address, address.split("@")[0])
        api.call("POST", f"/v1/invitations/{invite(pid, address)}/accept", {}, token=member_session)
        members.append(account["id"])
    _, invitee_session = sign_up(api, data_dir, "invitee@fuzz.example", "Fuzz Invitee")
    _, revoked_session = sign_up(api, data_dir, "revoked@fuzz.example", "Fuzz Revoked")
    return {
        "session": session,
        "api_token": api_token,
        "run_session": run_session,
        "invitee_session": invitee_session,
        "pid": pid,
        "scratch_pid": scratch,
        "limits_pid": limits,
        "uid": uid,
        "uid_deleted": uid_deleted,
        "id": policy_id,
        "id_deleted": policy_deleted,
        "tid": tid,
        "aid": members[0],
        "aid_deleted": members[1],
        "iid": invite(pid, "invitee@fuzz.example"),
        "iid_revoked": invite(pid, "revoked@fuzz.example"),
        "iid_answered": invite(scratch, "invitee@fuzz.example"),
    }


# Failures found by earlier fuzz runs, kept as cases replayed before every fuzz run (so they stay
# fixed whatever the seed or the schemathesis version): each status the document must list for
# an operation, and how to make the server answer it.
DOCUMENTED = [
    # The re-entered password is throttled like a login (too-many-attempts).
    ("DELETE", "/v1/profiles/{pid}", "429"),
    ("POST", "/v1/profiles/{pid}/tokens", "429"),
    # Invitations sent per profile an hour (too-many-attempts); a resend counts as one.
    ("POST", "/v1/profiles/{pid}/invitations/{iid}/resend", "429"),
    ("POST", "/v1/profiles/{pid}/team", "429"),
]


def replay_regressions(api: Api, data_dir: Path) -> int:
    """Replays the cases in `DOCUMENTED` with an account of their own (its throttles and
    quotas are spent here, not the fuzz run's): returns how many failed."""
    document = json.loads(SCHEMA.read_text())
    failures = [
        f"{method} {path} does not document {status}"
        for method, path, status in DOCUMENTED
        if status not in document["paths"][path][method.lower()]["responses"]
    ]

    def expect_problem(r: requests.Response, status: int, kind: str, what: str) -> None:
        ctype = r.headers.get("content-type", "")
        body = r.json() if "json" in ctype else {}
        if r.status_code != status or not ctype.startswith("application/problem+json") or body.get("type") != kind:
            failures.append(f"{what}: {r.status_code} {ctype} {r.text[:200]}")

    _, session = sign_up(api, data_dir, "throttled@fuzz.example", "Throttled")
    auth = {"Authorization": f"Bearer {session}"}
    pid = api.call("GET", "/v1/profiles", token=session)["profiles"][0]["id"]
    p = f"{api.base}/v1/profiles/{pid}"
    for _ in range(11):
        r = api.http.delete(p, json={"password": WRONG_PASSWORD}, headers=auth, timeout=30)
    expect_problem(r, 429, "too-many-attempts", "DELETE /v1/profiles/{pid} after 11 wrong passwords")
    r = api.http.post(f"{p}/tokens", json={"name": "t", "permission": "read", "expires_in": "1 day",
                                           "password": WRONG_PASSWORD}, headers=auth, timeout=30)
    expect_problem(r, 429, "too-many-attempts", "POST /v1/profiles/{pid}/tokens after 11 wrong passwords")
    sign_up(api, data_dir, "resent@fuzz.example", "Resent")
    iid = api.call("POST", f"/v1/profiles/{pid}/team", {"email": "resent@fuzz.example"}, token=session, expect=201)["id"]
    for _ in range(20):
        r = api.http.post(f"{p}/invitations/{iid}/resend", headers=auth, timeout=30)
    expect_problem(r, 429, "too-many-attempts", "the 20th resend of an invitation within the hour")
    r = api.http.post(f"{p}/team", json={"email": "owner@fuzz.example"}, headers=auth, timeout=30)
    expect_problem(r, 429, "too-many-attempts", "an invitation past 20 within the hour")
    # A path id that is not UTF-8 once percent-decoded was a 500.
    for method, path in [("GET", f"/v1/profiles/%FF/run/settings"), ("POST", "/v1/invitations/%FF/accept"),
                         ("GET", f"/v1/profiles/{pid}/run/users/%C3%28")]:
        r = api.http.request(method, api.base + path, headers=auth, timeout=30)
        expect_problem(r, 400, "invalid-id", f"{method} {path}")
    # JSON Schema reads 3.0 as the integer 3: it was refused as `invalid-body`.
    r = api.http.put(f"{p}/limits", json={"emails": 3.0}, headers=auth, timeout=30)
    if r.status_code != 200 or r.json().get("limits", {}).get("emails") != 3:
        failures.append(f"PUT /v1/profiles/{{pid}}/limits {{\"emails\": 3.0}}: {r.status_code} {r.text[:200]}")
    for failure in failures:
        print(f"fuzz: regression: {failure}", file=sys.stderr)
    print(f"fuzz: {len(DOCUMENTED)} documented statuses and 8 regression requests checked, {len(failures)} failed")
    return len(failures)


def config(state: dict[str, str], report: Path, only: str | None, bind: bool) -> str:
    """The schemathesis configuration: a run of every operation but `END_RUN` (`only` None), or
    of one end operation; with the path parameters bound to the prepared objects, or left to the
    fuzzer (`bind` false: malformed ids, strangers' ids)."""
    if only is None:
        ops = "".join(f'\n[[operations]]\ninclude-name = "{name}"\nenabled = false\n' for name in END_RUN)
    else:
        ops = ""
    if bind:
        ops = bound(state) + ops
    examples = END_EXAMPLES if only is not None else MAX_EXAMPLES if bind else UNBOUND_EXAMPLES
    return f"""
seed = {SEED}
continue-on-failure = true
suppress-health-check = ["all"]
workers = 1
hooks = "{Path(__file__).resolve().parent / 'hooks.py'}"

[cache]
enabled = false

[generation]
max-examples = {examples}
database = "none"

[checks]
enabled = true
# Schema-valid input that breaks a rule JSON Schema cannot say (an end before its start, a
# month 13, a name of control characters, a policy that could never match...) is refused with
# 422 `validation-failed`: an answer the document lists. Every other refusal of valid data fails,
# and so does a 422 `invalid-body` (the check in hooks.py).
positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]

[phases.stateful]
enabled = false

[auth.openapi.session]
bearer = "{state['session']}"
[auth.openapi.apiToken]
bearer = "{state['api_token']}"
[auth.openapi.runUserSession]
bearer = "{state['run_session']}"

[reports]
directory = "{report}"
[reports.junit]
enabled = true

# A paging cursor is opaque and tamper-evident: one the server did not hand out is 400
# `invalid-cursor` (documented), whatever its shape.
[[operations]]
include-name = "GET /v1/profiles/{{pid}}/run/users"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "422", "429"]
{ops}"""


def bound(state: dict[str, str]) -> str:
    """Path parameters bound to the prepared objects (a TOML fragment)."""
    return f"""
[parameters]
"path.pid" = "{state['pid']}"
"path.uid" = "{state['uid']}"
"path.id" = "{state['id']}"
"path.tid" = "{state['tid']}"
"path.aid" = "{state['aid']}"
"path.iid" = "{state['iid']}"

# What would change the rest of the run (a limit of 0, sign-up turned off, an empty resource
# catalogue) is fuzzed on scratch profiles: the limits on one, the rest on another (where a
# fuzzed limit of 0 would refuse them).
[[operations]]
include-name = ["PUT /v1/profiles/{{pid}}/run/settings", "PUT /v1/profiles/{{pid}}/resource-types"]
parameters = {{ "path.pid" = "{state['scratch_pid']}" }}
[[operations]]
include-name = "PUT /v1/profiles/{{pid}}/limits"
parameters = {{ "path.pid" = "{state['limits_pid']}" }}

# Deletions get objects of their own.
[[operations]]
include-name = "DELETE /v1/profiles/{{pid}}/run/users/{{uid}}"
parameters = {{ "path.uid" = "{state['uid_deleted']}" }}
[[operations]]
include-name = "DELETE /v1/profiles/{{pid}}/policies/{{id}}"
parameters = {{ "path.id" = "{state['id_deleted']}" }}
[[operations]]
include-name = "DELETE /v1/profiles/{{pid}}/team/{{aid}}"
parameters = {{ "path.aid" = "{state['aid_deleted']}" }}
[[operations]]
include-name = "DELETE /v1/profiles/{{pid}}/invitations/{{iid}}"
parameters = {{ "path.iid" = "{state['iid_revoked']}" }}

# An invitation is answered by its invitee.
[[operations]]
include-name = ["POST /v1/invitations/{{iid}}/accept", "POST /v1/invitations/{{iid}}/decline"]
parameters = {{ "path.iid" = "{state['iid_answered']}" }}
headers = {{ Authorization = "Bearer {state['invitee_session']}" }}

"""


def run_schemathesis(
    base: str, state: dict[str, str], log_dir: Path, work: Path, only: str | None, bind: bool
) -> tuple[int, int]:
    if only is None:
        name = "main" if bind else "unbound"
    else:
        name = "end-" + re.sub(r"[^a-z]+", "-", only.lower()).strip("-")
    report = log_dir / f"fuzz-{name}"
    cfg = work / f"schemathesis-{name}.toml"
    cfg.write_text(config(state, report, only, bind))
    args = [str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(cfg), "--no-color",
            "run", str(SCHEMA), "--url", base]
    if only is not None:
        args += ["--include-name", only]
    out_path = log_dir / f"fuzz-{name}.log"
    with open(out_path, "w") as out:
        # No __pycache__ left beside hooks.py in the work tree.
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        rc = subprocess.call(args, stdout=out, stderr=subprocess.STDOUT, cwd=work, env=env)
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
    # The passwords this run sends, for the test command's log scan (scripts/logscan.py).
    (log_dir / "secrets").mkdir(exist_ok=True)
    (log_dir / "secrets" / "fuzz.txt").write_text(f"{PASSWORD}\n{WRONG_PASSWORD}\n")
    work = Path(tempfile.mkdtemp(prefix="tenantry-fuzz-"))
    started = time.monotonic()
    proc, base = start_server(binary, log_dir, work / "data")
    failed = 0
    total = 0
    try:
        api = Api(base)
        state = prepare(api, work / "data")
        failed += replay_regressions(api, work / "data")
        runs = [(None, True), (None, False), *((only, True) for only in END_RUN)]
        for only, bind in runs:
            rc, cases = run_schemathesis(base, state, log_dir, work, only, bind)
            failed += rc != 0
            total += cases
        if proc.poll() is not None:
            print(f"fuzz: the server died during the run (exit {proc.returncode})", file=sys.stderr)
            failed += 1
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
