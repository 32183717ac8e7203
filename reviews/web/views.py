"""What the review pages show of an activation: the model's review turned into the values a template
prints (times in the deployment's zone, labels, the map), with no request and no store in sight."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog

from reviews.auth import may_record_for
from reviews.maps import neighborhood_map_svg
from reviews.model import AWAITING, CANT_RESPOND, IN_TIME, KIND_LABEL, LATE, NO_ANSWER, RESPONSE_LABEL, ActivationReview, TeamLine
from reviews.store import NoteRow, OutcomeRow
from reviews.users import User
from reviews.web.deps import WebContext

log = structlog.get_logger(__name__)

FLAG_LABELS = {"coverage_gap": "coverage gap", "retaliation_watch": "retaliation watch", "missed_ack": "missed ack",
               "cant_respond": "can't respond", "delivery_failure": "delivery failure"}
# how a team line reads its ack state beside the answer; awaiting is the answer itself (see _answer_text)
ACK_TIMING = {IN_TIME: "in time", LATE: "not in time", NO_ANSWER: "not in time", CANT_RESPOND: "", AWAITING: ""}
MAP_WIDTH = 480


def teams_of(review: ActivationReview) -> list[str]:
    """The teams alerted about an activation, in the order they were first told, once each."""
    return list(dict.fromkeys(line.team for line in review.teams))


def team_line_view(line: TeamLine, local: Callable[..., str]) -> dict[str, str]:
    """One team's line on an activation page: notified (and why, for an escalation), delivered, answered
    with how it stands against the deadline, and its escalation. ``local(moment, pattern)`` formats a time."""
    notified = f"{local(line.notified_at)} ({line.step}, {line.protocol})"
    if line.escalated_from:
        why = "answered can't respond" if line.escalated_because == "cant_respond" else "did not ack"
        notified += f", because {line.escalated_from} {why}"
    if line.ack_deadline is not None:
        notified += f"; ack by {local(line.ack_deadline)}"
    if line.delivery is None:
        delivery = "no delivery outcome"
    else:
        when = f" at {local(line.delivered_at)}" if line.delivered_at else ""
        delivery = f"{line.delivery}{when}, {line.reached} of {line.recipients} phones"
    if line.escalated_at is not None:
        escalation = f"escalated at {local(line.escalated_at)}" + (" (it answered can't respond)" if line.cant_respond else "")
    elif line.escalation_cancelled:
        escalation = "escalation cancelled"
    else:
        escalation = ""
    return {"team": line.team, "notified": notified, "delivery": delivery, "answer": _answer_text(line, local),
            "timing": ACK_TIMING.get(line.ack_state or "", ""), "escalation": escalation}


def _answer_text(line: TeamLine, local: Callable[..., str]) -> str:
    """The team's answers in the order given (an ack may follow a "can't respond"), or why there is none."""
    answers = []
    if line.answered_at is not None:
        label = RESPONSE_LABEL.get(line.response or "", line.response or "")
        answers.append((line.answered_at, f"{label} at {local(line.answered_at)} (+{line.minutes_to_ack or 0:.1f} min)"))
    if line.declined_at is not None:
        answers.append((line.declined_at, f"{RESPONSE_LABEL['unable']} at {local(line.declined_at)}"))
    if answers:
        return "; then ".join(text for _, text in sorted(answers))
    if line.ack_state == AWAITING and line.ack_deadline is not None:
        return f"awaiting (deadline {local(line.ack_deadline, '%H:%M')})"
    return "no answer"


def day_row_view(web: WebContext, review: ActivationReview, current: Mapping[tuple[str, str], OutcomeRow]) -> dict[str, Any]:
    """An activation's row on the day page: its time, kind, teams and each team's current outcome."""
    return {"review": review, "time": web.local(review.opened_at, "%H:%M"), "kind": KIND_LABEL[review.kind], "teams": teams_of(review),
            "outcomes": [{"team": t, "current": current.get((review.id, t))} for t in teams_of(review)]}


def activation_view(web: WebContext, review: ActivationReview, user: User, current: Mapping[tuple[str, str], OutcomeRow],
                    notes: Sequence[NoteRow] = (), *, map_width: int = MAP_WIDTH,
                    errors: Mapping[str, str] | None = None, drafts: Mapping[str, tuple[str, str]] | None = None) -> dict[str, Any]:
    """An activation as its page (and the packet) shows it: header, map, timeline, team lines, an outcome
    card per team (with the error and the draft of a refused form) and notes, for ``user``."""
    local = web.local
    return {
        "review": review,
        "kind": KIND_LABEL[review.kind],
        "opened": local(review.opened_at, "%a %d %b %Y, %H:%M:%S %Z"),
        "time": local(review.opened_at, "%H:%M"),
        "day": local(review.opened_at, "%Y-%m-%d"),
        "teams": teams_of(review),
        "steps": [{"time": local(step.at), "what": step.what, "text": step.text,
                   "plus": "" if step.minutes_since_previous is None else f"+{step.minutes_since_previous:.1f}"} for step in review.steps],
        "lines": [team_line_view(line, local) for line in review.teams],
        "outcomes": _outcome_cards(web, review, user, current, errors or {}, drafts or {}),
        "notes": [{"author": n.author, "text": n.text, "at": local(n.at, "%a %d %b %H:%M")} for n in notes],
        "map": _map_svg(web, review, map_width),
    }


def _outcome_cards(web: WebContext, review: ActivationReview, user: User, current: Mapping[tuple[str, str], OutcomeRow],
                   errors: Mapping[str, str], drafts: Mapping[str, tuple[str, str]]) -> list[dict[str, Any]]:
    cards = []
    for team in teams_of(review):
        row = current.get((review.id, team))
        chosen, reason = drafts.get(team, (row.outcome, row.reason or "") if row else ("", ""))
        cards.append({"team": team, "current": row, "recorded_at": web.local(row.recorded_at, "%a %d %b %H:%M") if row else "",
                      "can_record": may_record_for(user, team), "error": errors.get(team), "chosen": chosen, "reason": reason})
    return cards


def _map_svg(web: WebContext, review: ActivationReview, width: int) -> str | None:
    if review.cell is None:
        return None
    try:
        return neighborhood_map_svg(web.city(), review.cell, review.neighborhood, width)
    except ValueError:
        log.warning("review_web.map_failed", activation_id=review.id)
        return None
