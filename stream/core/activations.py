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
from rules.protocols import EarlierShooting, Facts, ProtocolSet, Routing, evaluate
from stream.core import answers, paging, tasks
from stream.core.messages import message_context
from stream.core.notices import intent_record
from stream.core.phrases import drilled, phrase
from stream.core.standdowns import STOOD_DOWN, Standdown, in_force
from stream.core.state import Activation, Attempt, Config, CoreState, News, Notice, Outcome, PagePlan, opened_since
from stream.model.events import BoardAction, EventKind, NotificationIntent, ShootingEvent, stable_id
from stream.model.timeline import AckRecorded, ActivationDecided, BoardActed, EventReceived, StoodDown

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
                 if a.jurisdiction == event.jurisdiction and a.drill == event.drill and correlation.hospital_join_kind in a.kinds
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
            if a.location is not None and complements(a) and a.drill == event.drill and a.opened_at <= now
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
        drill=event.drill,
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


def _intent(activation: Activation, notice: Notice, step: str, now: datetime, config: Config, escalated: Notice | None = None,
            language: str = "en", note: tuple[str, ...] = ()) -> NotificationIntent:
    team = config.coverage.teams[notice.team] if notice.team in config.coverage.teams else None
    audience = team.audience.value if team else "oncall"
    context = message_context(activation, notice, step, config, escalated, language)
    title, body = config.protocols.render(audience, context, language)
    lead = _note_text(note, language, config)
    if lead:
        body = f"{lead}\n{body}"
    if activation.drill:  # on every phone, first: nobody must mistake a drill for a shooting
        title, body = drilled(title, body, language)
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
        language=language,
        drill=activation.drill,
        stood_down_team=note[1] if note and note[0] == "standdown" else None,
        repaged_by=note[1] if note and note[0] == "repage" else None,
    )


def _note_text(note: tuple[str, ...], language: str, config: Config) -> str:
    """The line an alert starts with when it is not the plain alert: ("standdown", team, until, reason) for an
    alert redirected from a stood-down team, ("repage", by) for a page DNS sent again from the board."""
    if not note:
        return ""
    if note[0] == "standdown":
        _, team, until, reason = note
        local = datetime.fromisoformat(until).astimezone(config.protocols.zone)
        return phrase("standdown.redirect", language, team=team, until=f"{local:%H:%M}", reason=reason)
    return phrase("repage.body", language)


def _page(activation: Activation, plan: PagePlan, attempt: Attempt, config: Config) -> NotificationIntent:
    """One attempt of a plan: the team's alert, in the person's language, to that person on that channel."""
    notice = activation.notices[plan.team]
    escalated = activation.notices.get(plan.escalated_team) if plan.escalated_team else None
    if escalated is not None:
        notice = Notice(plan.team, escalated.protocol, "escalation", plan.at, escalated.ack_deadline, ())
    language = paging.language_of(config, plan.team, attempt.person)
    alert = _intent(activation, notice, plan.step, attempt.at, config, escalated, language, plan.note)
    return alert.model_copy(update={
        "intent_id": stable_id("int", plan.key, attempt.person, attempt.channel or "-"), "person": attempt.person,
        "channel": attempt.channel, "created_at": attempt.at,
    })


def _tell(state: CoreState, activation: Activation, intent: NotificationIntent, deadline: datetime | None, config: Config,
          outcome: Outcome, note: tuple[str, ...] = ()) -> None:
    """Tell a team: its alert goes to its shared recipients, or, for a team that pages its people, is recorded
    (``told``) while its plan's first pages go out (stream/core/paging.py)."""
    roster = paging.paged(intent.team, config)
    if roster is None:
        outcome.intents.append(intent)
        return
    plan = paging.plan_pages(roster, intent.intent_id, intent.team, intent.step, intent.created_at, deadline, config,
                             intent.escalated_team, note)
    outcome.told.append(intent.model_copy(update={"on_call": tuple(f"{layer}:{person}" for layer, person in plan.on_call)}))
    plan, due = paging.take_due(plan, intent.created_at)
    activation.plans[plan.key] = plan
    outcome.intents += [_page(activation, plan, attempt, config) for attempt in due]
    paging.schedule(state, activation, plan)


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
    for flag in activation.flags:
        activation.flagged_at.setdefault(flag, now)
    outcome = Outcome(activation_id=activation.id)
    step = "initial" if created else "update"
    told: list[str] = []
    for routing in decision.routings:
        if routing.team in activation.notices or routing.team in activation.redirected:
            continue  # nobody already notified is notified again
        found = in_force(config.standdowns, routing.team, placement_of(activation), now, config.protocols.zone)
        if found is not None and routing.team not in config.on_call_teams:
            told += _redirect(state, activation, routing, found, step, now, config, outcome)
            continue
        told.append(routing.team)
        deadline = now + timedelta(minutes=routing.ack_within_minutes) if routing.ack_within_minutes else None
        notice = Notice(routing.team, routing.protocol, step, now, deadline, routing.escalate)
        activation.notices[routing.team] = notice
        _tell(state, activation, _intent(activation, notice, step, now, config), deadline, config, outcome)
        _schedule(state, activation, notice)
    tasks.create(state, activation, now, config, outcome)

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
        teams=tuple(told), protocols=decision.matched, flags=tuple(activation.flags),
        new_flags=tuple(f for f in activation.flags if f not in before_flags), step=step,
        cell=placement.cell if placement else None, neighborhood=placement.neighborhood if placement else None,
        community=placement.community if placement else None,
        coverage_version=activation.coverage_version, protocol_version=activation.protocol_version, drill=activation.drill,
    ))
    outcome.timeline += [intent_record(i) for i in outcome.told + outcome.intents]
    return outcome


def placement_of(activation: Activation) -> str | None:
    """The neighborhood the activation is placed in (what an area standdown is about), None outside the city."""
    return activation.placement.neighborhood if activation.placement else None


def _fallbacks(routing: Routing, activation: Activation, now: datetime, config: Config) -> tuple[str, ...]:
    """Where a stood-down team's alert goes: its protocol's escalation targets that are not stood down themselves,
    else the on-call teams (which cannot be stood down)."""
    targets = [s.team for s in routing.escalate if s.team != routing.team
               and (s.team in config.on_call_teams
                    or in_force(config.standdowns, s.team, placement_of(activation), now, config.protocols.zone) is None)]
    return tuple(dict.fromkeys(targets)) or config.on_call_teams


def _redirect(state: CoreState, activation: Activation, routing: Routing, found: tuple[Standdown, datetime], step: str, now: datetime,
              config: Config, outcome: Outcome) -> list[str]:
    """A stood-down team's alert goes to its fallback at once, saying so; the activation is flagged ``stood_down``.
    Returns the teams told for the first time."""
    standdown, until = found
    targets = _fallbacks(routing, activation, now, config)
    activation.redirected[routing.team] = standdown.id
    if STOOD_DOWN not in activation.flags:
        activation.flags.append(STOOD_DOWN)
    outcome.timeline.append(StoodDown(
        entry_id=stable_id("tl", activation.id, "stood_down", routing.team), activation_id=activation.id, at=now, team=routing.team,
        standdown_id=standdown.id, reason=standdown.reason, until=until, redirected_to=targets,
    ))
    note = ("standdown", routing.team, until.isoformat(), standdown.reason)
    told = []
    for target in targets:
        if target not in activation.notices:
            activation.notices[target] = Notice(target, routing.protocol, step, now, None, ())
            told.append(target)
        intent = _intent(activation, Notice(target, routing.protocol, step, now, None, ()), step, now, config, note=note)
        intent = intent.model_copy(update={"intent_id": stable_id("int", activation.id, target, routing.protocol, f"stood_down:{routing.team}")})
        _tell(state, activation, intent, None, config, outcome, note)
    return told


def handle_ack(state: CoreState, ref: str, team: str, now: datetime, config: Config | None = None, response: str = "ack",
               person: str | None = None, by: str | None = None) -> Outcome:
    """Record a team's answer (``person``: who of its people answered, when known). An ack or "on my way"
    stops that team's paging and escalation for the activation; "can't respond" (``unable``) is not an ack:
    from a person of a paged team it skips them and pages the next person now, and only when nobody is left
    (or the answer names no person) does the team's pending escalation fire now. A person who acked and then
    can't respond withdraws their ack: unless someone else of the team stands behind one, the team's paging
    and escalation resume. ``by``: the DNS user who answered on the team's behalf from the live board. Every answer is shared with the activation (stream/core/answers.py); ``config``
    is needed to render what follows."""
    activation_id = state.by_ref.get(ref) or (ref if ref in state.activations else None)
    if activation_id is None or activation_id not in state.activations:
        return Outcome(problem=f"no activation has the reference {ref!r}")
    if team not in state.activations[activation_id].notices:
        return Outcome(activation_id=activation_id, problem=f"team {team!r} was not notified for activation {activation_id}")
    activation = state.writable(activation_id)
    notice = activation.notices[team]
    in_time = notice.ack_deadline is None or now <= notice.ack_deadline
    name = _person_name(config, team, person)
    if response == "unable":
        outcome = _unable(state, activation, notice, person, now, config)
        record = AckRecorded(
            entry_id=stable_id("tl", activation_id, "ack", team, response, *([person] if person else []), now.isoformat()), activation_id=activation_id, at=now,
            team=team, first=False, within_deadline=in_time, response="unable", person=person, name=name, by=by,
        )
        outcome.timeline.insert(0, record)
        if config is not None:
            answers.note(state, activation, News(team, person, name or team, "unable", now), config)
    else:
        first = notice.acked_at is None
        escalated = tuple(s.team for s in notice.escalate[:notice.cursor] if s.team != team) if first else ()
        if first:
            notice.acked_at = now
        if person is not None:
            activation.answers[f"{team}/{person}"] = response
        paging.stop(activation, team, now)
        for plan in list(activation.plans.values()):
            if plan.escalated_team == team:  # the teams escalated to stand down: their paging for this team ends
                paging.stop_plan(activation, plan.key, now)
        record = AckRecorded(
            entry_id=stable_id("tl", activation_id, "ack", team, *([person] if person else []), now.isoformat()), activation_id=activation_id, at=now, team=team,
            first=first, within_deadline=in_time, response="on_my_way" if response == "on_my_way" else "ack", person=person, name=name,
            by=by,
        )
        outcome = Outcome(timeline=[record], activation_id=activation_id)
        if config is not None:
            answers.note(state, activation, News(team, person, name or team, record.response, now, escalated), config)
    return outcome


def handle_action(state: CoreState, action: BoardAction, now: datetime, config: Config) -> Outcome:
    """What DNS did from the live board: ``repage`` pages the team again now (its people from the top of the
    rotation, or its shared recipients), each page saying so; ``close`` stops every page and escalation of the
    activation (its review stays). The same action again (``request_id``: a retried form, a re-delivered
    record) does nothing more."""
    activation_id = state.by_ref.get(action.ref) or (action.ref if action.ref in state.activations else None)
    if activation_id is None or activation_id not in state.activations:
        return Outcome(problem=f"no activation has the reference {action.ref!r}")
    entry_id = stable_id("tl", activation_id, "board_action", action.request_id)
    if action.action == "repage" and action.team not in state.activations[activation_id].notices:
        return Outcome(activation_id=activation_id, problem=f"team {action.team!r} was not told about activation {activation_id}")
    activation = state.writable(activation_id)
    outcome = Outcome(activation_id=activation_id)
    if action.action == "close":
        _close(activation, now)
    else:
        assert action.team is not None
        _repage(state, activation, action.team, action.request_id, action.by, now, config, outcome)
    outcome.timeline.insert(0, BoardActed(entry_id=entry_id, activation_id=activation_id, at=now, action=action.action, team=action.team,
                                          by=action.by))
    return outcome


def _close(activation: Activation, now: datetime) -> None:
    """Stop every escalation and page of the activation (answers already given are still shared)."""
    activation.closed_at = activation.closed_at or now
    for notice in activation.notices.values():
        notice.cursor = len(notice.escalate)  # its chain is done: no tick fires it
    for key in list(activation.plans):
        paging.stop_plan(activation, key, now)


def _repage(state: CoreState, activation: Activation, team: str, request_id: str, by: str, now: datetime, config: Config,
            outcome: Outcome) -> None:
    """Page a team again: its alert once more, to its people (a new plan) or its shared recipients."""
    notice = activation.notices[team]
    intent_id = stable_id("int", activation.id, team, "repage", request_id)
    if intent_id in activation.plans:
        return  # this re-page was done already
    deadline = notice.ack_deadline if notice.ack_deadline is not None and notice.ack_deadline > now else None
    step = notice.step if notice.step in ("initial", "update") else "update"
    note = ("repage", by)
    again = Notice(team, notice.protocol, step, now, deadline, ())
    intent = _intent(activation, again, step, now, config, note=note).model_copy(update={"intent_id": intent_id})
    told = Outcome()
    _tell(state, activation, intent, deadline, config, told, note)
    outcome.intents += told.intents
    outcome.told += told.told
    outcome.timeline += [intent_record(i) for i in told.told + told.intents]


def _person_name(config: Config | None, team: str, person: str | None) -> str | None:
    roster = config.rosters.get(team) if config is not None else None
    found = roster.find(person) if roster is not None else None
    return (found.name or found.id) if found is not None else person


def _unable(state: CoreState, activation: Activation, notice: Notice, person: str | None, now: datetime, config: Config | None) -> Outcome:
    """A "can't respond": withdraw the person's ack, page the next person, or bring the escalation forward."""
    outcome = Outcome(activation_id=activation.id)
    team = notice.team
    if person is not None:
        before = activation.answers.get(f"{team}/{person}")
        activation.answers[f"{team}/{person}"] = "unable"
        standing = [k for k, v in activation.answers.items() if k.startswith(f"{team}/") and v in ("ack", "on_my_way")]
        if before in ("ack", "on_my_way") and not standing and notice.acked_at is not None:
            notice.acked_at = None  # nobody stands behind the team's ack any more
            paging.resume(state, activation, team, now)
            _schedule(state, activation, notice)
        if any(plan.team == team for plan in activation.plans.values()) and paging.decline(state, activation, team, person, now):
            # someone else of the team is paged now (or still may answer) before the team escalates
            return outcome.add(advance(state, now, config)) if config is not None else outcome
    if notice.due() is not None and config is not None:
        notice.declined_at = now
        _schedule(state, activation, notice)
    return outcome.add(advance(state, now, config)) if config is not None else outcome


def advance(state: CoreState, now: datetime, config: Config) -> Outcome:
    """Fire every escalation, page and answers update due at or before ``now``, in due order."""
    outcome = Outcome()
    while True:
        escalation = state.timers[0][0] if state.timers and state.timers[0][0] <= now else None
        page = state.page_timers[0][0] if state.page_timers and state.page_timers[0][0] <= now else None
        if escalation is None and page is None:
            return outcome
        if page is None or (escalation is not None and escalation <= page):
            _escalate(state, heapq.heappop(state.timers), config, outcome)
        else:
            _next_pages(state, heapq.heappop(state.page_timers), config, outcome)


def _escalate(state: CoreState, timer: tuple[datetime, str, str, int], config: Config, outcome: Outcome) -> None:
    due, activation_id, team, cursor = timer
    activation = state.activations.get(activation_id)
    notice = activation.notices.get(team) if activation else None
    if activation is None or notice is None or notice.cursor != cursor or notice.due() != due:
        return  # a stale tick: acked, or the cursor moved on
    activation = state.writable(activation_id)
    notice = activation.notices[team]
    step = notice.escalate[cursor]
    notice.cursor += 1
    target = activation.notices.get(step.team)
    escalation_notice = Notice(step.team, notice.protocol, "escalation", due, notice.ack_deadline, ())
    if target is None:
        activation.notices.setdefault(step.team, Notice(step.team, notice.protocol, "escalation", due, None, ()))
    if step.team != team:
        told = Outcome()
        _tell(state, activation, _intent(activation, escalation_notice, "escalation", due, config, escalated=notice), None, config, told)
        outcome.intents += told.intents
        outcome.told += told.told
        outcome.timeline += [intent_record(i) for i in told.told + told.intents]
    _schedule(state, activation, notice)


def _next_pages(state: CoreState, timer: tuple[datetime, str, str, int], config: Config, outcome: Outcome) -> None:
    due, activation_id, key, cursor = timer
    activation = state.activations.get(activation_id)
    if activation is None:
        return
    if key.startswith(tasks.PREFIX):
        tasks.fire(state, activation_id, key.removeprefix(tasks.PREFIX), cursor, due, config, outcome)
        return
    if key == answers.NEWS:
        if cursor == activation.news_sent and activation.news:
            activation = state.writable(activation_id)
            updates = answers.fire(activation, cursor, due, config)
            outcome.intents += updates
            outcome.timeline += [intent_record(i) for i in updates]
        return
    plan = activation.plans.get(key)
    if plan is None or plan.cursor != cursor or plan.due() != due:
        return  # a stale tick: answered, declined, or the cursor moved on
    activation = state.writable(activation_id)
    plan, attempts = paging.take_due(plan, due)
    activation.plans[key] = plan
    pages = [_page(activation, plan, attempt, config) for attempt in attempts]
    outcome.intents += pages
    outcome.timeline += [intent_record(i) for i in pages]
    paging.schedule(state, activation, plan)


def prune(state: CoreState, now: datetime, keep: timedelta) -> int:
    """Forget activations older than ``keep`` with nothing pending; returns how many were dropped."""
    old = [a.id for a in state.activations.values()
           if now - a.opened_at > keep and all(n.due() is None for n in a.notices.values())
           and all(p.due() is None for p in a.plans.values()) and not a.news and not tasks.pending(a)]
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
