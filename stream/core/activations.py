"""The activation core: reports → activations → notifications, escalations and acks.

Plain functions over an explicit ``CoreState`` and an explicit clock (``now``). The stream's activation
agent, `vigil replay`, `vigil rules test`, `vigil backtest`, the demo's prediction and the tests all call
these same functions:

- ``handle_event(state, event, now)``: correlate a shooting report into an activation (CAD re-sends and
  upgrades by incident id; a hospital arrival joins the one person-shot activation that began within 90
  minutes before it; a ShotSpotter activation and a CAD call near in space and time are one shooting),
  evaluate the protocols, and notify the teams not yet notified.
- ``handle_ack(state, ref, team, now, config, response)``: an ack (or "on my way") stops that team's
  escalation for that activation; "can't respond" brings the escalation forward to now.
- ``advance(state, now)``: fire the escalations that are due. Timers live in a heap; an entry made stale
  by an ack or a cursor that moved on is dropped when it comes up.

Each notified team keeps a snapshot of its escalation chain and a cursor (next step, due time, stopped),
as in Grafana OnCall. Ids are deterministic: activation = (jurisdiction, first report's incident),
intent = (activation, team, protocol, step).
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta

from geofences.coverage import distance_m
from rules.protocols import EarlierShooting, Facts, ProtocolSet, evaluate
from stream.core.messages import message_context
from stream.core.state import Activation, Config, CoreState, Notice, Outcome, opened_since
from stream.model.events import EventKind, NotificationIntent, ShootingEvent, stable_id
from stream.model.timeline import AckRecorded, ActivationDecided, EventReceived, IntentCreated

CAD_KINDS = (EventKind.PERSON_SHOT, EventKind.SHOTS_FIRED, EventKind.SHOTSPOTTER)


def _incident_key(event: ShootingEvent) -> str:
    return f"{event.source}:{event.incident_id}"


def activation_id_for(jurisdiction: str, source: str, incident_id: str) -> str:
    """The id of the activation a report opens (every re-send of the incident maps to it)."""
    return stable_id("act", jurisdiction, f"{source}:{incident_id}")


def _join_candidates(state: CoreState, event: ShootingEvent, now: datetime, config: Config) -> list[Activation]:
    correlation = config.protocols.spec.correlation
    if event.kind is EventKind.GSW_ARRIVAL:
        window = timedelta(minutes=correlation.hospital_join_minutes)
        arrived = event.reported_at
        found = [a for a in opened_since(state, arrived - window)
                 if a.jurisdiction == event.jurisdiction and correlation.hospital_join_kind in a.kinds
                 and a.placement is not None and a.placement.neighborhood is not None  # in the city
                 and arrived - window <= a.opened_at <= arrived]
        return found if len(found) == 1 else []  # exactly one, or it opens its own activation
    if event.location is None or event.kind not in CAD_KINDS:
        return []
    window = timedelta(minutes=correlation.shotspotter_join_minutes)
    lat, lon = event.location.lat, event.location.lon
    is_spotter = event.kind is EventKind.SHOTSPOTTER

    def complements(activation: Activation) -> bool:
        # a ShotSpotter report joins a CAD call's activation, and a CAD call a ShotSpotter one; two
        # separate CAD incidents stay apart (P7 is for those)
        other = {EventKind.SHOTSPOTTER} if not is_spotter else {EventKind.SHOTS_FIRED, EventKind.PERSON_SHOT}
        return bool(activation.kinds & other)

    near = [a for a in opened_since(state, now - window)
            if a.location is not None and complements(a) and a.opened_at <= now
            and distance_m(lat, lon, *a.location) <= correlation.shotspotter_join_m]
    return sorted(near, key=lambda a: distance_m(lat, lon, *a.location))[:1]  # type: ignore[misc]


def _open(state: CoreState, event: ShootingEvent, now: datetime, config: Config) -> Activation:
    location = (event.location.lat, event.location.lon) if event.location else None
    placement = config.coverage.at(*location, now) if location else None
    activation = Activation(
        id=activation_id_for(event.jurisdiction, event.source, event.incident_id),
        jurisdiction=event.jurisdiction,
        opened_at=now,
        location=location,
        placement=placement,
        coverage_version=config.coverage.version,
        protocol_version=config.protocols.version,
        first_event=event,
    )
    state.adopt(activation)
    return activation


def _absorb(activation: Activation, event: ShootingEvent) -> None:
    activation.event_ids.add(event.event_id)
    if event.ref not in activation.refs:
        activation.refs.append(event.ref)
    activation.kinds.add(event.kind)
    activation.fatal = activation.fatal or event.fatal
    activation.block = activation.block or event.block  # the first block reported stays: alerts must not flip between two
    if event.kind is EventKind.GSW_ARRIVAL:
        activation.arrivals[event.incident_id] = (event.hospital or "", event.intent)
        activation.arrived_at.setdefault(event.hospital or "", event.reported_at)
    else:
        activation.cad_victims = max(activation.cad_victims, event.victim_count)
    activation.ages += [a for a in event.victim_ages if a is not None and a not in activation.ages]


def _earlier(state: CoreState, activation: Activation, horizon: timedelta, kinds: frozenset[EventKind], reach_m: float) -> tuple[EarlierShooting, ...]:
    """Earlier activations a repeat condition could be about: of those kinds, within the reach (a cheap
    box test first, the protocols measure exact metres)."""
    if horizon <= timedelta(0) or activation.location is None:
        return ()
    lat, lon = activation.location
    dlat = reach_m / 111_000 + 1e-6
    dlon = dlat / max(0.1, math.cos(math.radians(lat)))
    return tuple(
        EarlierShooting(a.id, frozenset(a.kinds), a.opened_at, *a.location, a.placement.street_teams if a.placement else ())
        for a in opened_since(state, activation.opened_at - horizon)
        if a.id != activation.id and a.location is not None and a.kinds & kinds and abs(a.location[0] - lat) <= dlat
        and abs(a.location[1] - lon) <= dlon and a.opened_at <= activation.opened_at and a.jurisdiction == activation.jurisdiction
    )


def facts_of(state: CoreState, activation: Activation, protocols: ProtocolSet) -> Facts:
    """The activation as the protocols see it."""
    return Facts(
        kinds=frozenset(activation.kinds),
        arrivals=tuple(activation.arrivals.values()),
        fatal=activation.fatal,
        victims=max(activation.cad_victims, len(activation.arrivals)),
        ages=tuple(activation.ages),
        placement=activation.placement,
        location=activation.location,
        opened_at=activation.opened_at,
        earlier=_earlier(state, activation, protocols.repeat_horizon, *protocols.repeat_reach)
        if protocols.repeat_subjects is None or activation.kinds & protocols.repeat_subjects else (),
    )


def _intent(activation: Activation, notice: Notice, step: str, now: datetime, config: Config, escalated: Notice | None = None) -> NotificationIntent:
    team = config.coverage.teams[notice.team] if notice.team in config.coverage.teams else None
    audience = team.audience.value if team else "oncall"
    context = message_context(activation, notice, step, config, escalated)
    title, body = config.protocols.render(audience, context)
    step_key = f"escalation:{escalated.team}" if escalated else step
    return NotificationIntent(
        intent_id=stable_id("int", activation.id, notice.team, notice.protocol, step_key),
        activation_id=activation.id,
        team=notice.team,
        protocol=notice.protocol,
        step=step,
        escalated_team=escalated.team if escalated else None,
        refs=tuple(activation.refs),
        flags=tuple(activation.flags),
        title=title,
        body=body,
        created_at=now,
        ack_deadline=notice.ack_deadline,
        # what a missed deadline or a "can't respond" brings: the answer page tells the team only that
        escalates_to=tuple(s.team for s in notice.escalate) if notice.ack_deadline is not None else (),
    )


def _schedule(state: CoreState, activation: Activation, notice: Notice) -> None:
    due = notice.due()
    if due is not None:
        heapq.heappush(state.timers, (due, activation.id, notice.team, notice.cursor))


def handle_event(state: CoreState, event: ShootingEvent, now: datetime, config: Config) -> Outcome:
    """Correlate one shooting report, apply the protocols, and notify the teams not yet notified."""
    key = _incident_key(event)
    existing = state.by_incident.get(key)
    activation = state.activations.get(existing) if existing else None
    if activation is not None and event.event_id in activation.event_ids:
        return Outcome(activation_id=activation.id)  # the same report again (at-least-once delivery)
    created = False
    if activation is None:
        joined = _join_candidates(state, event, now, config)
        activation = joined[0] if joined else _open(state, event, now, config)
        created = not joined
        state.by_incident[key] = activation.id
    activation = state.writable(activation.id)
    state.by_ref[event.ref] = activation.id
    if event.incident_id != event.ref:
        state.by_ref.setdefault(event.incident_id, activation.id)
    before_flags = list(activation.flags)
    _absorb(activation, event)

    decision = evaluate(facts_of(state, activation, config.protocols), config.protocols, config.coverage)
    activation.flags += [f for f in decision.flags if f not in activation.flags]
    outcome = Outcome(activation_id=activation.id)
    step = "initial" if created else "update"
    for routing in decision.routings:
        if routing.team in activation.notices:
            continue  # nobody already notified is notified again
        deadline = now + timedelta(minutes=routing.ack_within_minutes) if routing.ack_within_minutes else None
        notice = Notice(routing.team, routing.protocol, step, now, deadline, routing.escalate)
        activation.notices[routing.team] = notice
        outcome.intents.append(_intent(activation, notice, step, now, config))
        _schedule(state, activation, notice)

    # One clock: a report is received no later than it is decided on. A stamp after ``now`` came from
    # another process's clock (an HL7 listener on the wall clock beside a worker on a demo clock).
    outcome.timeline.append(EventReceived(
        entry_id=stable_id("tl", activation.id, "event_received", event.event_id), activation_id=activation.id,
        at=min(event.received_at, now),
        event_id=event.event_id, event_kind=event.kind, source=event.source, incident_id=event.incident_id, reported_at=event.reported_at,
        location=event.location, block=event.block,
    ))
    placement = activation.placement
    outcome.timeline.append(ActivationDecided(
        entry_id=stable_id("tl", activation.id, "decided", event.event_id), activation_id=activation.id, at=now, event_id=event.event_id,
        teams=tuple(i.team for i in outcome.intents), protocols=decision.matched, flags=tuple(activation.flags),
        new_flags=tuple(f for f in activation.flags if f not in before_flags), step=step,
        cell=placement.cell if placement else None, neighborhood=placement.neighborhood if placement else None,
        community=placement.community if placement else None,
        coverage_version=activation.coverage_version, protocol_version=activation.protocol_version,
    ))
    outcome.timeline += [_intent_record(i) for i in outcome.intents]
    return outcome


def _intent_record(intent: NotificationIntent) -> IntentCreated:
    return IntentCreated(
        entry_id=stable_id("tl", intent.activation_id, "intent", intent.intent_id), activation_id=intent.activation_id, at=intent.created_at,
        intent_id=intent.intent_id, team=intent.team, protocol=intent.protocol, step=intent.step, escalated_team=intent.escalated_team,
        ack_deadline=intent.ack_deadline, escalates_to=intent.escalates_to,
    )


def handle_ack(state: CoreState, ref: str, team: str, now: datetime, config: Config | None = None, response: str = "ack") -> Outcome:
    """Record a team's answer. An ack or "on my way" stops that team's escalation for the activation;
    "can't respond" (``unable``) is not an ack: the team's pending escalation fires now (``config`` is
    needed to render it)."""
    activation_id = state.by_ref.get(ref) or (ref if ref in state.activations else None)
    if activation_id is None or activation_id not in state.activations:
        return Outcome(problem=f"no activation has the reference {ref!r}")
    if team not in state.activations[activation_id].notices:
        return Outcome(activation_id=activation_id, problem=f"team {team!r} was not notified for activation {activation_id}")
    activation = state.writable(activation_id)
    notice = activation.notices[team]
    in_time = notice.ack_deadline is None or now <= notice.ack_deadline
    if response == "unable":
        record = AckRecorded(
            entry_id=stable_id("tl", activation_id, "ack", team, response, now.isoformat()), activation_id=activation_id, at=now,
            team=team, first=False, within_deadline=in_time, response="unable",
        )
        outcome = Outcome(timeline=[record], activation_id=activation_id)
        if notice.due() is not None and config is not None:
            notice.declined_at = now
            _schedule(state, activation, notice)
            fired = advance(state, now, config)
            outcome.intents += fired.intents
            outcome.timeline += fired.timeline
        return outcome
    first = notice.acked_at is None
    if first:
        notice.acked_at = now
    record = AckRecorded(
        entry_id=stable_id("tl", activation_id, "ack", team, now.isoformat()), activation_id=activation_id, at=now, team=team,
        first=first, within_deadline=in_time, response="on_my_way" if response == "on_my_way" else "ack",
    )
    return Outcome(timeline=[record], activation_id=activation_id)


def advance(state: CoreState, now: datetime, config: Config) -> Outcome:
    """Fire every escalation due at or before ``now``, in due order."""
    outcome = Outcome()
    while state.timers and state.timers[0][0] <= now:
        due, activation_id, team, cursor = heapq.heappop(state.timers)
        activation = state.activations.get(activation_id)
        notice = activation.notices.get(team) if activation else None
        if activation is None or notice is None or notice.cursor != cursor or notice.due() != due:
            continue  # a stale tick: acked, or the cursor moved on
        activation = state.writable(activation_id)
        notice = activation.notices[team]
        step = notice.escalate[cursor]
        notice.cursor += 1
        target = activation.notices.get(step.team)
        escalation_notice = Notice(step.team, notice.protocol, "escalation", due, notice.ack_deadline, ())
        if step.team != team:
            intent = _intent(activation, escalation_notice, "escalation", due, config, escalated=notice)
            outcome.intents.append(intent)
            outcome.timeline.append(_intent_record(intent))
        if target is None:
            activation.notices.setdefault(step.team, Notice(step.team, notice.protocol, "escalation", due, None, ()))
        _schedule(state, activation, notice)
    return outcome


def prune(state: CoreState, now: datetime, keep: timedelta) -> int:
    """Forget activations older than ``keep`` with nothing pending; returns how many were dropped."""
    old = [a.id for a in state.activations.values()
           if now - a.opened_at > keep and all(n.due() is None for n in a.notices.values())]
    for activation_id in old:
        del state.activations[activation_id]
    if not old:
        return 0
    dropped = set(old)
    state.by_incident = {k: v for k, v in state.by_incident.items() if v not in dropped}
    state.by_ref = {k: v for k, v in state.by_ref.items() if v not in dropped}
    state.opened = deque(a for a in state.opened if a not in dropped)
    return len(old)


def overdue(state: CoreState, now: datetime) -> int:
    """Teams past their ack deadline at ``now`` with no ack whose escalation has not fired yet.

    A healthy worker fires an escalation on the tick after its due time, so this is 0 but for a moment;
    a number that stays up means the timer path is stuck. A notice with no escalation chain has nothing
    to fire and is not counted; nor is one that answered "can't respond" (its escalation fires at once).
    With ``after_minutes`` > 0 a team counts from its deadline until its escalation fires.
    """
    return sum(
        1
        for activation in state.activations.values()
        for notice in activation.notices.values()
        if notice.acked_at is None and notice.ack_deadline is not None and now > notice.ack_deadline
        and notice.escalate and notice.cursor == 0
    )


def notice_times(state: CoreState) -> Callable[[str, str], tuple[datetime, datetime | None] | None]:
    """(activation, team) → (when the team was told, its ack deadline), or None: what the metrics read of a notice."""

    def lookup(activation_id: str, team: str) -> tuple[datetime, datetime | None] | None:
        activation = state.activations.get(activation_id)
        notice = activation.notices.get(team) if activation else None
        return (notice.at, notice.ack_deadline) if notice else None

    return lookup
