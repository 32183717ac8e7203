"""Rosters as planner files: a team's people, its rotation layers, dated overrides and swaps.

One YAML file per team in the deployment's ``rosters/`` folder (beside the teams file), in git. People are
named by id only: phone numbers and addresses stay in the contacts file, which is kept out of git. Handoff
times and override bounds are local wall-clock times in the deployment's zone; ``stream.core.oncall`` turns
them into instants (daylight saving included). Every problem is found at load, all at once, with file, line
and a did-you-mean, as for teams and protocols.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from geofences.problems import ERROR, ConfigError, LineLocator, Problem, did_you_mean, load_model
from geofences.shifts import ClockTime, Schedule, Shift

LayerName = Literal["primary", "secondary"]
LAYERS: tuple[LayerName, ...] = ("primary", "secondary")
PERSON_ID = r"^[a-z0-9][a-z0-9-]*$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Person(_Frozen):
    """Someone on a team: an id (no phone number), a display name, the languages they read, preferred first."""

    id: str = Field(pattern=PERSON_ID)
    name: str = ""
    languages: tuple[str, ...] = Field(default=("en",), min_length=1)

    @model_validator(mode="after")
    def _language_codes(self) -> Person:
        for code in self.languages:
            if not (code.isascii() and code.isalpha() and code.islower() and 2 <= len(code) <= 3):
                raise ValueError(f"{code!r} is not an ISO 639 language code (e.g. en, es, so, hmn)")
        return self


class Rotation(_Frozen):
    """A rotation layer: ``people`` take turns of ``turn_days`` days, handing off at ``handoff`` local time;
    the first turn begins at the handoff on ``starts`` with the first person. With ``shifts`` the layer is on
    only in those hours (wall clock, like a team's shifts); without, around the clock."""

    layer: LayerName
    people: tuple[str, ...] = Field(min_length=1)
    handoff: ClockTime
    turn_days: int = Field(default=7, ge=1, le=28)
    starts: date
    shifts: tuple[Shift, ...] = ()

    @property
    def schedule(self) -> Schedule | None:
        """The hours the layer is on, or None for around the clock."""
        return Schedule.build(self.shifts, ()) if self.shifts else None


class Override(_Frozen):
    """``person`` holds ``layer`` from ``start`` to ``end`` (local wall-clock date-times, no offset)."""

    layer: LayerName
    person: str
    start: datetime
    end: datetime
    note: str = ""

    @model_validator(mode="after")
    def _local_and_ordered(self) -> Override:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("override times are local wall-clock times: write them without a UTC offset")
        if self.end <= self.start:
            raise ValueError("an override's end must be after its start")
        return self


class Swap(_Frozen):
    """The turn of ``layer`` that begins at the handoff on ``date`` is ``person``'s; ``covered_by`` works it."""

    layer: LayerName
    date: date
    person: str
    covered_by: str
    note: str = ""


class Paging(_Frozen):
    """How a team's people are paged before the team escalates (stream/core/paging.py): the primary at once,
    the secondary after ``secondary_after_minutes`` with no answer, everyone on the team after
    ``everyone_after_minutes``; each person on their channels in order (contacts file), moving to the next
    channel after that channel's wait (``channel_wait_minutes``, by channel; ``default_wait_minutes`` for
    others). All of it runs inside the team's ack deadline; the protocol's escalation is unchanged."""

    secondary_after_minutes: float = Field(default=3, ge=0, le=24 * 60)
    everyone_after_minutes: float = Field(default=6, ge=0, le=24 * 60)
    channel_wait_minutes: dict[str, float] = Field(default_factory=lambda: {"push": 2.0, "sms": 2.0})
    default_wait_minutes: float = Field(default=2, gt=0, le=24 * 60)

    @model_validator(mode="after")
    def _ordered(self) -> Paging:
        if self.everyone_after_minutes < self.secondary_after_minutes:
            raise ValueError("everyone_after_minutes must not be before secondary_after_minutes")
        if any(wait <= 0 for wait in self.channel_wait_minutes.values()):
            raise ValueError("channel_wait_minutes: every wait must be above 0")
        return self

    def wait(self, channel: str) -> float:
        """Minutes to wait for an answer on ``channel`` before the next channel."""
        return self.channel_wait_minutes.get(channel, self.default_wait_minutes)


class Roster(_Frozen):
    """A team's roster file."""

    team: str
    people: tuple[Person, ...] = Field(min_length=1)
    rotations: tuple[Rotation, ...] = Field(min_length=1)
    overrides: tuple[Override, ...] = ()
    swaps: tuple[Swap, ...] = ()
    paging: Paging = Paging()

    def person(self, person_id: str) -> Person:
        """A person of the roster by id."""
        return next(p for p in self.people if p.id == person_id)

    def find(self, person_id: str | None) -> Person | None:
        """A person of the roster by id, or None when nobody has it."""
        return next((p for p in self.people if p.id == person_id), None)


def turn_holder(rotation: Rotation, turn_day: date) -> str:
    """Whose turn of a rotation begins at the handoff on ``turn_day`` (or, between handoffs, is running)."""
    index = (turn_day - rotation.starts).days // rotation.turn_days
    return rotation.people[index % len(rotation.people)]


def swap_problems(roster: Roster) -> list[tuple[int, str]]:
    """Swaps that name no turn: the date is no handoff of the layer, or the turn there is someone else's."""
    found = []
    for i, swap in enumerate(roster.swaps):
        rotations = [r for r in roster.rotations if r.layer == swap.layer]
        starting = [r for r in rotations if (swap.date - r.starts).days % r.turn_days == 0]
        if not starting:
            found.append((i, f"no {swap.layer} turn begins on {swap.date} (turns begin every {rotations[0].turn_days if rotations else '?'} "
                             f"day(s) from {rotations[0].starts if rotations else '?'})"))
        elif not any(turn_holder(r, swap.date) == swap.person for r in starting):
            holders = ", ".join(sorted({turn_holder(r, swap.date) for r in starting}))
            found.append((i, f"the {swap.layer} turn beginning on {swap.date} is {holders}'s, not {swap.person!r}'s"))
    return found


class RosterError(ConfigError):
    """Roster files with errors: every problem with its file and line."""


@dataclass(frozen=True)
class RosterSet:
    """Every team's roster, by team id, and the file each came from."""

    rosters: dict[str, Roster]
    files: dict[str, Path]


def roster_files(folder: Path) -> list[Path]:
    """The roster files of a deployment's ``rosters/`` folder, in name order (none when it is missing)."""
    return sorted(folder.glob("*.yaml")) if folder.is_dir() else []


def _reference_problems(path: Path, locator: LineLocator, roster: Roster, teams: set[str]) -> list[Problem]:
    """Unknown team, unknown or repeated people, each with its line and a did-you-mean."""
    problems: list[Problem] = []

    def unknown(where: tuple[str | int, ...], what: str, value: str, choices: set[str]) -> None:
        problems.append(Problem(path, locator.line(where), ERROR,
                                f"{'.'.join(map(str, where))}: unknown {what} {value!r}{did_you_mean(value, choices)}"))

    if roster.team not in teams:
        unknown(("team",), "team", roster.team, teams)
    if path.stem != roster.team:
        problems.append(Problem(path, locator.line(("team",)), ERROR,
                                f"team: the file of team {roster.team!r} must be named {roster.team}.yaml"))
    ids: set[str] = set()
    for i, person in enumerate(roster.people):
        if person.id in ids:
            problems.append(Problem(path, locator.line(("people", i, "id")), ERROR, f"people.{i}.id: {person.id!r} is listed twice"))
        ids.add(person.id)
    for i, rotation in enumerate(roster.rotations):
        for j, person_id in enumerate(rotation.people):
            if person_id not in ids:
                unknown(("rotations", i, "people", j), "person", person_id, ids)
    for i, override in enumerate(roster.overrides):
        if override.person not in ids:
            unknown(("overrides", i, "person"), "person", override.person, ids)
    for i, swap in enumerate(roster.swaps):
        for field in ("person", "covered_by"):
            if getattr(swap, field) not in ids:
                unknown(("swaps", i, field), "person", getattr(swap, field), ids)
    return problems


def load_roster(path: Path, teams: set[str]) -> tuple[Roster | None, list[Problem]]:
    """One roster file, checked against the deployment's team ids."""
    roster, locator, problems = load_model(path, Roster)
    if roster is None or locator is None:
        return None, problems
    problems = _reference_problems(path, locator, roster, teams)
    if not problems:
        problems = [Problem(path, locator.line(("swaps", i)), ERROR, f"swaps.{i}: {message}") for i, message in swap_problems(roster)]
    return (None if problems else roster), problems


def load_rosters(folder: Path, teams: set[str]) -> tuple[RosterSet, list[Problem]]:
    """Every roster file of a folder; the set holds the files without errors, the problems list all errors."""
    rosters: dict[str, Roster] = {}
    files: dict[str, Path] = {}
    problems: list[Problem] = []
    for path in roster_files(folder):
        roster, found = load_roster(path, teams)
        problems += found
        if roster is not None:
            rosters[roster.team] = roster
            files[roster.team] = path
    return RosterSet(rosters, files), problems


def compile_rosters(folder: Path, teams: set[str]) -> RosterSet:
    """Load every roster of a folder; raises RosterError listing every problem with its file and line."""
    rosters, problems = load_rosters(folder, teams)
    if problems:
        raise RosterError(problems)
    return rosters
