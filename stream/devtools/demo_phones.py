"""The demo's phones: every roster person's app (push) and SMS phone in the local inbox, by name.

The bundled rosters (geofences/minneapolis/rosters/) name placeholder people; the demo gives each of them
contact methods in its contacts file, tagged ``person-<id>`` and ``via-push``/``via-sms`` as a deployment's
file would be (notifiers/contacts.py), so the demo pages people by name. Each SMS phone is an inbox URL
that carries a phone number (``PhoneInbox.sms_url``): a number from 555-0100 to 555-0198, the range
reserved for fiction, so no real phone is ever named. The teams keep their shared phone (``<team>-lead``):
a team whose people have contact methods is paged person by person and its shared phone gets nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from geofences.roster import Roster
from notifiers.inbox import PhoneInbox
from stream.core.deployment import Deployment
from stream.core.oncall import who_is_on_call
from stream.core.state import Config

# Has no smartphone app: her pages come as texts, which she answers by reply (the demo's SMS answer). She is
# Near North's primary on the demo's evening (tests/stream/devtools/test_demo.py checks it).
SMS_ONLY = frozenset({"yer-l"})
FICTIONAL_NUMBERS = 99  # +1 612-555-0100 ... 0198; 0199 is the demo gateway's own number
TEAM_PHONE = "team"


@dataclass(frozen=True)
class Phone:
    """One recipient of the inbox: whose it is (a person, or None for the team's shared phone), their name,
    their team, the channel (push, sms, or ``team``) and an SMS phone's number."""

    recipient: str
    person: str | None
    name: str
    team: str
    channel: str
    number: str | None = None


class DemoPhones:
    """The demo's contacts: each roster person's push app and SMS phone (SMS only for ``SMS_ONLY``), each team's
    shared phone; and who each inbox recipient is."""

    def __init__(self, deployment: Deployment):
        self.deployment = deployment
        self.rosters: dict[str, Roster] = dict(sorted(deployment.rosters.items()))
        people = sorted({person.id for roster in self.rosters.values() for person in roster.people})
        if len(people) > FICTIONAL_NUMBERS:
            raise ValueError(f"the demo has fictional phone numbers for {FICTIONAL_NUMBERS} people, the rosters name {len(people)}")
        numbers = {person: f"+1612555{100 + n:04d}" for n, person in enumerate(people)}
        self.directory: dict[str, Phone] = {}
        for team in deployment.coverage.teams:
            self.directory[f"{team}-lead"] = Phone(f"{team}-lead", None, f"{team} shared phone", team, TEAM_PHONE)
        for team, roster in self.rosters.items():
            for person in roster.people:
                if person.id not in SMS_ONLY:
                    self.directory[f"{person.id}-push"] = Phone(f"{person.id}-push", person.id, person.name or person.id, team, "push")
                self.directory[f"{person.id}-sms"] = Phone(f"{person.id}-sms", person.id, person.name or person.id, team, "sms",
                                                           numbers[person.id])

    def channels(self) -> dict[str, tuple[str, ...]]:
        """Person id → their channels in the order they are tried, as the contacts file says them."""
        found: dict[str, list[str]] = {}
        for phone in self.directory.values():
            if phone.person is not None:
                found.setdefault(phone.person, []).append(phone.channel)
        return {person: tuple(sorted(chs, key=("push", "sms").index)) for person, chs in found.items()}

    def people_contacts(self, inbox: PhoneInbox) -> dict[str, list[tuple[str, str]]]:
        """Person id → their (Apprise URL, channel) contact methods in ``inbox``, for ``write_contacts``."""
        methods: dict[str, list[tuple[str, str]]] = {}
        for phone in self.directory.values():
            if phone.person is None:
                continue
            url = inbox.sms_url(phone.recipient, phone.number) if phone.number else inbox.apprise_url(phone.recipient)
            methods.setdefault(phone.person, []).append((url, phone.channel))
        return methods

    def config(self) -> Config:
        """The core's configuration for the demo: the deployment's rosters, and the people's channels."""
        return Config(self.deployment.coverage, self.deployment.protocols, rosters=self.rosters, channels=self.channels())

    def paged_teams(self) -> set[str]:
        """Teams paged person by person: a roster with somebody who has a contact method."""
        channels = self.channels()
        return {team for team, roster in self.rosters.items() if any(p.id in channels for p in roster.people)}

    def team_of(self, recipient: str) -> str:
        """The team of an inbox recipient (a name not in the directory: ``<team>-<phone>``, as before people)."""
        phone = self.directory.get(recipient)
        return phone.team if phone is not None else recipient.rsplit("-", 1)[0]

    def layer(self, phone: Phone, at: datetime) -> str:
        """Why the person was paged at ``at``: the layer they hold (primary, secondary), else ``everyone``."""
        roster = self.rosters.get(phone.team)
        if roster is None or phone.person is None:
            return TEAM_PHONE
        on_call = who_is_on_call(roster, at, self.deployment.coverage.zone)
        return next((held.layer for held in on_call.layers if held.person == phone.person), "everyone")

    def label(self, recipient: str, at: datetime) -> str:
        """How the demo names a recipient: ``Yer L. (primary, vi-north-nearnorth) sms``, or the shared phone's id."""
        phone = self.directory.get(recipient)
        if phone is None or phone.person is None:
            return recipient
        return f"{phone.name} ({self.layer(phone, at)}, {phone.team}) {phone.channel}"
