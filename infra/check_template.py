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

Run with the project's venv: `.venv/bin/python infra/check_template.py [TEMPLATE]` (scripts/test.sh
does; TEMPLATE defaults to infra/template.yaml, a relative CodeUri is resolved from its folder).
Exit code 0 = all good, 1 = a check failed.
"""

from __future__ import annotations

import copy
import json
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
