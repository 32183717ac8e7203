"""`make audit`: known vulnerabilities in requirements.lock, failing CI on any (docs/security.md).

pip-audit queries PyPI's per-release JSON API (/pypi/NAME/VERSION/json). Where that endpoint is not
served (some mirrors and proxies answer 404 for every release, and pip-audit then *skips* the package
and exits 0, auditing nothing), each skipped pin is checked against the project's JSON
(/pypi/NAME/json), whose ``vulnerabilities`` are those of the latest release: exact for a pin that is
the latest release; a pin that is not cannot be checked that way. Such a pin is listed as NOT AUDITED
(and the totals say how many), but fails the audit only with ``--strict``: PyPI publishes new releases
every day, and a lock that was current when committed must not turn CI red on the morning one of its 93
packages has a new release. ``make lock`` brings the pins back to the latest, and checkable. The audit
still fails closed where it matters: a known vulnerability, PyPI not answering, or nothing audited at all.

Ignored advisories live in .ci/audit-ignore, one ``ID reason`` a line; an ID without a reason is an error.
A pin held below the latest release by a constraint (a dependency's upper bound, Python 3.11) cannot be
checked where only the project JSON answers: ``pin NAME==VERSION reason`` there says why it is held back;
it is then reported as not audited, without failing, until the pin changes (then the line no longer
matches and the audit fails again until someone looks).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
IGNORE = ROOT / ".ci" / "audit-ignore"
PIP_AUDIT = ROOT / ".audit-venv" / "bin" / "pip-audit"


def pins(lock: Path) -> dict[str, str]:
    """Canonical name to pinned version, from the lock's ``name==version`` lines."""
    found = {}
    for line in lock.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            found[canonical(name)] = version.split(";")[0].strip()
    return found


def canonical(name: str) -> str:
    """PEP 503 normalised project name."""
    return "-".join(name.lower().replace("_", "-").replace(".", "-").split("-"))


def ignored(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Advisory ids to ignore and held-back pins (``name==version``), each with its written reason."""
    advisories, held = {}, {}
    if path.exists():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            line = line.strip()
            if line and not line.startswith("#"):
                key, _, reason = line.partition(" ")
                target = held if key == "pin" else advisories
                if key == "pin":
                    key, _, reason = reason.strip().partition(" ")
                    name, _, version = key.partition("==")
                    key = f"{canonical(name)}=={version}"
                if not reason.strip():
                    sys.exit(f"{path}:{number}: {key} has no reason; every exception needs one")
                target[key] = reason.strip()
    return advisories, held


def project_advisories(name: str, version: str) -> tuple[list[dict], str | None]:
    """The advisories of ``name``'s latest release, and None; or [] and why ``version`` cannot be checked."""
    try:
        with urllib.request.urlopen(f"https://pypi.org/pypi/{name}/json", timeout=60) as reply:  # noqa: S310 - fixed https host
            data = json.load(reply)
    except (urllib.error.URLError, TimeoutError, ValueError) as exc:
        return [], f"PyPI's JSON API did not answer ({exc})"
    latest = data["info"]["version"]
    if latest != version:
        return [], f"pinned {version}, latest {latest}: not checkable without the per-release API"
    return [v for v in data.get("vulnerabilities") or [] if not v.get("withdrawn")], None


def main(argv: list[str] | None = None) -> int:
    """Run the audit; 0 when no known, un-ignored vulnerability is in the lock, PyPI answered for every pin
    and at least one pin was audited (with ``--strict``: and every pin not held back was audited)."""
    strict = "--strict" in (sys.argv[1:] if argv is None else argv)
    locked, (ignore, held) = pins(LOCK), ignored(IGNORE)
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "audit.json"
        run = subprocess.run([str(PIP_AUDIT), "--requirement", str(LOCK), "--no-deps", "--disable-pip", "--progress-spinner", "off",
                              "--format", "json", "--output", str(report)], capture_output=True, text=True)
        if not report.exists():
            print(run.stdout, run.stderr, sep="\n")
            return 2
        audited = json.loads(report.read_text())["dependencies"]
    findings, unchecked, unanswered, by_api = [], [], [], {"pip-audit": 0, "latest-release advisories": 0}
    for dep in audited:
        name = canonical(dep["name"])
        if "skip_reason" not in dep:
            by_api["pip-audit"] += 1
            findings += [(name, dep["version"], v["id"], v.get("fix_versions", []), v.get("aliases", [])) for v in dep["vulns"]]
            continue
        advisories, why = project_advisories(name, locked[name])
        if why is not None:
            pin = f"{name}=={locked[name]}"
            if pin in held:
                print(f"  not audited here, held back  {pin}: {held[pin]}")
            elif why.startswith("PyPI's JSON API did not answer"):
                unanswered.append(f"{pin}: {why}")
            else:
                unchecked.append(f"{pin}: {why}")
            continue
        by_api["latest-release advisories"] += 1
        findings += [(name, locked[name], v["id"], v.get("fixed_in", []), v.get("aliases", [])) for v in advisories]
    failing = []
    for name, version, vuln_id, fixes, aliases in findings:
        reason = next((ignore[i] for i in (vuln_id, *aliases) if i in ignore), None)
        line = f"{name}=={version} {vuln_id} ({', '.join(aliases) or 'no aliases'}), fixed in {', '.join(map(str, fixes)) or 'no release'}"
        print(f"  ignored  {line}: {reason}" if reason else f"  VULNERABLE  {line}")
        if reason is None:
            failing.append(line)
    for line in unchecked:
        print(f"  NOT AUDITED  {line} (a newer release since the lock: `make lock`)")
    for line in unanswered:
        print(f"  FAILED  {line}")
    print(f"audit: {len(locked)} pins; checked by pip-audit {by_api['pip-audit']}, by PyPI's latest-release advisories "
          f"{by_api['latest-release advisories']}; {len(failing)} vulnerable, {len(unchecked)} not audited, "
          f"{len(locked) - by_api['pip-audit'] - by_api['latest-release advisories'] - len(unchecked)} held back unaudited")
    audited = by_api["pip-audit"] + by_api["latest-release advisories"]
    if not audited:
        print("audit: nothing was audited")
    return verdict(len(failing), len(unanswered), audited, len(unchecked), strict)


def verdict(vulnerable: int, unanswered: int, audited: int, behind_latest: int, strict: bool) -> int:
    """The exit code: 1 on a known vulnerability, on PyPI not answering for a pin, when nothing was audited,
    and (``strict`` only) when a pin fell behind PyPI's latest release since the lock was made."""
    return 1 if vulnerable or unanswered or not audited or (strict and behind_latest) else 0


if __name__ == "__main__":
    sys.exit(main())
