"""Shared by the infra tests: paths, the metrics contract, a PromQL name extractor, the `vigil` CLI's
commands and options, and a small JSON-schema (draft-07) validator for the compose file."""

from __future__ import annotations

import functools
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
PROM = INFRA / "prometheus"
RULE_FILES = (PROM / "rules" / "vigil-recording.yml", PROM / "rules" / "vigil-alerts.yml")
PROM_TESTS = sorted((PROM / "tests").glob("*.yml"))
RUNBOOK = INFRA / "RUNBOOK.md"
RUNBOOK_URL = "https://github.com/vigil/vigil/blob/main/infra/RUNBOOK.md#"
COMPOSE_FILE = INFRA / "docker-compose.yml"
K8S = INFRA / "k8s"
DASHBOARD = INFRA / "grafana" / "dashboards" / "vigil.json"
VIGIL = ROOT / ".venv" / "bin" / "vigil"

# --- the metrics contract (infra/README.md, "Metrics") ------------------------------------------------
COUNTERS = {
    "vigil_ingest_received", "vigil_ingest_shootings", "vigil_ingest_filtered", "vigil_ingest_rejected",
    "vigil_dead_letters", "vigil_deliveries", "vigil_delivery_retries", "vigil_intents", "vigil_escalations",
    "vigil_acks", "vigil_coverage_gaps", "vigil_web_requests", "vigil_ack_answers", "vigil_followups_created",
    "vigil_followups_completed",
}
GAUGES = {
    "vigil_feed_last_message_timestamp_seconds", "vigil_open_activations", "vigil_acks_overdue",
    "vigil_consumer_lag", "vigil_worker_assigned_partitions", "vigil_event_loop_delay_seconds",
    "vigil_event_loop_heartbeat_age_seconds", "vigil_followups_open", "vigil_followups_overdue",
}
HISTOGRAMS = {"vigil_stage_seconds", "vigil_alert_latency_seconds", "vigil_time_to_ack_seconds"}
# prometheus-client's default process collector, and Prometheus' own series
PROCESS = {
    "process_resident_memory_bytes", "process_virtual_memory_bytes", "process_cpu_seconds_total",
    "process_open_fds", "process_max_fds", "process_start_time_seconds",
}
PROMETHEUS_OWN = {"up", "ALERTS"}
FAUST_PREFIX = "vigil_faust_"
JOBS = {"vigil-worker", "vigil-hl7", "vigil-web", "vigil-ingest-http"}


def contract_names() -> set[str]:
    """Every series name a rule or panel may select, besides recording rules and vigil_faust_*."""
    names = {f"{c}_total" for c in COUNTERS} | set(GAUGES) | PROCESS | PROMETHEUS_OWN
    names |= {f"{h}_{s}" for h in HISTOGRAMS for s in ("bucket", "sum", "count")}
    return names


def allowed(name: str, recorded: set[str]) -> bool:
    return name in contract_names() or name in recorded or re.fullmatch(r"vigil_faust_[a-z_]+", name) is not None


# --- PromQL ---------------------------------------------------------------------------------------------
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
             "group_right", "inf", "nan", "Inf", "NaN", "atan2"}


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression selects (functions, keywords, labels and durations left out)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    s = re.sub(r"'(?:[^'\\]|\\.)*'", "''", s)
    s = re.sub(r"`[^`]*`", "``", s)
    s = re.sub(r"\{[^}]*\}", " ", s)  # label matchers
    s = re.sub(r"\[[^\]]*\]", " ", s)  # ranges and subqueries
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    s = re.sub(r"\boffset\s+-?[0-9smhdwy]+", " ", s)
    names = set()
    for m in re.finditer(r"(?<![\w:.$])([a-zA-Z_:][a-zA-Z0-9_:]*)", s):
        name = m.group(1)
        if name in _KEYWORDS or re.match(r"\s*\(", s[m.end():]):
            continue  # a keyword, or a function / aggregation call
        names.add(name)
    return names


def load_rules() -> list[dict[str, Any]]:
    """Every rule of the rule files, with the file it came from."""
    rules = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                rules.append({**rule, "_file": path.name})
    return rules


def recorded_names() -> set[str]:
    return {r["record"] for r in load_rules() if "record" in r}


def alert_rules() -> list[dict[str, Any]]:
    return [r for r in load_rules() if "alert" in r]


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def runbook_anchors() -> set[str]:
    return {github_anchor(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*$", RUNBOOK.read_text(), re.M)}


# --- the vigil CLI ------------------------------------------------------------------------------------
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


_HELP_ENV = {"COLUMNS": "200", "TERM": "dumb", "NO_COLOR": "1"}


@functools.cache
def _help(*args: str) -> str:
    """`vigil [args] --help`. The top level runs the installed script (the entry point the containers run);
    each command's help is rendered in-process by the same Typer app, with the same width and no colour:
    the same text (checked once by hand, byte for byte) without a 2-3 s interpreter start per command."""
    if not args:
        out = subprocess.run([str(VIGIL), "--help"], capture_output=True, text=True, timeout=120, env={**_HELP_ENV, "PATH": "/usr/bin:/bin"})
        assert out.returncode == 0, f"vigil --help failed:\n{out.stdout}\n{out.stderr}"
        return _ANSI.sub("", out.stdout)
    from typer.testing import CliRunner

    from stream.cli.main import app

    result = CliRunner().invoke(app, [*args, "--help"], prog_name="vigil", env=_HELP_ENV)
    assert result.exit_code == 0, f"vigil {' '.join(args)} --help failed:\n{result.output}"
    return _ANSI.sub("", result.stdout)


def _commands_of(text: str) -> list[str]:
    section = text.split("Commands", 1)[1] if "Commands" in text else ""
    return re.findall(r"^│ (\w[\w-]*)\s", section, re.M)


@functools.cache
def vigil_commands() -> tuple[str, ...]:
    """The commands `vigil --help` lists."""
    return tuple(_commands_of(_help()))


@functools.cache
def vigil_subcommands(command: str) -> tuple[str, ...]:
    """The sub-commands of a command group (`vigil users --help`: add, list), or none."""
    return tuple(_commands_of(_help(command)))


@functools.cache
def vigil_options(*command: str) -> frozenset[str]:
    """The options `vigil <command> --help` lists."""
    return frozenset(re.findall(r"(--[a-z][a-z0-9-]*)", _help(*command)))


def check_vigil_command(argv: list[str]) -> list[str]:
    """Problems with a container command that runs `vigil ...`: the command (and sub-command) must be one
    `vigil --help` lists, and each option one its --help lists."""
    if len(argv) < 2 or argv[0] != "vigil":
        return [f"{argv}: not a `vigil <command>`"]
    if argv[1] not in vigil_commands():
        return [f"{argv}: {argv[1]!r} is not one of the commands of `vigil --help` {vigil_commands()}"]
    command = [argv[1]]
    subs = vigil_subcommands(argv[1])
    if subs:
        if len(argv) < 3 or argv[2] not in subs:
            return [f"{argv}: `vigil {argv[1]}` needs one of {subs}"]
        command.append(argv[2])
    options = vigil_options(*command)
    return [f"{argv}: `vigil {' '.join(command)}` has no option {a}" for a in argv
            if a.startswith("--") and a.split("=")[0] not in options]


# --- YAML documents -----------------------------------------------------------------------------------
def yaml_docs(path: Path) -> Iterator[dict[str, Any]]:
    for doc in yaml.safe_load_all(path.read_text()):
        if doc:
            yield doc


# --- a small draft-07 JSON-schema validator -----------------------------------------------------------
# Enough for the compose-spec schema (tests/infra/compose_spec.json): it refuses any keyword it does not
# implement, so a newer schema cannot be half-checked silently.
_ANNOTATIONS = {"description", "deprecated", "default", "$schema", "$id", "title", "examples", "$comment", "format"}
_IMPLEMENTED = {"type", "$ref", "properties", "patternProperties", "additionalProperties", "items", "oneOf", "anyOf",
                "allOf", "not", "uniqueItems", "required", "enum", "const", "minimum", "maximum", "pattern", "minItems",
                "maxItems", "minLength", "minProperties", "definitions"}


def _is_type(value: Any, kind: str) -> bool:
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    raise ValueError(f"unknown JSON type {kind}")


def schema_errors(value: Any, schema: Any, root: dict[str, Any], path: str = "$") -> list[str]:
    """Every way ``value`` breaks ``schema`` (empty when it is valid)."""
    if schema is True or schema == {}:
        return []
    if schema is False:
        return [f"{path}: no value is allowed here"]
    unknown = set(schema) - _IMPLEMENTED - _ANNOTATIONS
    if unknown:
        raise NotImplementedError(f"schema keywords {sorted(unknown)} at {path}")
    errors: list[str] = []
    if "$ref" in schema:
        node: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        errors += schema_errors(value, node, root, path)
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is_type(value, k) for k in kinds):
            return errors + [f"{path}: {value!r} is not of type {kinds}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: {value!r} is not {schema['const']!r}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{path}: {value!r} does not match {schema['pattern']}")
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append(f"{path}: shorter than {schema['minLength']}")
    if _is_type(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: {value} > {schema['maximum']}")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path}: {key!r} is required")
        if len(value) < schema.get("minProperties", 0):
            errors.append(f"{path}: fewer than {schema['minProperties']} properties")
        props = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        for key, item in value.items():
            matched = False
            if key in props:
                matched = True
                errors += schema_errors(item, props[key], root, f"{path}.{key}")
            for pattern, sub in patterns.items():
                if re.search(pattern, key):
                    matched = True
                    errors += schema_errors(item, sub, root, f"{path}.{key}")
            if not matched and "additionalProperties" in schema:
                extra = schema["additionalProperties"]
                if extra is False:
                    errors.append(f"{path}: property {key!r} is not allowed")
                else:
                    errors += schema_errors(item, extra, root, f"{path}.{key}")
    if isinstance(value, list):
        if "items" in schema:
            items = schema["items"]
            for i, item in enumerate(value):
                sub = items[i] if isinstance(items, list) and i < len(items) else items
                if not isinstance(items, list) or i < len(items):
                    errors += schema_errors(item, sub, root, f"{path}[{i}]")
        if schema.get("uniqueItems"):
            seen = [json.dumps(v, sort_keys=True) for v in value]
            if len(seen) != len(set(seen)):
                errors.append(f"{path}: items are not unique")
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{path}: more than {schema['maxItems']} items")
    if "oneOf" in schema:
        results = [schema_errors(value, sub, root, path) for sub in schema["oneOf"]]
        passing = sum(1 for r in results if not r)
        if passing != 1:
            detail = "; ".join(e for r in results for e in r[:2])
            errors.append(f"{path}: matches {passing} of the oneOf alternatives, not exactly one ({detail})")
    if "anyOf" in schema:
        results = [schema_errors(value, sub, root, path) for sub in schema["anyOf"]]
        if all(results):
            errors.append(f"{path}: matches none of anyOf ({'; '.join(e for r in results for e in r[:2])})")
    for sub in schema.get("allOf", []):
        errors += schema_errors(value, sub, root, path)
    if "not" in schema and not schema_errors(value, schema["not"], root, path):
        errors.append(f"{path}: matches a schema it must not")
    return errors
