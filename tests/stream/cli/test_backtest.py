"""`vigil backtest` on real config folders, real git repositories and real history files (nothing mocked)."""

from __future__ import annotations

import io
import json
import os
import pty
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from load_tests.history import generate_year, write_jsonl
from stream.cli.backtest import backtest, backtest_command
from stream.core.backtest import (
    BacktestError,
    ConfigSource,
    Progress,
    read_history,
    render_markdown,
    run,
)
from stream.core.deployment import PACKAGE_ROOT, load_deployment
from stream.feeds.eido_builder import build_eido

FOLDERS = ("stream/minneapolis", "geofences/minneapolis", "rules/minneapolis")
FOLWELL = (45.01861, -93.30067)  # Camden community: vi-north-camden
JORDAN = (45.00615, -93.30300)  # Near North community: vi-north-nearnorth
HIAWATHA = (44.91802, -93.20932)  # Longfellow community: no street team

CAMDEN_SHIFT = '''  - id: vi-north-camden
    audience: street
    covers: {communities: [Camden]}
    shifts: [{days: daily, start: "16:00", end: "02:00"}]'''

# Saturday 5 and Sunday 6 July 2025 (no school hours, so P4 stays out of the way).
HANDMADE = [
    # 17:00: camden is on shift in base (16-02), off in head (18-04)
    {"ref": "E1", "kind": "shots_fired", "reported_at": "2025-07-05T17:00:00-05:00", "where": FOLWELL},
    # 03:00 (Saturday's shift): off in base, on in head
    {"ref": "E2", "kind": "shots_fired", "reported_at": "2025-07-06T03:00:00-05:00", "where": FOLWELL},
    # 20:00: on shift in both
    {"ref": "E3", "kind": "person_shot", "reported_at": "2025-07-06T20:00:00-05:00", "where": FOLWELL, "victims": 1, "ages": [25]},
    # Near North and a place with no street team: the shift change does not touch them
    {"ref": "E4", "kind": "shots_fired", "reported_at": "2025-07-05T17:30:00-05:00", "where": JORDAN},
    {"ref": "E5", "kind": "shots_fired", "reported_at": "2025-07-05T12:00:00-05:00", "where": HIAWATHA},
]


def copy_config(root: Path) -> Path:
    """The repository's three deployment folders, copied under ``root``."""
    for folder in FOLDERS:
        shutil.copytree(PACKAGE_ROOT / folder, root / folder)
    return root


def edit(path: Path, old: str, new: str) -> None:
    """Replace one exact passage of a planner file (fails loudly if the file no longer has it)."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{path} no longer has the passage to change"
    path.write_text(text.replace(old, new), encoding="utf-8")


def move_camden_shift(root: Path) -> None:
    """vi-north-camden from 16:00-02:00 to 18:00-04:00."""
    edit(root / "geofences/minneapolis/teams.yaml", CAMDEN_SHIFT, CAMDEN_SHIFT.replace('"16:00", end: "02:00"', '"18:00", end: "04:00"'))


def write_history(path: Path, events: list[dict]) -> Path:
    """A history file in the synthetic-year format."""
    with open(path, "w", encoding="utf-8") as fh:
        for e in events:
            lat, lon = e["where"]
            line = {"ref": e["ref"], "kind": e["kind"], "reported_at": e["reported_at"], "lat": lat, "lon": lon,
                    "neighborhood": "", "community": "", "victims": e.get("victims", 0), "ages": e.get("ages", [])}
            fh.write(json.dumps(line) + "\n")
    return path


@pytest.fixture
def configs(tmp_path: Path) -> tuple[Path, Path]:
    """(base, head) config folders; head has vi-north-camden's shift moved two hours later."""
    base, head = copy_config(tmp_path / "base"), copy_config(tmp_path / "head")
    move_camden_shift(head)
    return base, head


@pytest.fixture
def handmade(tmp_path: Path) -> Path:
    """The five handmade events."""
    return write_history(tmp_path / "history.jsonl", HANDMADE)


def refs_of(comparison, sent) -> set[tuple[str, str, str, str]]:
    """(ref, team, rule, step label) of notifications, for exact comparisons."""
    out = set()
    for s in sent:
        activation = comparison.head.activations.get(s.activation) or comparison.base.activations[s.activation]
        out.add((",".join(activation.refs), s.team, s.rule, s.step_label))
    return out


def cli_app() -> typer.Typer:
    """The command as the lead wires it into `vigil`."""
    app = typer.Typer()
    app.command("backtest")(backtest_command)
    app.command("other")(lambda: None)  # two commands, so that the command name is part of the call as in `vigil`
    return app


def test_the_fixture_places_are_where_the_tests_assume() -> None:
    coverage = load_deployment().coverage
    evening = datetime.fromisoformat("2025-07-05T20:00:00-05:00")
    assert coverage.at(*FOLWELL, evening).street_teams == ("vi-north-camden",)
    assert coverage.at(*JORDAN, evening).street_teams == ("vi-north-nearnorth",)
    assert coverage.at(*HIAWATHA, evening).street_teams == ()


def test_a_shift_change_moves_exactly_the_expected_notifications(configs: tuple[Path, Path], handmade: Path) -> None:
    base, head = configs
    comparison = backtest(handmade, str(base), str(head))

    assert refs_of(comparison, comparison.added) == {
        ("E1", "dns-oncall", "P1", "initial"),  # nobody on shift at 17:00 any more: the on-call instead
        ("E2", "vi-north-camden", "P1", "initial"),  # on shift at 03:00 now
        ("E2", "dns-oncall", "P1", "escalation from vi-north-camden"),  # and nobody acks in a history
    }
    assert refs_of(comparison, comparison.removed) == {
        ("E1", "vi-north-camden", "P1", "initial"),
        ("E1", "dns-oncall", "P1", "escalation from vi-north-camden"),
        ("E2", "dns-oncall", "P1", "initial"),
    }
    assert comparison.retimed == []
    assert len(comparison.base.sent) == len(comparison.head.sent) == 9
    assert [a.refs for a in comparison.flag_changes("coverage_gap")[0]] == [["E1"]]
    assert [a.refs for a in comparison.flag_changes("coverage_gap")[1]] == [["E2"]]
    assert len(comparison.base.flagged("coverage_gap")) == len(comparison.head.flagged("coverage_gap")) == 2  # E5 in both

    report = render_markdown(comparison)
    assert report.startswith(f"# Backtest: `{base}` vs `{head}`\n")
    assert "Head adds **3** notifications, removes **3** and sends **0** at another moment." in report
    assert "| notifications | 9 | 9 | 0 |" in report
    assert "| - escalations | 3 | 3 | 0 |" in report
    assert "| activations flagged `coverage_gap` | 2 | 2 | 0 |" in report
    assert "| `dns-oncall` | 5 | 5 | +2 | -2 | 0 |" in report
    assert "| `vi-north-camden` | 2 | 2 | +1 | -1 | 0 |" in report
    assert "| `vi-north-nearnorth` | 1 | 1 | 0 | 0 | 0 |" in report
    assert "| `P1` | 6 | 6 | +3 | -3 | 0 |" in report
    assert "| `coverage_gap` | 2 | 2 | 1 | 1 |" in report
    assert "| 03:00 | 0 | 1 |\n| 17:00 | 1 | 0 |" in report
    assert "| 2025-07-05 17:00 CDT | `dns-oncall` | P1 | initial | E1 | Folwell |" in report
    assert "| 2025-07-06 03:15 CDT | `dns-oncall` | P1 | escalation from vi-north-camden | E2 | Folwell |" in report
    assert "### Removed (3 of 3)" in report


def test_an_ack_deadline_change_retimes_the_escalation(tmp_path: Path, handmade: Path) -> None:
    base, head = copy_config(tmp_path / "base"), copy_config(tmp_path / "head")
    protocols = head / "rules/minneapolis/protocols.yaml"
    edit(protocols, "ack_within_minutes: 10", "ack_within_minutes: 20")  # P2's, the only 10-minute deadline

    comparison = backtest(handmade, str(base), str(head))

    assert comparison.added == comparison.removed == []
    assert [(b.at.isoformat(), h.at.isoformat(), h.team, h.rule) for b, h in comparison.retimed] == [
        ("2025-07-06T20:10:00-05:00", "2025-07-06T20:20:00-05:00", "dns-oncall", "P2"),
    ]
    report = render_markdown(comparison)
    assert "Head adds **0** notifications, removes **0** and sends **1** at another moment." in report
    assert "| 2025-07-06 20:10 CDT | 2025-07-06 20:20 CDT | `dns-oncall` | P2 | escalation from vi-north-camden | E3 | Folwell |" in report


def test_adding_the_follow_up_protocol_reports_the_tasks_it_adds(tmp_path: Path, handmade: Path) -> None:
    from tests.rules.followups_fixture import without_followups

    base, head = copy_config(tmp_path / "base"), copy_config(tmp_path / "head")
    protocols = base / "rules/minneapolis/protocols.yaml"
    protocols.write_text(without_followups(protocols.read_text(encoding="utf-8")), encoding="utf-8")

    comparison = backtest(handmade, str(base), str(head))

    assert comparison.added == comparison.removed == comparison.retimed == [] and comparison.tasks_removed == []
    assert comparison.tasks_added and not comparison.identical
    assert {t.rule for t in comparison.tasks_added} <= {"F1", "F2", "F3", "F4"}
    report = render_markdown(comparison)
    assert f"| follow-up tasks | 0 | {len(comparison.tasks_added)} | +{len(comparison.tasks_added)} |" in report
    assert "## Follow-up tasks" in report and "| family_contact |" in report


def test_identical_configs_have_no_differences(tmp_path: Path, handmade: Path) -> None:
    base = copy_config(tmp_path / "base")
    comparison = backtest(handmade, str(base), str(base))

    assert comparison.identical
    report = render_markdown(comparison)
    assert "**No differences**" in report
    assert "## Examples" not in report
    assert "| notifications | 9 | 9 | 0 |" in report


def test_the_command_writes_the_same_report_to_stdout_and_out_and_is_deterministic(
        configs: tuple[Path, Path], handmade: Path, tmp_path: Path) -> None:
    base, head = configs
    runner = CliRunner()
    args = ["backtest", "--events", str(handmade), "--base", str(base), "--head", str(head), "--examples", "2"]
    first = runner.invoke(cli_app(), [*args, "--out", str(tmp_path / "report.md")])
    second = runner.invoke(cli_app(), args)

    assert first.exit_code == 0, first.output
    assert first.stdout == second.stdout == (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "### Added (2 of 3)" in first.stdout
    # not a terminal: one line at start, one at the end
    assert first.stderr.splitlines()[0] == "vigil backtest: replaying 5 events through base and head"
    assert first.stderr.splitlines()[1].startswith("vigil backtest: done in ")
    assert len(first.stderr.splitlines()) == 2


def test_a_missing_folder_or_history_is_an_error(configs: tuple[Path, Path], handmade: Path, tmp_path: Path) -> None:
    base, head = configs
    runner = CliRunner()
    missing = runner.invoke(cli_app(), ["backtest", "--events", str(handmade), "--base", str(tmp_path / "nowhere"), "--head", str(head)])
    assert missing.exit_code == 2
    assert f"--base '{tmp_path / 'nowhere'}' is neither a config folder nor a git revision" in missing.stderr

    empty = tmp_path / "empty"
    empty.mkdir()
    half = runner.invoke(cli_app(), ["backtest", "--events", str(handmade), "--base", str(base), "--head", str(empty)])
    assert half.exit_code == 2
    assert f"--head {empty}: the folder has no stream/minneapolis/classification.yaml" in half.stderr

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"ref": "X", "kind": "shots_fired", "reported_at": "2025-07-05T17:00:00"}\n', encoding="utf-8")
    with pytest.raises(BacktestError, match=r"bad.jsonl:1: .*no UTC offset"):
        backtest(bad, str(base), str(head))


def test_a_replay_scenario_with_acks(configs: tuple[Path, Path], tmp_path: Path) -> None:
    base, head = configs
    call = build_eido("MPLS-BT-1", "2025-07-05T17:00:00-05:00", internal_text="Sound of Shots Fired (P)", lat=FOLWELL[0], lon=FOLWELL[1])
    lines = [
        {"at": "2025-07-05T17:00:00-05:00", "source": "eido", "payload": call},
        {"at": "2025-07-05T17:05:00-05:00", "source": "ack", "ref": "MPLS-BT-1", "team": "vi-north-camden"},
    ]
    scenario = tmp_path / "scenario.jsonl"
    scenario.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")

    comparison = backtest(scenario, str(base), str(head))

    assert comparison.history.kind == "scenario lines"
    # base: camden notified and acks in time (no escalation); head: nobody on shift, the on-call instead
    assert refs_of(comparison, comparison.removed) == {("MPLS-BT-1", "vi-north-camden", "P1", "initial")}
    assert refs_of(comparison, comparison.added) == {("MPLS-BT-1", "dns-oncall", "P1", "initial")}
    assert comparison.base.problems == []
    assert comparison.head.problems == ["line 2: team 'vi-north-camden' was not notified for activation " + comparison.added[0].activation]
    assert "## Inputs the core refused" in render_markdown(comparison)


def test_parse_output_lines_are_events_and_the_rest_is_ignored(tmp_path: Path) -> None:
    parsed = tmp_path / "parsed.jsonl"
    lines = [
        {"event": {"kind": "person_shot", "ref": "P-1", "incident": "P-1", "source": "csv", "reported_at": "2025-07-05T20:00:00-05:00",
                   "lat": JORDAN[0], "lon": JORDAN[1], "fatal": True, "victims": 1, "ages": [16], "hospital": None, "intent": None,
                   "codes": [], "update": False}},
        {"skipped": {"ref": "P-2", "reason": "not_a_shooting"}},
        {"rejected": {"reason": "bad_timestamp", "detail": "x"}},
    ]
    parsed.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")

    history = read_history(parsed)
    assert history.ignored == 2
    (record,) = history.records
    assert (record.ref, record.kind.value, record.fatal, record.ages) == ("P-1", "person_shot", True, (16,))

    deployment = load_deployment()
    result = run(history, ConfigSource("shipped", PACKAGE_ROOT), deployment)
    # P2 (street team with its deadline, GVI), P5 (under 18), P6 (fatal); nobody acks, so the escalation fires
    assert [(s.team, s.rule, s.step_label) for s in result.sent] == [
        ("vi-north-nearnorth", "P2", "initial"), ("gvi-outreach", "P2", "initial"), ("mps-safety", "P5", "initial"),
        ("dns-oncall", "P6", "initial"), ("dns-oncall", "P2", "escalation from vi-north-nearnorth"),
    ]


def test_progress_redraws_one_line_on_a_terminal() -> None:
    import threading

    leader, follower = pty.openpty()
    chunks: list[bytes] = []

    def read_all() -> None:
        # read while the writer writes (a full pty buffer would block it) until the terminal closes
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the other end is closed
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=read_all)
    reader.start()
    with os.fdopen(follower, "w", encoding="utf-8") as terminal:
        progress = Progress(1000, terminal)
        for n in range(1000):
            progress.step("base" if n < 500 else "head")
        progress.finish("0 added")
    reader.join(timeout=10)
    os.close(leader)
    drawn = b"".join(chunks).decode()
    assert drawn.count("\rvigil backtest: ") <= 102  # each whole percent once, and the switch to head
    assert "vigil backtest: head 100% (1000/1000)" in drawn
    assert drawn.splitlines()[-1].startswith("vigil backtest: done in ")


def git(repo: Path, *args: str) -> None:
    """Run git in the throwaway repository, with an identity of its own."""
    subprocess.run(["git", "-c", "user.name=Planner", "-c", "user.email=planner@example.org", "-c", "commit.gpgsign=false", *args],
                   cwd=repo, check=True, capture_output=True)


@pytest.fixture
def planner_repo(tmp_path: Path) -> Path:
    """A git repository with two commits: the shipped deployment, then vi-north-camden's shift moved."""
    repo = copy_config(tmp_path / "repo")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "deployment")
    move_camden_shift(repo)
    git(repo, "commit", "-q", "-am", "camden works 18-04")
    return repo


def vigil_backtest(cwd: Path, *args: str, tmpdir: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The command in its own process, run from ``cwd`` (-P: the repository's folders are not packages)."""
    env = {**os.environ, "PYTHONPATH": str(PACKAGE_ROOT)}
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    return subprocess.run([sys.executable, "-P", "-m", "stream.cli.backtest", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_git_revisions(planner_repo: Path, handmade: Path, tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    done = vigil_backtest(planner_repo, "--events", str(handmade), "--base", "HEAD~1", "--head", "HEAD", tmpdir=scratch)

    assert done.returncode == 0, done.stderr
    sha = subprocess.run(["git", "rev-parse", "HEAD~1", "HEAD"], cwd=planner_repo, capture_output=True, text=True, check=True).stdout.split()
    assert done.stdout.startswith(f"# Backtest: `HEAD~1 ({sha[0][:12]})` vs `HEAD ({sha[1][:12]})`\n")
    assert "Head adds **3** notifications, removes **3** and sends **0** at another moment." in done.stdout
    assert "| `coverage_gap` | 2 | 2 | 1 | 1 |" in done.stdout
    assert "| 2025-07-06 03:00 CDT | `vi-north-camden` | P1 | initial | E2 | Folwell |" in done.stdout
    assert list(scratch.iterdir()) == []  # the extracted revisions are gone


def test_unknown_revision_exits_2(planner_repo: Path, handmade: Path, tmp_path: Path) -> None:
    done = vigil_backtest(planner_repo, "--events", str(handmade), "--base", "no-such-rev", "--head", "HEAD")
    assert done.returncode == 2
    assert f"vigil backtest: --base 'no-such-rev' is neither a config folder nor a git revision of {planner_repo}" in done.stderr
    assert done.stdout == ""

    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    done = vigil_backtest(outside, "--events", str(handmade), "--base", "HEAD~1", "--head", "HEAD")
    assert done.returncode == 2
    assert "--base 'HEAD~1' is neither a config folder nor a git revision" in done.stderr


def test_a_revision_without_the_deployment_exits_2(tmp_path: Path, handmade: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "README").write_text("nothing here\n", encoding="utf-8")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "empty")
    done = vigil_backtest(repo, "--events", str(handmade), "--base", "HEAD", "--head", "HEAD")
    assert done.returncode == 2
    assert "--base 'HEAD'" in done.stderr and "cannot extract the deployment" in done.stderr


def test_a_broken_config_at_a_revision_is_named_as_git_names_it(planner_repo: Path, handmade: Path) -> None:
    edit(planner_repo / "rules/minneapolis/protocols.yaml", "ack_within_minutes: 10", "ack_within_minutes: ten")
    git(planner_repo, "commit", "-q", "-am", "a typo")
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=planner_repo, capture_output=True, text=True, check=True).stdout.strip()

    done = vigil_backtest(planner_repo, "--events", str(handmade), "--base", "HEAD~1", "--head", "HEAD")

    assert done.returncode == 1
    assert done.stderr.startswith(f"vigil backtest: --head HEAD ({sha[:12]}): {sha[:12]}:rules/minneapolis/protocols.yaml:")
    assert "ack_within_minutes" in done.stderr


def test_forgetting_old_activations_changes_nothing(tmp_path: Path) -> None:
    """The backtest forgets old activations as the live stream does; the notifications and flags stay the same."""
    path = tmp_path / "weeks.jsonl"
    write_jsonl(generate_year(2025)[:300], path)
    history = read_history(path)
    deployment = load_deployment()
    source = ConfigSource("shipped", PACKAGE_ROOT)

    pruned = run(history, source, deployment)
    kept = run(history, source, deployment, prune_activations=False)

    assert [(s.key, s.at) for s in pruned.sent] == [(s.key, s.at) for s in kept.sent]
    assert pruned.activations.keys() == kept.activations.keys()
    assert all(pruned.activations[a].flags == kept.activations[a].flags for a in kept.activations)
    assert pruned.flagged("retaliation_watch")  # the look-back rule had earlier shootings to find


def test_a_synthetic_year_with_the_shift_moved(configs: tuple[Path, Path], tmp_path: Path) -> None:
    base, head = configs
    history = tmp_path / "year.jsonl"
    write_jsonl(generate_year(2025), history)

    started = time.monotonic()
    err = io.StringIO()
    comparison = backtest(history, str(base), str(head), err=err)
    seconds = time.monotonic() - started
    print(f"\nsynthetic year 2025: {comparison.history.size} events, both runs in {seconds:.1f} s")

    zone = comparison.zone
    newly, cleared = comparison.flag_changes("coverage_gap")
    newly_hours = {a.opened_at.astimezone(zone).hour for a in newly}
    cleared_hours = {a.opened_at.astimezone(zone).hour for a in cleared}
    assert newly and cleared
    assert newly_hours == {16, 17}  # the afternoon camden no longer works
    assert cleared_hours == {2, 3}  # the night hours it works now
    assert all(a.placement and a.placement.community == "Camden" for a in [*newly, *cleared])
    assert {s.team for s in comparison.added + comparison.removed} == {"vi-north-camden", "dns-oncall"}
    assert len(err.getvalue().splitlines()) == 2

    report = render_markdown(comparison)
    assert "| 16:00 | " in report and "| 02:00 | 0 | " in report
    print(report)
