#!/usr/bin/env python3
"""The test command's secret scan: reads every log line the test run produced and fails on any
line that holds a secret.

    scripts/logscan.py LOG_DIR

What is read: every file under LOG_DIR (`target/test-logs`), at any depth: the app's JSON lines
of every test binary (`app/`, both adapters), the local servers the tests and the fuzz run start
(`local-server/`, `fuzz/`), the output of `cargo test`, the fault proxy. What is not: the password
list itself (`secrets/`), and the logs of the tools we did not write and that see every request by
design (DynamoDB Local, the SES emulator, apt, pip: `IGNORED_FILES`; schemathesis's output and
reports, `fuzz-*` but `fuzz-server.log`).

What is a hit:
  - any password the tests sent (the lists under `secrets/`, written by tenantry_tests::logs and
    the fuzz driver);
  - a session, API-token, run-user or link secret: `tny` + one kind letter + `_` + 43 or more
    base64url characters (`shared::secrets`);
  - an argon2id hash (`$argon2id$`);
  - an `Authorization` header value: `Bearer <something>` or `"authorization": "<something>"`.

Prints the files and lines read and every hit (the secret masked); exits 1 on any hit, and also
when it read nothing or found no password list (a scan of nothing proves nothing).
"""

import os
import re
import sys

IGNORED_FILES = {"dynamodb-local.log", "ses-local.log", "apt.log", "venv.log"}
SECRETS_DIR = "secrets"

PATTERNS = [
    ("secret", re.compile(r"tny[sprivw]_[A-Za-z0-9_-]{43,}")),
    ("argon2 hash", re.compile(r"\$argon2id\$")),
    ("bearer value", re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}")),
    ("authorization value", re.compile(r"""(?i)["']?authorization["']?\s*[:=]\s*["']?[^\s"',}]{4,}""")),
]


def is_fuzz_tool_output(name):
    """schemathesis's own output (`fuzz-main.log`, its reports): it prints the requests of a
    failing case, credentials included, by design; the fuzzed server's log is ours and read."""
    return name.startswith("fuzz-") and name != "fuzz-server.log"


def passwords(log_dir):
    found = set()
    directory = os.path.join(log_dir, SECRETS_DIR)
    if not os.path.isdir(directory):
        return found
    for name in os.listdir(directory):
        with open(os.path.join(directory, name), encoding="utf-8", errors="replace") as f:
            found.update(line.rstrip("\n") for line in f if line.strip())
    return found


def mask(text, start, end):
    return text[:start] + "«" + text[start : start + 4] + "…»" + text[end:]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: logscan.py LOG_DIR")
    log_dir = sys.argv[1]
    known = sorted(passwords(log_dir), key=len, reverse=True)
    files = lines = 0
    hits = []
    for root, dirs, names in os.walk(log_dir):
        dirs[:] = [
            d for d in dirs if not (root == log_dir and (d == SECRETS_DIR or is_fuzz_tool_output(d)))
        ]
        for name in sorted(names):
            if root == log_dir and (name in IGNORED_FILES or is_fuzz_tool_output(name)):
                continue
            path = os.path.join(root, name)
            files += 1
            with open(path, encoding="utf-8", errors="replace") as f:
                for number, line in enumerate(f, 1):
                    lines += 1
                    line = line.rstrip("\n")
                    for password in known:
                        at = line.find(password)
                        if at >= 0:
                            hits.append((path, number, "password", mask(line, at, at + len(password))))
                            break
                    for kind, pattern in PATTERNS:
                        match = pattern.search(line)
                        if match:
                            hits.append((path, number, kind, mask(line, match.start(), match.end())))
    print(
        f"[logscan] {files} files, {lines} lines read under {log_dir}; "
        f"{len(known)} passwords listed; {len(hits)} hits"
    )
    for path, number, kind, line in hits[:50]:
        print(f"[logscan] HIT {kind}: {os.path.relpath(path, log_dir)}:{number}: {line[:300]}")
    if len(hits) > 50:
        print(f"[logscan] … and {len(hits) - 50} more")
    if lines == 0:
        print("[logscan] FAILED: no log line to read (did the tests write their logs?)")
        return 1
    if not known:
        print("[logscan] FAILED: no password list under secrets/ (did the tests list theirs?)")
        return 1
    return 1 if hits else 0


if __name__ == "__main__":
    sys.exit(main())
