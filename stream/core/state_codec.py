"""The activation core's state as JSON, for the worker's Faust table (its changelog makes open
activations and deadlines survive a worker's death).

JSON rather than pickle: the changelog outlives the code that wrote it, and JSON can be read by a person
(``zlib.decompress`` first when it does not start with ``{``). Compressed (zlib, level 1) past 256 KB: a whole
jurisdiction's state is one table value,
hence one Kafka record, and the hostile-input run found that ~600 distinct open shootings made it pass the
producer's 1,000,000-byte limit, which stopped the worker. The JSON compresses about 12 times (700 open
shootings: 1.31 MB to 109 KB in 3.7 ms), which moves the limit to several thousand open shootings, far
beyond a real city's 73 h look-back (about 80); ``fit_state`` in the worker sheds what it can beyond that.
Plain JSON (starting with ``{``) and compressed values both load.
"""

from __future__ import annotations

import json
import zlib
from collections import deque
from datetime import datetime
from typing import Any

from geofences.coverage import NearbySchool, Placement
from rules.protocols import EscalationStep
from stream.core.activations import prune
from stream.core.state import MIN_RETENTION, Activation, Attempt, CoreState, News, Notice, PagePlan, Task
from stream.model.events import EventKind, Intent, ShootingEvent

FORMAT = 1
# below the producer's max_request_size (1,000,000 bytes, Faust's default), with room for the record's key and headers
STATE_LIMIT_BYTES = 900_000
# a city's evening (~80 activations, ~150 KB) is saved as it is, with every shooting: compressing costs a
# third more; a state past this is compressed
COMPRESS_ABOVE_BYTES = 256_000


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _placement(p: Placement | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {"cell": p.cell, "neighborhood": p.neighborhood, "community": p.community, "precinct": p.precinct, "covering": list(p.covering),
            "on_shift": list(p.on_shift), "street_teams": list(p.street_teams), "street_on_shift": list(p.street_on_shift),
            "schools": [[s.id, s.name, s.distance_m] for s in p.schools]}


def _read_placement(d: dict[str, Any] | None) -> Placement | None:
    if d is None:
        return None
    return Placement(d["cell"], d["neighborhood"], d["community"], d["precinct"], tuple(d["covering"]), tuple(d["on_shift"]),
                     tuple(d["street_teams"]), tuple(d["street_on_shift"]), tuple(NearbySchool(*s) for s in d["schools"]))


def _notice(n: Notice) -> dict[str, Any]:
    return {"team": n.team, "protocol": n.protocol, "step": n.step, "at": _time(n.at), "ack_deadline": _time(n.ack_deadline),
            "escalate": [s.model_dump() for s in n.escalate], "cursor": n.cursor, "acked_at": _time(n.acked_at),
            "declined_at": _time(n.declined_at)}


def _read_notice(d: dict[str, Any]) -> Notice:
    return Notice(d["team"], d["protocol"], d["step"], _parse(d["at"]), _parse(d["ack_deadline"]),  # type: ignore[arg-type]
                  tuple(EscalationStep(**s) for s in d["escalate"]), d["cursor"], _parse(d["acked_at"]),
                  _parse(d.get("declined_at")))


def _plan(p: PagePlan) -> dict[str, Any]:
    return {"key": p.key, "team": p.team, "step": p.step, "at": _time(p.at), "on_call": [list(h) for h in p.on_call],
            "attempts": [[a.person, a.layer, a.channel, _time(a.at)] for a in p.attempts], "escalated_team": p.escalated_team,
            "cursor": p.cursor, "declined": sorted(p.declined), "stopped": p.stopped, "stopped_at": _time(p.stopped_at),
            "note": list(p.note)}


def _read_plan(d: dict[str, Any]) -> PagePlan:
    return PagePlan(d["key"], d["team"], d["step"], _parse(d["at"]), tuple((layer, person) for layer, person in d["on_call"]),  # type: ignore[arg-type]
                    tuple(Attempt(person, layer, channel, _parse(at)) for person, layer, channel, at in d["attempts"]),  # type: ignore[arg-type]
                    d["escalated_team"], d["cursor"], frozenset(d["declined"]), d["stopped"], _parse(d["stopped_at"]),
                    tuple(d.get("note", ())))


def _news(n: News) -> list[Any]:
    return [n.team, n.person, n.name, n.response, _time(n.at), list(n.stand_down)]


def _read_news(d: list[Any]) -> News:
    team, person, name, response, at, stand_down = d
    return News(team, person, name, response, _parse(at), tuple(stand_down))  # type: ignore[arg-type]


def _task(t: Task) -> list[Any]:
    return [t.id, t.team, t.kind, t.rule, _time(t.due), _time(t.created_at), t.reminded, t.overdue_told, _time(t.closed_at), t.outcome]


def _read_task(d: list[Any]) -> Task:
    task_id, team, kind, rule, due, created_at, reminded, overdue_told, closed_at, outcome = d
    return Task(task_id, team, kind, rule, _parse(due), _parse(created_at), reminded, overdue_told, _parse(closed_at), outcome)  # type: ignore[arg-type]


def _activation(a: Activation) -> dict[str, Any]:
    return {
        "id": a.id, "jurisdiction": a.jurisdiction, "opened_at": _time(a.opened_at), "location": list(a.location) if a.location else None,
        "placement": _placement(a.placement), "coverage_version": a.coverage_version, "protocol_version": a.protocol_version,
        "refs": a.refs, "event_ids": sorted(a.event_ids), "kinds": sorted(k.value for k in a.kinds), "fatal": a.fatal,
        "cad_victims": a.cad_victims, "arrivals": {k: [h, i.value if i else None] for k, (h, i) in a.arrivals.items()},
        "arrived_at": {h: _time(t) for h, t in a.arrived_at.items()}, "ages": a.ages, "flags": a.flags,
        "notices": {t: _notice(n) for t, n in a.notices.items()},
        "first_event": a.first_event.model_dump(mode="json") if a.first_event else None,
        # paging (issue 16): absent from states saved before it, read as none
        "plans": {k: _plan(p) for k, p in a.plans.items()}, "answers": a.answers, "news": [_news(n) for n in a.news],
        "news_sent": a.news_sent,
        "block": a.block,
        # issue 17: absent from states saved before it, read as no drill, nothing redirected, open
        "drill": a.drill, "redirected": a.redirected, "closed_at": _time(a.closed_at),
        # issue 18: absent from states saved before it, read as no tasks
        "tasks": [_task(t) for t in a.tasks.values()], "flagged_at": {f: _time(t) for f, t in a.flagged_at.items()},
    }


def _read_activation(d: dict[str, Any]) -> Activation:
    return Activation(
        id=d["id"], jurisdiction=d["jurisdiction"], opened_at=_parse(d["opened_at"]),  # type: ignore[arg-type]
        location=tuple(d["location"]) if d["location"] else None,  # type: ignore[arg-type]
        placement=_read_placement(d["placement"]), coverage_version=d["coverage_version"], protocol_version=d["protocol_version"],
        refs=list(d["refs"]), event_ids=set(d["event_ids"]), kinds={EventKind(k) for k in d["kinds"]}, fatal=d["fatal"],
        cad_victims=d["cad_victims"], arrivals={k: (h, Intent(i) if i else None) for k, (h, i) in d["arrivals"].items()},
        arrived_at={h: _parse(t) for h, t in d["arrived_at"].items()},  # type: ignore[misc]
        ages=list(d["ages"]), flags=list(d["flags"]), notices={t: _read_notice(n) for t, n in d["notices"].items()},
        first_event=ShootingEvent.model_validate(d["first_event"]) if d["first_event"] else None,
        plans={k: _read_plan(p) for k, p in d.get("plans", {}).items()}, answers=dict(d.get("answers", {})),
        news=tuple(_read_news(n) for n in d.get("news", [])), news_sent=d.get("news_sent", 0),
        block=d.get("block"),  # states saved before activations kept the block have none
        drill=d.get("drill", False), redirected=dict(d.get("redirected", {})), closed_at=_parse(d.get("closed_at")),
        tasks={t[0]: _read_task(t) for t in d.get("tasks", [])},
        flagged_at={f: _parse(t) for f, t in d.get("flagged_at", {}).items()},  # type: ignore[misc]
    )


_COMPACT = (",", ":")


def dump_state(state: CoreState) -> bytes:
    """The state as compact JSON; zlib-compressed once it passes ``COMPRESS_ABOVE_BYTES``."""
    return StateEncoder().dump(state)


class StateEncoder:
    """``dump_state`` that keeps each activation's JSON from one dump to the next.

    A step never changes an activation it did not copy first (stream/core/state.py), so an activation object
    seen at the last dump is unchanged, and its JSON can be kept: a worker encodes the one or two activations
    a step wrote, not the whole evening (150 open activations: ~15 ms a save, most of it re-encoding). The
    bytes are the same as ``dump_state``'s.
    """

    def __init__(self) -> None:
        self._fragments: dict[int, tuple[Activation, str]] = {}  # id(activation) → (the activation, its JSON)

    def dump(self, state: CoreState) -> bytes:
        """The state's bytes (see ``dump_state``)."""
        fragments: dict[int, tuple[Activation, str]] = {}
        for activation in state.activations.values():
            known = self._fragments.get(id(activation))
            text = known[1] if known is not None and known[0] is activation else json.dumps(_activation(activation), separators=_COMPACT)
            fragments[id(activation)] = (activation, text)
        self._fragments = fragments
        rest = json.dumps({
            "by_incident": state.by_incident, "by_ref": state.by_ref,
            "timers": [[_time(due), a, t, c] for due, a, t, c in state.timers],
            "page_timers": [[_time(due), a, k, c] for due, a, k, c in state.page_timers],
            "opened": list(state.opened), "pruned_at": _time(state.pruned_at),
            "standdowns_checked_at": _time(state.standdowns_checked_at),
        }, separators=_COMPACT)
        activations = ",".join(text for _, text in fragments.values())
        raw = f'{{"format":{FORMAT},"activations":[{activations}],{rest[1:]}'.encode()
        return raw if len(raw) <= COMPRESS_ABOVE_BYTES else zlib.compress(raw, 1)


def load_state(raw: bytes | None) -> CoreState:
    """A state back from JSON (an empty one for None)."""
    if not raw:
        return CoreState()
    d = json.loads(raw if raw[:1] == b"{" else zlib.decompress(raw))
    if d.get("format") != FORMAT:
        raise ValueError(f"core state format {d.get('format')!r} is not {FORMAT}: written by another version of Vigil")
    activations = [_read_activation(a) for a in d["activations"]]
    return CoreState(
        activations={a.id: a for a in activations}, by_incident=dict(d["by_incident"]), by_ref=dict(d["by_ref"]),
        timers=[(_parse(due), a, t, c) for due, a, t, c in d["timers"]],  # type: ignore[misc]
        page_timers=[(_parse(due), a, k, c) for due, a, k, c in d.get("page_timers", [])],  # type: ignore[misc]
        opened=deque(d["opened"]), pruned_at=_parse(d.get("pruned_at")),
        standdowns_checked_at=_parse(d.get("standdowns_checked_at")),
    )


def fit_state(state: CoreState, limit: int = STATE_LIMIT_BYTES, encoder: StateEncoder | None = None) -> tuple[bytes, int]:
    """The state's bytes, at most ``limit`` long if shedding can make them so; and how many activations were
    shed. Beyond the limit (thousands of open shootings: a flood of forged reports, not a city's evening)
    the activations with nothing pending are forgotten, oldest first, by halving the look-back kept; they
    would only have served correlation and the retaliation watch. A state of only pending activations is
    returned whole, too large: the alerts it holds are not dropped silently."""
    encoder = encoder or StateEncoder()
    raw = encoder.dump(state)
    if len(raw) <= limit or not state.activations:
        return raw, 0
    newest = max(a.opened_at for a in state.activations.values())
    keep, shed = MIN_RETENTION, 0
    while len(raw) > limit and keep.total_seconds() >= 60:
        keep /= 2
        shed += prune(state, newest, keep)
        raw = encoder.dump(state)
    return raw, shed
