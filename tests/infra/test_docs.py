"""The operations documents agree with what they describe: every alert in the README's table and the
runbook, every `vigil` command they show a real one, the dead-letter fields those of the model."""

from __future__ import annotations

import re

from tests.infra.infra_support import INFRA, K8S, RUNBOOK, alert_rules, check_vigil_command, github_anchor

DOCS = [INFRA / "README.md", RUNBOOK, K8S / "SCALING.md"]


def _vigil_invocations(text: str) -> list[list[str]]:
    """`vigil ...` as written in code spans and in shell code blocks."""
    snippets, fenced, shell = [], False, False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced, shell = not fenced, line.strip() in {"```sh", "```bash", "```"}
            continue
        if fenced:
            if shell:
                snippets.append(line)
        else:
            snippets += re.findall(r"`([^`\n]+)`", line)
    found = []
    for snippet in snippets:
        # `kubectl -n vigil get ...` names the namespace, not the command
        for m in re.finditer(r"(?:^|(?<!-n)[\s(|;])(vigil [a-z][^|;#)<`]*)", snippet):
            words = m.group(1).split()
            found.append([w for w in words if not w.startswith("<")])
    return found


def test_documented_vigil_commands_exist() -> None:
    problems, seen = [], 0
    for doc in DOCS:
        for argv in _vigil_invocations(doc.read_text()):
            if len(argv) >= 2 and re.fullmatch(r"[a-z][a-z0-9-]*", argv[1]):
                seen += 1
                problems += [f"{doc.name}: {p}" for p in check_vigil_command(argv)]
    assert seen >= 10
    assert not problems, "\n".join(problems)


def test_readme_lists_every_alert() -> None:
    table = (INFRA / "README.md").read_text().split("## Alerts", 1)[1].split("##", 1)[0]
    listed = set(re.findall(r"^\| (\w+) \|", table, re.M)) - {"alert"}
    assert listed == {r["alert"] for r in alert_rules()}


def test_runbook_sections() -> None:
    text = RUNBOOK.read_text()
    headings = [github_anchor(h) for h in re.findall(r"^## (.+)$", text, re.M)]
    for alert in {r["alert"] for r in alert_rules()}:
        assert alert.lower() in headings, f"RUNBOOK.md has no section for {alert}"
        section = text.split(f"## {alert}\n", 1)[1].split("\n## ", 1)[0]
        for part in ("**Means.**", "**Check", "**Fix.**"):
            assert part in section, f"{alert}: no {part}"
    assert "replaying-a-dead-letter-entry-after-a-fix" in headings


def test_runbook_dead_letter_fields_are_the_models() -> None:
    from stream.model.events import DeadLetter

    text = RUNBOOK.read_text().split("## Replaying a dead-letter entry after a fix", 1)[1]
    example = re.search(r"```json\n(\{.*?\})\n```", text, re.S).group(1)
    assert set(re.findall(r'"(\w+)":', example)) == set(DeadLetter.model_fields)
