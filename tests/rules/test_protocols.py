"""Protocol files: one test per lint rule with its exact message and line, and the match conditions."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from geofences.coverage import NearbySchool, Placement
from rules.protocols import EarlierShooting, Facts, When, check_protocol_file, load_protocols, matches
from stream.core.deployment import DeploymentPaths
from stream.model.events import EventKind, Intent
from tests.helpers import vigil_in_process

PROTOCOLS = DeploymentPaths.bundled().protocols
TEAMS = {"vi-north-camden", "vi-north-nearnorth", "vi-south-phillips", "vi-south-powderhorn", "vi-central", "gvi-outreach", "dns-oncall",
         "nextstep-hcmc", "nextstep-abbott", "nextstep-childrens", "nextstep-northmemorial", "mps-safety"}
CHICAGO = ZoneInfo("America/Chicago")


def edited(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the protocols file with one edit."""
    path = tmp_path / "protocols.yaml"
    text = PROTOCOLS.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    return path


def errors(path: Path) -> list[str]:
    return [str(p) for p in check_protocol_file(path, TEAMS)[1]]


def test_the_shipped_protocols_have_no_errors() -> None:
    loaded = load_protocols(PROTOCOLS, TEAMS)
    assert [p.id for p in loaded.spec.protocols] == ["P1", "P2", "P3", "P3-unintentional", "P3-legal-intervention", "P4", "P5", "P6", "P7"]
    assert loaded.version.startswith("proto-")


def test_schema_error_with_line(tmp_path: Path) -> None:
    path = edited(tmp_path, "ack_within_minutes: 15\n        escalate", "ack_within_minutes: fifteen\n        escalate")
    assert errors(path) == [f"{path}:71: error: protocols.0.notify.0.ack_within_minutes: Input should be a valid integer, unable to parse string as an integer"]


def test_unknown_team_with_did_you_mean(tmp_path: Path) -> None:
    path = edited(tmp_path, "      - team: gvi-outreach", "      - team: gvi-outrech")
    assert errors(path) == [f'{path}:83: error: unknown team \'gvi-outrech\' (did you mean "gvi-outreach"?)']


def test_unknown_escalation_target(tmp_path: Path) -> None:
    path = edited(tmp_path, "escalate: [{team: dns-oncall}]", "escalate: [{team: dns-on-call}]")
    assert errors(path) == [f'{path}:72: error: unknown team \'dns-on-call\' (did you mean "dns-oncall"?)']


def test_repeated_protocol_id(tmp_path: Path) -> None:
    path = edited(tmp_path, "  - id: P2\n", "  - id: P1\n")
    followup = next(n for n, line in enumerate(path.read_text().splitlines(), 1) if "notified_under: [P2]" in line)
    assert errors(path) == [f"{path}:75: error: protocol id P1 is used twice (first at line 66)",
                            f"{path}:{followup}: error: follow-up F2: unknown protocol 'P2'"]


def test_template_that_does_not_compile(tmp_path: Path) -> None:
    path = edited(tmp_path, 'title: "VIGIL: {{ what }} - {{ place }}"', 'title: "VIGIL: {{ what }"')
    assert errors(path) == [f"{path}:30: error: templates.street.title: does not compile: unexpected '}}'"]


def test_template_that_fails_on_a_sample_event(tmp_path: Path) -> None:
    path = edited(tmp_path, 'title: "VIGIL: {{ what }} - {{ place }}"', 'title: "VIGIL: {{ victim_name }}"')
    assert errors(path) == [f"{path}:30: error: templates.street.title: fails to render a sample initial message: 'victim_name' is undefined"]


def test_template_cannot_reach_python_internals(tmp_path: Path) -> None:
    path = edited(tmp_path, 'title: "VIGIL: {{ what }} - {{ place }}"', 'title: "{{ what.__class__.__mro__[1].__subclasses__() }}"')
    (message,) = errors(path)
    assert message.startswith(f"{path}:30: error: templates.street.title: fails to render a sample initial message: access to attribute '__class__'")


def test_missing_audience_template(tmp_path: Path) -> None:
    text = PROTOCOLS.read_text()
    start, end = text.index("  school:\n    precision"), text.index("  oncall:\n")
    path = tmp_path / "protocols.yaml"
    path.write_text(text[:start] + text[end:])
    assert errors(path) == [f"{path}:28: error: templates: no template for audience 'school'"]


@pytest.mark.parametrize(
    ("old", "new", "line", "reason"),
    [
        ("when: {kinds: [gsw_arrival], intents: [assault, undetermined]}", "when: {kinds: [person_shot], intents: [assault, undetermined]}", 87,
         "`intents` describe hospital arrivals, but `kinds` leaves out gsw_arrival"),
        ("when: {victim_age_under: 18}", "when: {victim_age_under: 18, kinds: [shotspotter]}", 116,
         "victim conditions on kinds that carry no victims (shotspotter, shots_fired)"),
        ('between: ["07:00", "17:00"]', 'between: ["07:00", "07:00"]', 110, "`between` starts and ends at the same time: an empty window"),
        ("when: {kinds: [gsw_arrival], intents: [legal_intervention]}\n    notify:\n      - team: dns-oncall",
         "when: {kinds: [person_shot]}\n    notify:\n      - audience: hospital_team", 103,
         "audience hospital_team needs hospital arrivals, but `kinds` leaves out gsw_arrival"),
        ("when: {kinds: [person_shot], repeat: {kind: person_shot, within_m: 1000, within_hours: 72}}", "when: {kinds: [person_shot]}", 131,
         "audience street_on_shift_and_earlier needs a `repeat` condition to know the earlier shooting"),
    ],
)
def test_rules_that_can_never_notify(tmp_path: Path, old: str, new: str, line: int, reason: str) -> None:
    path = edited(tmp_path, old, new)
    (message,) = errors(path)
    assert message.startswith(f"{path}:{line}: error: protocol ") and message.endswith(f" can never notify anyone: {reason}")


def test_lint_command(tmp_path: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "stream.cli", "rules", "lint"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and ok.stdout.startswith("ok: 9 protocols, 5 templates, version proto-")
    assert ok.stdout.rstrip().endswith(", languages en, es, so, hmn")
    root = tmp_path / "repo"
    for folder in ("stream/minneapolis", "geofences/minneapolis", "rules/minneapolis"):
        shutil.copytree(PROTOCOLS.parents[2] / folder, root / folder)
    protocols = root / "rules/minneapolis/protocols.yaml"
    protocols.write_text(protocols.read_text().replace("- team: gvi-outreach", "- team: gvi"))
    bad = vigil_in_process("rules", "lint", "--config", str(root))  # the real process ran above
    assert bad.returncode == 1 and "unknown team 'gvi'" in bad.stdout and "1 error(s)" in bad.stderr


# ---- match conditions ------------------------------------------------------------------------------

SAT_NIGHT = datetime(2026, 7, 4, 22, 15, tzinfo=CHICAGO)
WED_NOON = datetime(2026, 7, 8, 12, 0, tzinfo=CHICAGO)
PLACE = Placement("89275268eb7ffff", "Jordan", "Near North", "4", ("vi-north-nearnorth",), ("vi-north-nearnorth",),
                  ("vi-north-nearnorth",), ("vi-north-nearnorth",), (NearbySchool("north-high", "North", 315.0),))


def facts(**kw) -> Facts:
    base = dict(kinds=frozenset({EventKind.PERSON_SHOT}), arrivals=(), fatal=False, victims=1, ages=(24,), placement=PLACE,
                location=(45.0003, -93.3001), opened_at=SAT_NIGHT, earlier=())
    return Facts(**{**base, **kw})


@pytest.mark.parametrize(
    ("when", "kw", "expected"),
    [
        (When(kinds=(EventKind.SHOTS_FIRED,)), {}, False),
        (When(intents=(Intent.ASSAULT,)), {"kinds": frozenset({EventKind.GSW_ARRIVAL}), "arrivals": (("hcmc", Intent.ASSAULT),)}, True),
        (When(intents=(Intent.ASSAULT,)), {"kinds": frozenset({EventKind.GSW_ARRIVAL}), "arrivals": (("hcmc", Intent.SELF_HARM),)}, False),
        (When(fatal=True), {}, False),
        (When(victims_at_least=3), {"victims": 3}, True),
        (When(victim_age_under=18), {"ages": (24, 17)}, True),
        (When(victim_age_under=18), {"ages": ()}, False),
        (When(has_location=True), {"location": None}, False),
        (When(school_within_m=500), {}, True),
        (When(school_within_m=300), {}, False),
        (When(days=("mon", "tue", "wed", "thu", "fri")), {}, False),
        (When(days=("wed",), between=("07:00", "17:00")), {"opened_at": WED_NOON}, True),
        (When(between=("22:00", "02:00")), {}, True),  # a window across midnight
        (When(any_of=(When(fatal=True), When(victims_at_least=2))), {"victims": 2}, True),
    ],
)
def test_conditions(when: When, kw: dict, expected: bool) -> None:
    assert matches(when, facts(**kw), CHICAGO) is expected


def test_repeat_within_distance_and_hours() -> None:
    from rules.protocols import Repeat

    when = When(repeat=Repeat(within_m=1000, within_hours=72))
    near = EarlierShooting("act-1", frozenset({EventKind.PERSON_SHOT}), datetime(2026, 7, 2, 23, 0, tzinfo=CHICAGO), 45.0050, -93.3001, ())
    far = EarlierShooting("act-2", frozenset({EventKind.PERSON_SHOT}), SAT_NIGHT, 45.0200, -93.3001, ())
    old = EarlierShooting("act-3", frozenset({EventKind.PERSON_SHOT}), datetime(2026, 7, 1, 22, 0, tzinfo=CHICAGO), 45.0050, -93.3001, ())
    assert matches(when, facts(earlier=(near,)), CHICAGO)
    assert not matches(when, facts(earlier=(far, old)), CHICAGO)


# ---- languages -------------------------------------------------------------------------------------

TRANSLATIONS = "\ntranslations:\n  es:\n    street:\n      title: \"VIGIL ES: {{ what }}\"\n      body: \"{{ what }} cerca de {{ where }}\"\n"


def with_translations(tmp_path: Path, block: str) -> Path:
    """A copy of the English-only part of the shipped file (everything before its translations) plus ``block``."""
    text = PROTOCOLS.read_text()
    english = text[: text.index("\ntranslations:")] if "\ntranslations:" in text else text
    path = tmp_path / "protocols.yaml"
    path.write_text(english + block)
    return path


def translation_line(path: Path, needle: str) -> int:
    return path.read_text().splitlines().index(needle) + 1


def test_the_shipped_protocols_have_spanish_somali_and_hmong() -> None:
    loaded = load_protocols(PROTOCOLS, TEAMS)
    assert loaded.languages == ("en", "es", "so", "hmn")
    for language in ("es", "so", "hmn"):
        for audience in ("street", "gvi", "hospital", "school", "oncall"):
            assert loaded.render(audience, SAMPLE, language) != loaded.render(audience, SAMPLE, "en"), (language, audience)


SAMPLE = {"what": "Person shot", "where": "Jordan (45.000, -93.300)", "place": "Jordan", "reported": "Sat 22:15", "ack_by": "22:25",
          "ref": "act-1", "step": "initial", "rule": "P2", "rule_name": "person shot", "flags": [], "hospital": "HCMC", "intent": "assault",
          "age_band": "18-24", "team": "vi-north-nearnorth", "escalated_team": "", "declined": False}


def test_render_uses_the_language_and_falls_back_to_english(tmp_path: Path) -> None:
    loaded = load_protocols(with_translations(tmp_path, TRANSLATIONS), TEAMS)
    assert loaded.languages == ("en", "es")
    assert loaded.render("street", SAMPLE, "es") == ("VIGIL ES: Person shot", "Person shot cerca de Jordan (45.000, -93.300)")
    assert loaded.render("street", SAMPLE, "fr") == loaded.render("street", SAMPLE, "en") == loaded.render("street", SAMPLE)
    assert loaded.render("street", SAMPLE)[0] == "VIGIL: Person shot - Jordan"
    assert loaded.render("gvi", SAMPLE, "es") == loaded.render("gvi", SAMPLE, "en")  # no Spanish gvi text: English


def test_unknown_audience_under_a_language_has_did_you_mean(tmp_path: Path) -> None:
    path = with_translations(tmp_path, TRANSLATIONS.replace("    street:", "    stret:"))
    assert errors(path) == [f"{path}:{translation_line(path, '    stret:')}: error: translations.es: unknown audience 'stret' (did you mean \"street\"?)"]


def test_a_language_code_that_is_not_iso_639(tmp_path: Path) -> None:
    path = with_translations(tmp_path, TRANSLATIONS.replace("  es:", "  Spanish:"))
    assert errors(path) == [f"{path}:{translation_line(path, '  Spanish:')}: error: translations: 'Spanish' is not an ISO 639 language code (e.g. es, so, hmn)"]


def test_english_is_the_templates_not_a_translation(tmp_path: Path) -> None:
    path = with_translations(tmp_path, TRANSLATIONS.replace("  es:", "  en:"))
    assert errors(path) == [f"{path}:{translation_line(path, '  en:')}: error: translations: English is `templates`, not a translation"]


def test_translated_template_that_does_not_compile(tmp_path: Path) -> None:
    path = with_translations(tmp_path, TRANSLATIONS.replace('"VIGIL ES: {{ what }}"', '"VIGIL ES: {{ what }"'))
    line = translation_line(path, '      title: "VIGIL ES: {{ what }"')
    assert errors(path) == [f"{path}:{line}: error: translations.es.street.title: does not compile: unexpected '}}'"]


def test_translated_template_that_fails_on_a_sample_event(tmp_path: Path) -> None:
    path = with_translations(tmp_path, TRANSLATIONS.replace("cerca de {{ where }}", "cerca de {{ donde }}"))
    line = translation_line(path, '      body: "{{ what }} cerca de {{ donde }}"')
    assert errors(path) == [f"{path}:{line}: error: translations.es.street.body: fails to render a sample initial message: 'donde' is undefined"]


def test_a_translation_cannot_change_the_precision(tmp_path: Path) -> None:
    path = with_translations(tmp_path, TRANSLATIONS + "      precision: none\n")
    (message,) = errors(path)
    assert message.startswith(f"{path}:{translation_line(path, '      precision: none')}: error: translations.es.street.precision: Extra inputs")


def test_has_template_says_which_audiences_a_language_has(tmp_path: Path) -> None:
    loaded = load_protocols(with_translations(tmp_path, TRANSLATIONS), TEAMS)
    assert loaded.has_template("street", "es") and not loaded.has_template("gvi", "es")
    assert loaded.has_template("gvi", "en") and not loaded.has_template("street", "fr")
