#!/usr/bin/env python3
"""Offline checks of infra/template.yaml: no AWS credentials, no network.

1. Structure: every AWS::Serverless::Function builds with rust-cargolambda from the workspace root
   (CodeUri resolves to the directory holding the workspace Cargo.toml) and names, as
   BuildProperties.Binary, a binary that a workspace member actually defines.
2. Translation: SAM -> CloudFormation with aws-sam-translator (region us-east-1, an empty
   managed-policy map instead of IAM look-ups, local CodeUri replaced by a placeholder S3 URI as
   `sam package` would). The result is written to target/template-check/template.cfn.json.
3. Lint: cfn-lint on the SAM template and on the translated template. Errors fail; warnings and
   informational findings are printed but do not fail.
4. Log levels: no function may log at DEBUG or TRACE (the Lambda runtime then logs raw events,
   Authorization headers and passwords): every ApplicationLogLevel / SystemLogLevel, literal or
   through a parameter (its Default and every AllowedValue), is INFO, WARN or ERROR, and no
   RUST_LOG / AWS_LAMBDA_LOG_LEVEL variable names debug or trace.
5. Operations (issue 16): one named check per item an operator needs (alarms and their topic, the
   runbook, route throttling, access logs, a log group per function, the stream mapping's filter
   and retries, the table's deletion protection, e-mail parameters without placeholders,
   samconfig's dev and prod, memory sizes, tracing, the prod canary, the README's deploy walk),
   over every function found in the template. Then a self-test: each item is taken out of a copy
   (template, samconfig.toml, README.md or docs/RUNBOOK.md) and its check must fail.

Run with the project's venv: `.venv/bin/python infra/check_template.py [TEMPLATE]` (scripts/test.sh
does; TEMPLATE defaults to infra/template.yaml, a relative CodeUri is resolved from its folder).
Exit code 0 = all good, 1 = a check failed.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import os
import subprocess
import sys
import tomllib
from pathlib import Path

# No credentials, no network: pin a region and make sure no real profile is picked up.
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ["AWS_REGION"] = "us-east-1"
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

import boto3  # noqa: E402  (installed with aws-sam-translator)
from samtranslator.model.exceptions import InvalidDocumentException  # noqa: E402
from samtranslator.parser.parser import Parser  # noqa: E402
from samtranslator.translator.translator import Translator  # noqa: E402
from samtranslator.yaml_helper import yaml_parse  # noqa: E402

# The translator warns, when collected, that it recorded usage metrics nobody published.
logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)
# ... and, for a DeploymentPreference without PassthroughCondition, that it has no feature toggles.
logging.getLogger("samtranslator.feature_toggle.feature_toggle").setLevel(logging.ERROR)

INFRA = Path(__file__).resolve().parent
ROOT = INFRA.parent
TEMPLATE = INFRA / "template.yaml"
OUT_DIR = ROOT / "target" / "template-check"
REGION = "us-east-1"

errors: list[str] = []


def fail(msg: str) -> None:
    errors.append(msg)
    print(f"  ERROR: {msg}")


def workspace_binaries() -> dict[str, Path]:
    """Binary name -> crate dir, for every member of the workspace."""
    ws = tomllib.loads((ROOT / "Cargo.toml").read_text())
    bins: dict[str, Path] = {}
    for member in ws.get("workspace", {}).get("members", []):
        for crate_dir in sorted(ROOT.glob(member)):
            manifest = crate_dir / "Cargo.toml"
            if not manifest.is_file():
                continue
            pkg = tomllib.loads(manifest.read_text())
            explicit = pkg.get("bin", [])
            for b in explicit:
                if "name" in b:
                    bins[b["name"]] = crate_dir
            # Cargo's implicit binary: src/main.rs named after the package.
            name = pkg.get("package", {}).get("name")
            if name and (crate_dir / "src" / "main.rs").is_file():
                autobins = pkg.get("package", {}).get("autobins", True)
                if autobins or not explicit:
                    bins.setdefault(name, crate_dir)
    return bins


def check_structure(template: dict) -> None:
    print("== structure: functions build from the workspace root with cargo-lambda")
    bins = workspace_binaries()
    global_code_uri = template.get("Globals", {}).get("Function", {}).get("CodeUri")
    functions = {
        name: res
        for name, res in template.get("Resources", {}).items()
        if res.get("Type") == "AWS::Serverless::Function"
    }
    if not functions:
        fail("no AWS::Serverless::Function in the template")
    for name, res in functions.items():
        props = res.get("Properties", {})
        code_uri = props.get("CodeUri", global_code_uri)
        if not isinstance(code_uri, str):
            fail(f"{name}: CodeUri must be a local path (the workspace root), got {code_uri!r}")
        else:
            code_dir = (TEMPLATE.parent / code_uri).resolve()
            if code_dir != ROOT:
                fail(f"{name}: CodeUri {code_uri!r} resolves to {code_dir}, not the workspace root {ROOT}")
        meta = res.get("Metadata", {})
        if meta.get("BuildMethod") != "rust-cargolambda":
            fail(f"{name}: Metadata.BuildMethod must be rust-cargolambda")
        binary = meta.get("BuildProperties", {}).get("Binary")
        if not binary:
            fail(f"{name}: Metadata.BuildProperties.Binary is missing")
        elif binary not in bins:
            fail(f"{name}: binary {binary!r} is not built by any workspace member (known: {sorted(bins)})")
        else:
            print(f"  {name}: binary {binary} from {bins[binary].relative_to(ROOT)}")


SAFE_LEVELS = {"INFO", "WARN", "ERROR"}
LOG_LEVEL_VARIABLES = ("RUST_LOG", "AWS_LAMBDA_LOG_LEVEL")


def possible_values(template: dict, value) -> tuple[list, str]:
    """Every value `value` can take: itself, or a parameter's Default and AllowedValues (an
    unrestricted parameter can take anything: reported as None)."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        name = value["Ref"]
        param = template.get("Parameters", {}).get(name)
        if param is None:
            return [value], f"!Ref {name}"
        allowed = param.get("AllowedValues")
        values = list(allowed) if allowed else [None]
        if "Default" in param:
            values.append(param["Default"])
        return values, f"parameter {name}"
    return [value], "literal"


def check_log_levels(template: dict) -> None:
    print("== log levels: nothing can log below INFO (raw events carry secrets)")
    before = len(errors)
    configs: list[tuple[str, dict]] = []
    glob_fn = template.get("Globals", {}).get("Function", {})
    configs.append(("Globals.Function", glob_fn))
    for name, res in template.get("Resources", {}).items():
        if res.get("Type") in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            configs.append((name, res.get("Properties", {})))
    for where, props in configs:
        logging = props.get("LoggingConfig", {}) or {}
        for field in ("ApplicationLogLevel", "SystemLogLevel"):
            if field not in logging:
                continue
            values, source = possible_values(template, logging[field])
            for value in values:
                if value is None:
                    fail(f"{where}: LoggingConfig.{field} comes from {source}, which has no AllowedValues")
                elif not isinstance(value, str) or value.upper() not in SAFE_LEVELS:
                    fail(f"{where}: LoggingConfig.{field} may be {value!r} ({source}); only {sorted(SAFE_LEVELS)} are allowed")
        variables = (props.get("Environment", {}) or {}).get("Variables", {}) or {}
        for var in LOG_LEVEL_VARIABLES:
            if var not in variables:
                continue
            values, source = possible_values(template, variables[var])
            for value in values:
                text = str(value).lower() if value is not None else None
                if text is None or "debug" in text or "trace" in text:
                    fail(f"{where}: {var} may be {value!r} ({source}); debug and trace log secrets")
    if len(errors) == before:
        print("  ok: INFO and above only")


def with_placeholder_code_uris(template: dict) -> dict:
    """What `sam package` does: local CodeUri -> an S3 URI (here a placeholder)."""
    t = copy.deepcopy(template)
    glob_fn = t.get("Globals", {}).get("Function", {})
    if isinstance(glob_fn.get("CodeUri"), str) and not glob_fn["CodeUri"].startswith("s3://"):
        glob_fn["CodeUri"] = "s3://placeholder-bucket/code.zip"
    for name, res in t.get("Resources", {}).items():
        if res.get("Type") in ("AWS::Serverless::Function", "AWS::Serverless::LayerVersion"):
            props = res.setdefault("Properties", {})
            for key in ("CodeUri", "ContentUri"):
                if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                    props[key] = f"s3://placeholder-bucket/{name}.zip"
    return t


def translate(template: dict) -> dict | None:
    print(f"== translate: aws-sam-translator, offline, region {REGION}")
    translator = Translator(
        managed_policy_map={},
        sam_parser=Parser(),
        boto_session=boto3.Session(region_name=REGION),
    )
    try:
        cfn = translator.translate(
            with_placeholder_code_uris(template),
            parameter_values={},
            get_managed_policy_map=lambda: {},
        )
    except InvalidDocumentException as e:
        for cause in e.causes:
            fail(f"SAM translation: {cause.message}")
        return None
    except Exception as e:  # noqa: BLE001  (any translator crash is a failed check)
        fail(f"SAM translation crashed: {type(e).__name__}: {e}")
        return None
    kinds: dict[str, int] = {}
    for res in cfn.get("Resources", {}).values():
        kinds[res["Type"]] = kinds.get(res["Type"], 0) + 1
    print(f"  ok: {sum(kinds.values())} resources ({', '.join(f'{v} {k}' for k, v in sorted(kinds.items()))})")
    return cfn


def cfn_lint(path: Path, label: str) -> None:
    print(f"== cfn-lint {label}: {path.relative_to(ROOT)}")
    # The venv's own cfn-lint (next to this interpreter), never a shim from PATH.
    cfn_lint_bin = Path(sys.executable).parent / "cfn-lint"
    cmd = [str(cfn_lint_bin), "--regions", REGION, "--format", "parseable", "--", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    out = (proc.stdout + proc.stderr).strip()
    n_err = n_warn = n_info = 0
    for line in out.splitlines():
        # parseable: file:line:col:endline:endcol:RULE:message ; rule E/W/I....
        parts = line.split(":", 6)
        rule = parts[5] if len(parts) >= 7 else ""
        if rule.startswith("E"):
            n_err += 1
        elif rule.startswith("W"):
            n_warn += 1
        elif rule.startswith("I"):
            n_info += 1
        print(f"  {line}")
    # cfn-lint's exit code is a bit mask: 2 = errors, 4 = warnings, 8 = informational; 1 = crash.
    if proc.returncode & 1 or proc.returncode & 2 or n_err:
        fail(f"cfn-lint {label}: {n_err} error(s) (exit code {proc.returncode})")
    else:
        print(f"  ok: 0 errors, {n_warn} warning(s), {n_info} informational")


# ---------------------------------------------------------------------------------------------
# Operations (issue 16). One named check per item an operator needs on the first bad day; each
# returns its problems (empty: the item is there), so that `self_test` can take the item out of a
# copy and see its check fail. The checks look at every function found in the template: a new
# function cannot come without its log group, its alarms and its memory size.

RUNBOOK = ROOT / "docs" / "RUNBOOK.md"
README = ROOT / "README.md"
SAMCONFIG = ROOT / "samconfig.toml"
REPLAY_SCRIPT = ROOT / "scripts" / "replay_stream_failures.py"

# Routes that run argon2 without a session, or send e-mail to an address anyone may type: each
# must have route throttling tighter than the default (API Gateway route keys, "METHOD /path").
SENSITIVE_ROUTES = (
    "POST /v1/login",
    "POST /v1/accounts",
    "POST /v1/password-reset",
    "POST /v1/password-reset/confirm",
    "POST /v1/profiles/{pid}/run/login",
    "POST /v1/profiles/{pid}/run/signup",
    "POST /v1/profiles/{pid}/run/password-reset",
    "POST /v1/profiles/{pid}/run/password-reset/confirm",
)
# The function that hashes passwords on its hot path (argon2id, one core per hash): every route
# that hashes or verifies one (shared::http::PASSWORDS) but the two deletions.
HASHING_FUNCTIONS = ("passwords",)
ONE_VCPU_MB = 1769
# Operator-supplied e-mail parameters: no default, a pattern that refuses placeholders.
EMAIL_PARAMETERS = {
    "MailFrom": ("no-reply@mail.tenantry.dev", ["no-reply@example.com", "x@mail.example.org", "a"]),
    "SesIdentity": ("mail.tenantry.dev", ["example.com", "no-reply@example.com", "mail.example.net"]),
    "AlarmEmail": ("oncall@tenantry.dev", ["ops@example.com", "oncall"]),
}
# What one access-log line must carry ($context variables of HTTP APIs).
ACCESS_LOG_VARIABLES = {
    "request id": "$context.requestId",
    "source ip": "$context.identity.sourceIp",
    "route": "$context.routeKey",
    "status": "$context.status",
    "latency": "$context.responseLatency",
    "integration error": "$context.integrationErrorMessage",
}
ITERATOR_AGE_LIMIT_MS = 5 * 60 * 1000


class Ctx:
    """Everything the operations checks read: the parsed template, samconfig.toml, README and
    RUNBOOK texts (the self-test hands them altered copies)."""

    def __init__(self, template: dict, samconfig: dict, readme: str, runbook: str | None):
        self.template = template
        self.samconfig = samconfig
        self.readme = readme
        self.runbook = runbook

    def resources(self, *types: str) -> dict:
        return {k: r for k, r in self.template.get("Resources", {}).items() if r.get("Type") in types}

    def functions(self) -> dict:
        return self.resources("AWS::Serverless::Function", "AWS::Lambda::Function")

    def fn_prop(self, name: str, prop: str):
        """A function's property, or the Globals' (dictionaries merged as SAM merges them)."""
        own = self.template["Resources"][name].get("Properties", {}).get(prop)
        glob = self.template.get("Globals", {}).get("Function", {}).get(prop)
        if isinstance(own, dict) and isinstance(glob, dict):
            return {**glob, **own}
        return own if own is not None else glob

    def parameter(self, value) -> dict | None:
        target = ref(value)
        return self.template.get("Parameters", {}).get(target) if target else None

    def default(self, value):
        """A literal, or the Default of the parameter it refers to."""
        param = self.parameter(value)
        return param.get("Default") if param is not None else value

    def alarms(self) -> dict:
        return self.resources("AWS::CloudWatch::Alarm")


def ref(value) -> str | None:
    return value.get("Ref") if isinstance(value, dict) and set(value) == {"Ref"} else None


def get_att(value) -> tuple[str, str] | None:
    if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
        att = value["Fn::GetAtt"]
        parts = att.split(".", 1) if isinstance(att, str) else att
        if isinstance(parts, list) and len(parts) == 2:
            return parts[0], parts[1]
    return None


def binary_of(ctx: Ctx, name: str) -> str:
    return ctx.template["Resources"][name].get("Metadata", {}).get("BuildProperties", {}).get("Binary", name)


def alarms_on(ctx: Ctx, namespace: str, metric: str, dimension: str, matches) -> list[tuple[str, dict]]:
    """The single-metric alarms on `namespace`/`metric` whose `dimension` value satisfies `matches`."""
    found = []
    for name, alarm in ctx.alarms().items():
        props = alarm.get("Properties", {})
        if props.get("Namespace") != namespace or props.get("MetricName") != metric:
            continue
        for dim in props.get("Dimensions", []) or []:
            if dim.get("Name") == dimension and matches(dim.get("Value")):
                found.append((name, props))
    return found


def fires_above(props: dict, limit: float) -> bool:
    """Whether the alarm fires once its statistic passes `limit` (or earlier)."""
    op, threshold = props.get("ComparisonOperator"), props.get("Threshold")
    if not isinstance(threshold, (int, float)):
        return False
    if op == "GreaterThanThreshold":
        return threshold <= limit
    if op == "GreaterThanOrEqualToThreshold":
        return threshold <= limit + (1 if limit == 0 else 0)
    return False


def check_alarm_topic(ctx: Ctx) -> list[str]:
    problems = []
    topics = ctx.resources("AWS::SNS::Topic")
    subscribed = False
    for name, topic in topics.items():
        for sub in topic.get("Properties", {}).get("Subscription", []) or []:
            param = ctx.parameter(sub.get("Endpoint"))
            if sub.get("Protocol") == "email" and param is not None:
                subscribed = True
                if "Default" in param or "AllowedPattern" not in param:
                    problems.append(f"{name}: the e-mail parameter {ref(sub['Endpoint'])} must have no Default and an AllowedPattern")
    if not subscribed:
        problems.append("no SNS topic with an e-mail subscription whose Endpoint is a template parameter")
    for name, alarm in ctx.alarms().items():
        actions = alarm.get("Properties", {}).get("AlarmActions", []) or []
        if not any(ref(a) in topics for a in actions):
            problems.append(f"{name}: AlarmActions does not notify the alarm topic")
    return problems


def check_function_alarms(ctx: Ctx) -> list[str]:
    problems = []
    for name in ctx.functions():
        for metric in ("Errors", "Throttles"):
            found = alarms_on(ctx, "AWS/Lambda", metric, "FunctionName", lambda v, n=name: ref(v) == n)
            if not found:
                problems.append(f"{name}: no alarm on AWS/Lambda {metric} with FunctionName !Ref {name}")
            elif not any(fires_above(p, 0) for _, p in found):
                problems.append(f"{name}: the {metric} alarm must fire on the first one (> 0)")
    return problems


def check_stream_alarms(ctx: Ctx) -> list[str]:
    problems = []
    streams = 0
    for name in ctx.functions():
        events = ctx.template["Resources"][name].get("Properties", {}).get("Events", {}) or {}
        for event_name, event in events.items():
            if event.get("Type") not in ("DynamoDB", "Kinesis"):
                continue
            streams += 1
            props = event.get("Properties", {})
            found = alarms_on(ctx, "AWS/Lambda", "IteratorAge", "FunctionName", lambda v, n=name: ref(v) == n)
            if not any(p.get("Statistic") == "Maximum" and fires_above(p, ITERATOR_AGE_LIMIT_MS) for _, p in found):
                problems.append(f"{name}.Events.{event_name}: no alarm on IteratorAge (Maximum) above {ITERATOR_AGE_LIMIT_MS} ms")
            dest = get_att(props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination"))
            if dest is None:
                problems.append(f"{name}.Events.{event_name}: no on-failure destination (!GetAtt <Queue>.Arn)")
                continue
            queue = dest[0]
            found = alarms_on(ctx, "AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName",
                              lambda v, q=queue: get_att(v) == (q, "QueueName"))
            if not any(fires_above(p, 0) for _, p in found):
                problems.append(f"{queue}: no alarm on its visible messages (> 0)")
    if streams == 0:
        problems.append("no stream event at all (the notifications function reads the table's stream)")
    return problems


def check_api_5xx_alarm(ctx: Ctx) -> list[str]:
    problems = []
    for api in ctx.resources("AWS::Serverless::HttpApi"):
        ok = False
        for alarm in ctx.alarms().values():
            metrics = alarm.get("Properties", {}).get("Metrics", []) or []
            ids = {}
            for m in metrics:
                stat = m.get("MetricStat", {}).get("Metric", {})
                dims = stat.get("Dimensions", []) or []
                if stat.get("Namespace") == "AWS/ApiGateway" and any(
                    d.get("Name") == "ApiId" and ref(d.get("Value")) == api for d in dims
                ):
                    ids[stat.get("MetricName")] = m.get("Id")
            expressions = [m.get("Expression", "") for m in metrics if m.get("ReturnData", True)]
            if "5xx" in ids and "Count" in ids and any(
                ids["5xx"] in e and ids["Count"] in e and "/" in e for e in expressions
            ):
                ok = True
        if not ok:
            problems.append(f"{api}: no alarm on its 5xx rate (5xx / Count of AWS/ApiGateway by ApiId)")
    return problems


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors of a Markdown text."""
    out = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            title = "".join(c for c in title if c.isalnum() or c in " -_")
            out.add(title.replace(" ", "-"))
    return out


def check_runbook(ctx: Ctx) -> list[str]:
    if ctx.runbook is None:
        return [f"{RUNBOOK.relative_to(ROOT)} is missing"]
    problems = []
    known = anchors(ctx.runbook)
    for name, alarm in ctx.alarms().items():
        description = alarm.get("Properties", {}).get("AlarmDescription", "")
        link = next((w for w in str(description).split() if w.startswith("docs/RUNBOOK.md#")), None)
        if link is None:
            problems.append(f"{name}: its AlarmDescription must link its section (docs/RUNBOOK.md#...)")
        elif link.split("#", 1)[1] not in known:
            problems.append(f"{name}: {link} is not a heading of the runbook")
    if REPLAY_SCRIPT.name not in ctx.runbook or not REPLAY_SCRIPT.is_file():
        problems.append(f"the runbook must give the replay command ({REPLAY_SCRIPT.relative_to(ROOT)})")
    if "24 h" not in ctx.runbook:
        problems.append("the runbook must say that a replay works only within the stream's 24 h")
    return problems


def check_api_throttling(ctx: Ctx) -> list[str]:
    problems = []
    routes = set()
    for fn in ctx.functions().values():
        for event in (fn.get("Properties", {}).get("Events", {}) or {}).values():
            if event.get("Type") == "HttpApi":
                p = event.get("Properties", {})
                routes.add(f"{str(p.get('Method', '')).upper()} {p.get('Path')}")
    for api, res in ctx.resources("AWS::Serverless::HttpApi").items():
        props = res.get("Properties", {})
        default = props.get("DefaultRouteSettings", {}) or {}
        rate, burst = default.get("ThrottlingRateLimit"), default.get("ThrottlingBurstLimit")
        if not isinstance(rate, (int, float)) or not isinstance(burst, int):
            problems.append(f"{api}: DefaultRouteSettings needs ThrottlingRateLimit and ThrottlingBurstLimit")
            continue
        settings = props.get("RouteSettings", {}) or {}
        for key in settings:
            if key not in routes:
                problems.append(f"{api}: RouteSettings key {key!r} is no route of the template (the stage would not deploy)")
        for key in SENSITIVE_ROUTES:
            s = settings.get(key)
            if not s:
                problems.append(f"{api}: no RouteSettings for {key!r}")
                continue
            r, b = s.get("ThrottlingRateLimit"), s.get("ThrottlingBurstLimit")
            if not isinstance(r, (int, float)) or not isinstance(b, int) or r >= rate or b >= burst:
                problems.append(f"{api}: {key!r} must be throttled below the default ({rate}/s, burst {burst}), has {r}/s, burst {b}")
    return problems


def log_group_with_retention(ctx: Ctx, name: str | None, where: str) -> list[str]:
    groups = ctx.resources("AWS::Logs::LogGroup")
    if name not in groups:
        return [f"{where}: not a log group of the template ({name!r})"]
    props = groups[name].get("Properties", {})
    param = ctx.parameter(props.get("RetentionInDays"))
    if param is None or param.get("Default") != 30:
        return [f"{name}: RetentionInDays must be a parameter defaulting to 30"]
    if groups[name].get("DeletionPolicy") == "Retain":
        return [f"{name}: a log group must go with its stack (no DeletionPolicy Retain)"]
    return []


def check_access_logs(ctx: Ctx) -> list[str]:
    problems = []
    for api, res in ctx.resources("AWS::Serverless::HttpApi").items():
        settings = res.get("Properties", {}).get("AccessLogSettings")
        if not settings:
            problems.append(f"{api}: no AccessLogSettings")
            continue
        dest = get_att(settings.get("DestinationArn"))
        problems += log_group_with_retention(ctx, dest[0] if dest else None, f"{api}: AccessLogSettings.DestinationArn")
        fmt = settings.get("Format", "")
        try:
            line = json.loads(fmt)
        except (TypeError, ValueError):
            problems.append(f"{api}: the access log Format is not one JSON object")
            continue
        values = set(line.values()) if isinstance(line, dict) else set()
        for what, variable in ACCESS_LOG_VARIABLES.items():
            if variable not in values:
                problems.append(f"{api}: the access log lacks the {what} ({variable})")
    return problems


def check_function_log_groups(ctx: Ctx) -> list[str]:
    problems = []
    owners: dict[str, str] = {}
    for name in ctx.functions():
        logging = ctx.fn_prop(name, "LoggingConfig") or {}
        if logging.get("LogFormat") != "JSON":
            problems.append(f"{name}: LoggingConfig.LogFormat must be JSON")
        group = ref(logging.get("LogGroup"))
        if group is None:
            problems.append(f"{name}: LoggingConfig.LogGroup must be !Ref its own log group (else Lambda makes one that never expires)")
            continue
        problems += log_group_with_retention(ctx, group, f"{name}: LoggingConfig.LogGroup")
        if group in owners:
            problems.append(f"{name}: shares log group {group} with {owners[group]}")
        owners[group] = name
    return problems


def check_stream_mapping(ctx: Ctx) -> list[str]:
    problems = []
    for name in ctx.functions():
        events = ctx.template["Resources"][name].get("Properties", {}).get("Events", {}) or {}
        for event_name, event in events.items():
            if event.get("Type") != "DynamoDB":
                continue
            where = f"{name}.Events.{event_name}"
            p = event.get("Properties", {})
            filters = (p.get("FilterCriteria", {}) or {}).get("Filters", []) or []
            if not 1 <= len(filters) <= 5:
                problems.append(f"{where}: FilterCriteria needs 1 to 5 filters (has {len(filters)}); without, every write of the table runs the function")
            for i, f in enumerate(filters):
                try:
                    pattern = json.loads(f.get("Pattern", ""))
                    assert isinstance(pattern, dict) and pattern
                except (ValueError, TypeError, AssertionError):
                    problems.append(f"{where}: filter {i} is not a JSON object pattern")
            window = p.get("MaximumBatchingWindowInSeconds")
            if not isinstance(window, int) or not 1 <= window <= 300:
                problems.append(f"{where}: MaximumBatchingWindowInSeconds must be 1..300 (a batching window)")
            retries, age = p.get("MaximumRetryAttempts"), p.get("MaximumRecordAgeInSeconds")
            if not isinstance(retries, int) or not (retries == -1 or retries > 3):
                problems.append(f"{where}: MaximumRetryAttempts must be more than 3 (has {retries})")
            if not isinstance(age, int) or not 60 <= age <= 86400:
                problems.append(f"{where}: MaximumRecordAgeInSeconds must bound the retries (60..86400, has {age})")
            if p.get("BisectBatchOnFunctionError") is not True:
                problems.append(f"{where}: BisectBatchOnFunctionError must be true")
            if "ReportBatchItemFailures" not in (p.get("FunctionResponseTypes") or []):
                problems.append(f"{where}: FunctionResponseTypes must include ReportBatchItemFailures")
            dest = get_att(p.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination"))
            queue = ctx.template["Resources"].get(dest[0]) if dest else None
            if queue is None:
                problems.append(f"{where}: no on-failure queue of the template")
            elif queue.get("DeletionPolicy") != "Retain":
                problems.append(f"{dest[0]}: the failure queue needs DeletionPolicy: Retain")
    return problems


def check_table_protection(ctx: Ctx) -> list[str]:
    problems = []
    for name, table in ctx.resources("AWS::DynamoDB::Table").items():
        if table.get("Properties", {}).get("DeletionProtectionEnabled") is not True:
            problems.append(f"{name}: DeletionProtectionEnabled must be true")
        if table.get("DeletionPolicy") != "Retain":
            problems.append(f"{name}: DeletionPolicy must be Retain")
    return problems


def check_email_parameters(ctx: Ctx) -> list[str]:
    import re

    problems = []
    params = ctx.template.get("Parameters", {})
    for name, (good, placeholders) in EMAIL_PARAMETERS.items():
        param = params.get(name)
        if param is None:
            problems.append(f"parameter {name} is missing")
            continue
        if "Default" in param:
            problems.append(f"{name}: no Default (the operator names it; a placeholder deploys and then fails every send)")
        pattern = param.get("AllowedPattern")
        if not pattern:
            problems.append(f"{name}: needs an AllowedPattern")
            continue
        # CloudFormation matches the whole value (Java regex); Python's re agrees on these.
        if not re.fullmatch(pattern, good):
            problems.append(f"{name}: AllowedPattern refuses a real value ({good})")
        for bad in placeholders:
            if re.fullmatch(pattern, bad):
                problems.append(f"{name}: AllowedPattern lets the placeholder {bad!r} through")
    return problems


def overrides(env: dict) -> dict[str, str]:
    raw = env.get("deploy", {}).get("parameters", {}).get("parameter_overrides", [])
    items = raw.split() if isinstance(raw, str) else list(raw)
    return dict(item.split("=", 1) for item in items if "=" in item)


def check_samconfig(ctx: Ctx) -> list[str]:
    problems = []
    params = ctx.template.get("Parameters", {})
    stacks = set()
    for env in ("dev", "prod"):
        conf = ctx.samconfig.get(env)
        if not conf:
            problems.append(f"samconfig.toml has no [{env}.*] environment")
            continue
        deploy = conf.get("deploy", {}).get("parameters", {})
        if conf.get("build", {}).get("parameters", {}).get("template_file") != "infra/template.yaml":
            problems.append(f"samconfig.toml [{env}.build.parameters]: template_file must be infra/template.yaml")
        stack = deploy.get("stack_name")
        if not stack or stack in stacks:
            problems.append(f"samconfig.toml [{env}.deploy.parameters]: needs a stack_name of its own")
        stacks.add(stack)
        values = overrides(conf)
        if values.get("Stage") != env:
            problems.append(f"samconfig.toml [{env}]: parameter_overrides must set Stage={env}")
        for key in values:
            if key not in params:
                problems.append(f"samconfig.toml [{env}]: {key} is not a template parameter")
    for env, conf in ctx.samconfig.items():
        if not isinstance(conf, dict):
            continue
        for key, value in overrides(conf).items():
            if key in EMAIL_PARAMETERS or "example." in value:
                problems.append(f"samconfig.toml [{env}]: {key}={value} (the operator supplies e-mail settings; no placeholders)")
    return problems


def readme_deploy(readme: str) -> str:
    start = readme.find("\n## Deploy")
    if start < 0:
        return ""
    end = readme.find("\n## ", start + 1)
    return readme[start : end if end > 0 else len(readme)]


def check_memory_sizes(ctx: Ctx) -> list[str]:
    problems = []
    sizes: dict[str, int] = {}
    for name in ctx.functions():
        size = ctx.default(ctx.fn_prop(name, "MemorySize"))
        if not isinstance(size, int):
            problems.append(f"{name}: no MemorySize (literal or a parameter with a Default)")
            continue
        sizes[binary_of(ctx, name)] = size
    hashing = {b: s for b, s in sizes.items() if b in HASHING_FUNCTIONS}
    others = {b: s for b, s in sizes.items() if b not in HASHING_FUNCTIONS}
    for b, s in hashing.items():
        if s < ONE_VCPU_MB:
            problems.append(f"{b}: hashes passwords, needs a whole vCPU ({ONE_VCPU_MB} MB), has {s}")
        for o, so in others.items():
            if so >= s:
                problems.append(f"{o} ({so} MB) has as much memory as {b} ({s} MB), which hashes passwords")
    section = readme_deploy(ctx.readme)
    if "argon2" not in section or not ("1769" in section or "1,769" in section):
        problems.append("README's Deploy section must give the memory sizes' reasoning (argon2, 1,769 MB = one vCPU)")
    return problems


def check_tracing(ctx: Ctx) -> list[str]:
    problems = []
    for name in ctx.functions():
        param = ctx.parameter(ctx.fn_prop(name, "Tracing"))
        if param is None or not {"Active", "PassThrough"} <= set(param.get("AllowedValues", [])):
            problems.append(f"{name}: Tracing must be a parameter allowing Active and PassThrough")
    return problems


def deployment_groups(ctx: Ctx, stage: str) -> dict | None:
    translator = Translator(managed_policy_map={}, sam_parser=Parser(), boto_session=boto3.Session(region_name=REGION))
    try:
        cfn = translator.translate(
            with_placeholder_code_uris(ctx.template),
            parameter_values={"Stage": stage},
            get_managed_policy_map=lambda: {},
        )
    except Exception:  # noqa: BLE001  (reported by the translate step)
        return None
    return {k: r for k, r in cfn["Resources"].items() if r["Type"] == "AWS::CodeDeploy::DeploymentGroup"}


def check_canary(ctx: Ctx) -> list[str]:
    problems = []
    functions = ctx.resources("AWS::Serverless::Function")
    for name in functions:
        if not ctx.fn_prop(name, "AutoPublishAlias"):
            problems.append(f"{name}: no AutoPublishAlias")
        pref = ctx.fn_prop(name, "DeploymentPreference") or {}
        alarms = {ref(a) for a in pref.get("Alarms", []) or []}
        errors = {n for n, _ in alarms_on(ctx, "AWS/Lambda", "Errors", "FunctionName", lambda v, n=name: ref(v) == n)}
        if not alarms & errors:
            problems.append(f"{name}: DeploymentPreference.Alarms must list its errors alarm (the canary rolls back on it)")
    if problems:
        return problems
    with contextlib.redirect_stdout(io.StringIO()):
        prod, dev = deployment_groups(ctx, "prod"), deployment_groups(ctx, "dev")
    if prod is None or dev is None:
        return ["the template does not translate with Stage=prod and Stage=dev"]
    for name in functions:
        group = prod.get(f"{name}DeploymentGroup")
        config = json.dumps(group["Properties"].get("DeploymentConfigName")) if group else ""
        if "Canary" not in config:
            problems.append(f"{name}: Stage=prod gives no canary deployment group")
    if dev:
        problems.append(f"Stage=dev deploys through CodeDeploy too ({', '.join(sorted(dev))}); dev switches all at once")
    return problems


def check_readme_deploy(ctx: Ctx) -> list[str]:
    import re

    section = readme_deploy(ctx.readme)
    dev = re.search(r"--config-env\s+dev\b", section)
    prod = re.search(r"--config-env\s+prod\b", section)
    if dev is None or prod is None or prod.start() < dev.start():
        return ["README's Deploy section must walk dev (`--config-env dev`) then prod (`--config-env prod`)"]
    if "--guided" not in section:
        return ["README's Deploy section must show the first, guided deploy (it asks for the e-mail parameters)"]
    return []


OPS_CHECKS = {
    "alarm-topic": (check_alarm_topic, "alarms notify an SNS topic with an e-mail subscription (a parameter)"),
    "function-alarms": (check_function_alarms, "every function has an errors and a throttles alarm"),
    "stream-alarms": (check_stream_alarms, "the stream's iterator age (> 5 min) and the failure queue (> 0) alarm"),
    "api-5xx-alarm": (check_api_5xx_alarm, "the HTTP API's 5xx rate alarms"),
    "runbook": (check_runbook, "every alarm links its runbook section; the runbook gives the replay command"),
    "api-throttling": (check_api_throttling, "default route throttling, tighter on the sensitive routes"),
    "api-access-logs": (check_access_logs, "JSON access logs to a log group with retention"),
    "function-log-groups": (check_function_log_groups, "every function logs JSON to its own log group with retention"),
    "stream-mapping": (check_stream_mapping, "filter, batching window, retries bounded by age, retained failure queue"),
    "table-protection": (check_table_protection, "the table has deletion protection"),
    "email-parameters": (check_email_parameters, "e-mail parameters have no default and refuse placeholders"),
    "samconfig": (check_samconfig, "samconfig.toml has dev and prod environments and no e-mail placeholders"),
    "memory-sizes": (check_memory_sizes, "argon2-heavy functions get a whole vCPU, the README says why"),
    "tracing": (check_tracing, "Tracing is a parameter (Active / PassThrough)"),
    "canary": (check_canary, "AutoPublishAlias with a canary in prod only, rolled back on the errors alarm"),
    "readme-deploy": (check_readme_deploy, "README's Deploy section walks dev -> prod with samconfig"),
}


def _res(t: dict, name: str) -> dict:
    return t["Resources"][name]


def _props(t: dict, name: str) -> dict:
    return t["Resources"][name]["Properties"]


def _stream(t: dict) -> dict:
    return _props(t, "NotificationsFunction")["Events"]["TableStream"]["Properties"]


def _new_function(t: dict) -> None:
    """A future function added the old way: no log group, no alarms, no memory size of its own."""
    fn = copy.deepcopy(_res(t, "TeamFunction"))
    props = fn["Properties"]
    for key in ("LoggingConfig", "DeploymentPreference", "Events"):
        props.pop(key, None)
    # A name no function has (MaintenanceFunction exists since issue 15, with its block).
    fn["Metadata"]["BuildProperties"]["Binary"] = "future"
    t["Resources"]["FutureFunction"] = fn


def _drop_deployment_preferences(t: dict) -> None:
    t["Globals"]["Function"].pop("DeploymentPreference")
    for res in t["Resources"].values():
        res.get("Properties", {}).pop("DeploymentPreference", None)


# (check, what is taken out, how): the self-test takes each item out of a copy and expects its
# check to fail. Template items mutate the template; the others the samconfig / README / RUNBOOK.
MUTATIONS = [
    ("alarm-topic", "the topic's e-mail subscription", lambda c: _props(c.template, "AlarmTopic").pop("Subscription")),
    ("alarm-topic", "an alarm's action", lambda c: _props(c.template, "Api5xxAlarm").pop("AlarmActions")),
    ("function-alarms", "a function's throttles alarm", lambda c: c.template["Resources"].pop("TokensThrottlesAlarm")),
    ("function-alarms", "a function's errors alarm", lambda c: c.template["Resources"].pop("PolicyCheckErrorsAlarm")),
    ("function-alarms", "(a new function without its block)", lambda c: _new_function(c.template)),
    ("stream-alarms", "the iterator age alarm", lambda c: c.template["Resources"].pop("NotificationsIteratorAgeAlarm")),
    ("stream-alarms", "the failure queue alarm", lambda c: c.template["Resources"].pop("NotificationsFailureQueueAlarm")),
    ("api-5xx-alarm", "the 5xx rate alarm", lambda c: c.template["Resources"].pop("Api5xxAlarm")),
    ("runbook", "the runbook", lambda c: setattr(c, "runbook", None)),
    ("runbook", "an alarm's runbook section", lambda c: setattr(c, "runbook", c.runbook.replace("## NotificationsFailureQueueAlarm", "## Failures"))),
    ("runbook", "the replay command", lambda c: setattr(c, "runbook", c.runbook.replace(REPLAY_SCRIPT.name, "a script"))),
    ("api-throttling", "the default route throttling", lambda c: _props(c.template, "HttpApi").pop("DefaultRouteSettings")),
    ("api-throttling", "the login route's throttling", lambda c: _props(c.template, "HttpApi")["RouteSettings"].pop("POST /v1/login")),
    ("api-throttling", "(a route key that is no route)", lambda c: _props(c.template, "HttpApi")["RouteSettings"].update({"POST /v1/signin": {"ThrottlingRateLimit": 1, "ThrottlingBurstLimit": 1}})),
    ("api-access-logs", "the access logs", lambda c: _props(c.template, "HttpApi").pop("AccessLogSettings")),
    ("api-access-logs", "the source ip of the access log", lambda c: _props(c.template, "HttpApi")["AccessLogSettings"].update(Format='{"requestId":"$context.requestId"}')),
    ("api-access-logs", "the access log group's retention", lambda c: _props(c.template, "ApiAccessLogGroup").pop("RetentionInDays")),
    ("function-log-groups", "a function's LoggingConfig.LogGroup", lambda c: _props(c.template, "ProfilesFunction")["LoggingConfig"].pop("LogGroup")),
    ("function-log-groups", "a log group's retention", lambda c: _props(c.template, "NotificationsLogGroup").pop("RetentionInDays")),
    ("function-log-groups", "(a new function without its block)", lambda c: _new_function(c.template)),
    ("stream-mapping", "the FilterCriteria", lambda c: _stream(c.template).pop("FilterCriteria")),
    ("stream-mapping", "the batching window", lambda c: _stream(c.template).pop("MaximumBatchingWindowInSeconds")),
    ("stream-mapping", "the higher retry count (back to 3)", lambda c: _stream(c.template).update(MaximumRetryAttempts=3)),
    ("stream-mapping", "the record age bound", lambda c: _stream(c.template).pop("MaximumRecordAgeInSeconds")),
    ("stream-mapping", "the failure queue's DeletionPolicy", lambda c: _res(c.template, "NotificationsFailureQueue").pop("DeletionPolicy")),
    ("table-protection", "DeletionProtectionEnabled", lambda c: _props(c.template, "Table").pop("DeletionProtectionEnabled")),
    ("email-parameters", "(a placeholder default)", lambda c: c.template["Parameters"]["MailFrom"].update(Default="no-reply@example.com")),
    ("email-parameters", "the AllowedPattern of AlarmEmail", lambda c: c.template["Parameters"]["AlarmEmail"].pop("AllowedPattern")),
    ("samconfig", "the prod environment", lambda c: c.samconfig.pop("prod")),
    ("samconfig", "(a placeholder e-mail in dev)", lambda c: c.samconfig["dev"]["deploy"]["parameters"]["parameter_overrides"].append("MailFrom=no-reply@example.com")),
    ("memory-sizes", "the passwords function's memory size", lambda c: _props(c.template, "PasswordsFunction").pop("MemorySize")),
    ("memory-sizes", "the README's reasoning", lambda c: setattr(c, "readme", c.readme.replace("argon2", "hashing"))),
    ("tracing", "Tracing", lambda c: c.template["Globals"]["Function"].pop("Tracing")),
    ("canary", "AutoPublishAlias", lambda c: c.template["Globals"]["Function"].pop("AutoPublishAlias")),
    ("canary", "the deployment preferences", lambda c: _drop_deployment_preferences(c.template)),
    ("canary", "the deployment preference's Type", lambda c: c.template["Globals"]["Function"]["DeploymentPreference"].pop("Type")),
    ("canary", "(the canary in dev too)", lambda c: c.template["Mappings"]["Stages"]["dev"].update(Canary="true")),
    ("readme-deploy", "the prod step", lambda c: setattr(c, "readme", c.readme.replace("--config-env prod", "--config-env production"))),
]


def load_ctx(template: dict) -> Ctx:
    samconfig = tomllib.loads(SAMCONFIG.read_text()) if SAMCONFIG.is_file() else {}
    runbook = RUNBOOK.read_text() if RUNBOOK.is_file() else None
    return Ctx(template, samconfig, README.read_text(), runbook)


def check_operations(template: dict) -> None:
    print("== operations (issue 16): one check per item")
    ctx = load_ctx(template)
    for name, (check, what) in OPS_CHECKS.items():
        problems = check(ctx)
        if problems:
            for problem in problems:
                fail(f"[{name}] {problem}")
        else:
            print(f"  ok [{name}]: {what}")


def self_test(template: dict) -> None:
    """Each check must fail when its item is taken out (else it passes on nothing)."""
    print("== operations self-test: each item taken out of a copy fails its check")
    caught = 0
    for name, what, mutate in MUTATIONS:
        ctx = load_ctx(copy.deepcopy(template))
        ctx.samconfig = copy.deepcopy(ctx.samconfig)
        try:
            mutate(ctx)
        except (KeyError, AttributeError, TypeError) as e:
            fail(f"self-test [{name}]: cannot take out {what} ({type(e).__name__}: {e}); update MUTATIONS")
            continue
        problems = OPS_CHECKS[name][0](ctx)
        if problems:
            caught += 1
            print(f"  caught [{name}] without {what}: {problems[0]}")
        else:
            fail(f"self-test [{name}]: taking out {what} went unnoticed")
    print(f"  {caught} of {len(MUTATIONS)} removals caught by their check")


def main() -> int:
    global TEMPLATE
    if len(sys.argv) > 1:
        TEMPLATE = Path(sys.argv[1]).resolve()
    print(f"checking {TEMPLATE.relative_to(ROOT)}")
    template = yaml_parse(TEMPLATE.read_text())
    if not isinstance(template, dict):
        print("ERROR: template is not a YAML mapping")
        return 1
    check_structure(template)
    check_log_levels(template)
    check_operations(template)
    if not errors:
        self_test(template)
    cfn = translate(template)
    cfn_lint(TEMPLATE, "(SAM source)")
    if cfn is not None:
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        out = OUT_DIR / "template.cfn.json"
        out.write_text(json.dumps(cfn, indent=2, sort_keys=True) + "\n")
        cfn_lint(out, "(translated CloudFormation)")
    if errors:
        print(f"template checks FAILED: {len(errors)} problem(s)")
        return 1
    print("template checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
