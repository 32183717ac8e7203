"""Paging inside a team: its people on call, one channel at a time, before and while the team escalates.

A team with a roster whose people have contact channels (``Config.channels``, from the contacts file) is
*paged*: when it is told of an activation, the core snapshots who is on call at that moment into a
``PagePlan`` (as the escalation chain is snapshotted into the notice) and works through it with a cursor:

- the primary at once, the secondary ``secondary_after_minutes`` later, everyone else on the roster
  ``everyone_after_minutes`` later (the first layer someone holds starts at once, so a gap in the
  primary layer does not delay the secondary);
- each person on their channels in order (push, SMS, e-mail), the next channel after the roster's wait for
  the last one;
- every attempt before the team's ack deadline: what the deadline brings is the protocol's escalation,
  exactly as the protocol says (the team-level lines of `vigil replay` do not change).

An answer from anyone on the team stops the team's plans (``stop``); a "can't respond" skips that person's
attempts and brings the next person forward (``decline``). A tick made stale by either is dropped when
it comes up, as for escalations. Each attempt is a ``NotificationIntent`` with ``person`` and ``channel``
and a deterministic id, recorded on the timeline like any alert.
"""

from __future__ import annotations

import heapq
from dataclasses import replace
from datetime import datetime, timedelta

from geofences.roster import Roster
from rules.protocols import ProtocolSet
from stream.core.oncall import who_is_on_call
from stream.core.phrases import language_for
from stream.core.state import Activation, Attempt, Config, CoreState, PagePlan

TEAM_LAYER = "team"  # the layer of someone paged as one of "everyone on the team"


def paged(team: str, config: Config) -> Roster | None:
    """The team's roster when the team pages its people: a roster, and someone on it with a contact channel."""
    roster = config.rosters.get(team)
    if roster is None or not any(config.channels.get(person.id) for person in roster.people):
        return None
    return roster


def _starts(roster: Roster, holders: list[tuple[str, str]]) -> list[tuple[str, str, float]]:
    """(person, layer, minutes after the notice) for the primary, the secondary and everyone else."""
    paging = roster.paging
    starts: list[tuple[str, str, float]] = []
    offset = {"primary": 0.0, "secondary": paging.secondary_after_minutes}
    first = min((offset[layer] for layer, _ in holders), default=0.0)
    for layer, person in holders:
        starts.append((person, layer, offset[layer] - first))
    held = {person for _, person in holders}
    everyone = paging.everyone_after_minutes - first if holders else 0.0
    starts += [(p.id, TEAM_LAYER, everyone) for p in roster.people if p.id not in held]
    return starts


def plan_pages(roster: Roster, key: str, team: str, step: str, at: datetime, deadline: datetime | None, config: Config,
               escalated_team: str | None = None, note: tuple[str, ...] = ()) -> PagePlan:
    """The plan for one team-level alert: who was on call at ``at`` and every attempt, in time order. ``note``: the
    line its pages start with (a redirect from a stood-down team, a re-page: stream/core/activations.py)."""
    on_call = who_is_on_call(roster, at, config.protocols.zone)
    holders = [(entry.layer, entry.person) for entry in on_call.layers]
    attempts: list[Attempt] = []
    for person, layer, minutes in _starts(roster, holders):
        moment = at + timedelta(minutes=minutes)
        for channel in config.channels.get(person) or (None,):
            if deadline is not None and moment >= deadline and attempts:
                break  # what the deadline brings is the team's escalation
            attempts.append(Attempt(person, layer, channel, moment))
            moment += timedelta(minutes=roster.paging.wait(channel or ""))
    attempts.sort(key=lambda a: a.at)  # stable: at one moment, the primary before the secondary
    return PagePlan(key=key, team=team, step=step, at=at, on_call=tuple(holders), attempts=tuple(attempts),
                    escalated_team=escalated_team, note=note)


def schedule(state: CoreState, activation: Activation, plan: PagePlan) -> None:
    """Put the plan's next attempt on the page timers (nothing when it is done or stopped)."""
    due = plan.due()
    if due is not None:
        heapq.heappush(state.page_timers, (due, activation.id, plan.key, plan.cursor))


def language_of(config: Config, team: str, person: str) -> str:
    """The language a person's pages are written in: their first language the templates have."""
    roster = config.rosters.get(team)
    found = roster.find(person) if roster is not None else None
    return language_for(found.languages if found is not None else (), config.protocols.languages)


def take_due(plan: PagePlan, now: datetime) -> tuple[PagePlan, list[Attempt]]:
    """The plan with its cursor past every attempt due by ``now``, and the attempts to send (a declined
    person's are skipped)."""
    sent: list[Attempt] = []
    cursor = plan.cursor
    while cursor < len(plan.attempts) and not plan.stopped:
        attempt = plan.attempts[cursor]
        if attempt.person not in plan.declined and attempt.at > now:
            break
        cursor += 1
        if attempt.person not in plan.declined:
            sent.append(attempt)
    return replace(plan, cursor=cursor), sent


def stop(activation: Activation, team: str, at: datetime) -> None:
    """An answer that stops the team's paging: every plan of the team stops (its ticks become stale)."""
    for key, plan in list(activation.plans.items()):
        if plan.team == team:
            stop_plan(activation, key, at)


def stop_plan(activation: Activation, key: str, at: datetime) -> None:
    """One plan stops (an answer, or a stand-down of the team it was escalated for)."""
    plan = activation.plans[key]
    if not plan.stopped:
        activation.plans[key] = replace(plan, stopped=True, stopped_at=at)


def resume(state: CoreState, activation: Activation, team: str, now: datetime) -> None:
    """A withdrawn ack: the team's stopped plans go on from where they stopped (what fell due meanwhile now)."""
    for key, plan in list(activation.plans.items()):
        if plan.team == team and plan.stopped:
            # what fell due while stopped goes now, and says so
            later = tuple(replace(a, at=max(a.at, now)) for a in plan.attempts[plan.cursor:])
            activation.plans[key] = resumed = replace(plan, attempts=plan.attempts[:plan.cursor] + later, stopped=False, stopped_at=None)
            schedule(state, activation, resumed)


def decline(state: CoreState, activation: Activation, team: str, person: str, now: datetime) -> bool:
    """A person's "can't respond": their attempts are skipped and the next person's first attempt comes
    forward to now. False when nobody on the team is left to page (the team's escalation should fire)."""
    left = False
    for key, plan in list(activation.plans.items()):
        if plan.team != team:
            continue
        declined = plan.declined | {person}
        waiting = [a for a in plan.attempts[plan.cursor:] if a.person not in declined]
        paged_people = {a.person for a in plan.attempts[:plan.cursor]} - declined
        left = left or bool(waiting) or bool(paged_people)
        attempts = plan.attempts
        if waiting and not plan.stopped:
            nxt = waiting[0].person  # the next person to page: their attempts move forward by the same amount
            shift = max(timedelta(0), waiting[0].at - now)
            later = (replace(a, at=a.at - shift) if a.person == nxt else a for a in plan.attempts[plan.cursor:])
            attempts = plan.attempts[:plan.cursor] + tuple(sorted(later, key=lambda a: a.at))
        activation.plans[key] = updated = replace(plan, declined=declined, attempts=attempts)
        schedule(state, activation, updated)
    return left


def people_paged(activation: Activation, team: str) -> list[str]:
    """Everyone of the team an attempt was sent to in this activation, in the order first paged."""
    found: dict[str, None] = {}
    for plan in activation.plans.values():
        if plan.team == team:
            for attempt in plan.attempts[:plan.cursor]:
                found.setdefault(attempt.person, None)
    return list(found)


SELECTOR_AUDIENCE = {"street_on_shift": "street", "street_on_shift_and_earlier": "street", "hospital_team": "hospital",
                     "school_team": "school"}


def deadline_problems(roster: Roster, audience: str, protocols: ProtocolSet) -> list[str]:
    """The layers a team's paging could never reach because a protocol's ack deadline for the team comes first
    (the escalation takes over at the deadline): one sentence each, for `vigil roster lint`."""
    found = []
    paging = roster.paging
    for protocol in protocols.spec.protocols:
        for notify in protocol.notify:
            reaches = notify.team == roster.team or (notify.audience is not None and SELECTOR_AUDIENCE.get(notify.audience) == audience)
            if not reaches or notify.ack_within_minutes is None:
                continue
            for layer, minutes in (("the secondary", paging.secondary_after_minutes), ("everyone", paging.everyone_after_minutes)):
                if minutes >= notify.ack_within_minutes:
                    found.append(f"{roster.team}: {layer} would be paged {minutes:g} minutes after an alert, but {protocol.id} "
                                 f"({protocol.name}) gives the team {notify.ack_within_minutes} minutes to answer: the escalation comes first")
    return found
