"""What the review pages show of an activation: the model's review turned into the values a template
prints (times in the deployment's zone, labels, the map), with no request and no store in sight."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import structlog

from reviews.auth import may_record_for
from reviews.maps import neighborhood_map_svg
from reviews.model import AWAITING, CANT_RESPOND, IN_TIME, KIND_LABEL, LATE, NO_ANSWER, RESPONSE_LABEL, ActivationReview, TeamLine
from reviews.store import NoteRow, OutcomeRow
from reviews.tasks import KIND_LABELS as TASK_KIND_LABELS
from reviews.tasks import OUTCOME_LABELS as TASK_OUTCOME_LABELS
from reviews.tasks import Task, referral_text
from reviews.users import User
from reviews.web.deps import WebContext

log = structlog.get_logger(__name__)

FLAG_LABELS = {"coverage_gap": "coverage gap", "retaliation_watch": "retaliation watch", "missed_ack": "missed ack",
               "cant_respond": "can't respond", "delivery_failure": "delivery failure", "stood_down": "stood down"}
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
    if line.stood_down_for:
        notified += f", because {line.stood_down_for} is stood down"
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
    if line.repages:
        again = ", ".join(f"{local(at, '%H:%M')} by {by}" for at, by in line.repages)
        escalation = "; ".join(filter(None, [escalation, f"re-paged {again}"]))
    return {"team": line.team, "notified": notified, "delivery": delivery, "answer": _answer_text(line, local),
            "timing": ACK_TIMING.get(line.ack_state or "", ""), "escalation": escalation}


def _answer_text(line: TeamLine, local: Callable[..., str]) -> str:
    """The team's answers in the order given (an ack may follow a "can't respond"), or why there is none."""
    answers = []
    if line.answered_at is not None:
        label = RESPONSE_LABEL.get(line.response or "", line.response or "")
        text = f"{label} at {local(line.answered_at)} (+{line.minutes_to_ack or 0:.1f} min)" + _who(line.answered_name, line.answered_by, line.answered_at, local)
        answers.append((line.answered_at, text))
    if line.declined_at is not None:
        text = f"{RESPONSE_LABEL['unable']} at {local(line.declined_at)}" + _who(line.declined_name, line.declined_by, line.declined_at, local)
        answers.append((line.declined_at, text))
    if answers:
        return "; then ".join(text for _, text in sorted(answers))
    if line.ack_state == AWAITING and line.ack_deadline is not None:
        return f"awaiting (deadline {local(line.ack_deadline, '%H:%M')})"
    return "no answer"


def _who(name: str | None, by: str | None, at: datetime, local: Callable[..., str]) -> str:
    """Who gave an answer, for a team line: " (Yer L.)", or ", answered on the team's behalf by dns1 at 22:05"."""
    if by:
        return f", answered on the team's behalf by {by} at {local(at, '%H:%M')}"
    return f" ({name})" if name else ""


def answer_cell(line: TeamLine, local: Callable[..., str]) -> str:
    """A team's answer as the day list and the live board show it: "on my way 22:03 (Yer L.)", "can't respond 22:04
    (by dns1 for the team)", "awaiting, ack by 22:10", "no answer, ack was due 22:25" or "no answer (no deadline)"."""
    first = line.first_answer
    if first is not None:
        at, response = first
        name, by = line.first_answer_by
        who = f" (by {by} for the team)" if by else (f" ({name})" if name else "")
        late = ", late" if line.ack_state == LATE else ""
        return f"{RESPONSE_LABEL.get(response, response)} {local(at, '%H:%M')}{who}{late}"
    if line.ack_deadline is None:
        return "no answer (no deadline)"
    if line.ack_state == AWAITING:
        return f"awaiting, ack by {local(line.ack_deadline, '%H:%M')}"
    return f"no answer, ack was due {local(line.ack_deadline, '%H:%M')}"


def _team_answers(review: ActivationReview, local: Callable[..., str]) -> list[dict[str, str]]:
    """Each team told, once, with its answer: its own alert (the one with a deadline) over an escalation's."""
    first: dict[str, TeamLine] = {}
    for line in review.teams:
        if line.team not in first or (first[line.team].ack_deadline is None and line.ack_deadline is not None):
            first[line.team] = line
    return [{"team": team, "answer": answer_cell(line, local), "state": line.ack_state or ""} for team, line in first.items()]


def day_row_view(web: WebContext, review: ActivationReview, current: Mapping[tuple[str, str], OutcomeRow]) -> dict[str, Any]:
    """An activation's row on the day page: its time, kind, teams and each team's current outcome."""
    return {"review": review, "time": web.local(review.opened_at, "%H:%M"), "kind": KIND_LABEL[review.kind], "teams": teams_of(review),
            "answers": _team_answers(review, web.local),
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
        "closed": f"closed from the board by {review.closed_by} at {local(review.closed_at, '%H:%M')}" if review.closed_at else "",
        "stood_down": [f"{t.team} stood down ({t.reason}) until {local(t.until, '%a %H:%M')}: alert sent to {', '.join(t.redirected_to) or 'nobody'}"
                       for t in review.stood_down_teams],
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


def task_views(web: WebContext, tasks: Sequence[Task], user: User) -> list[dict[str, Any]]:
    """Follow-up tasks as the activation page and ``/tasks`` show them (reviews/tasks.py): team, kind, due (local),
    state, the closing's outcome, referrals and who closed it when, and whether ``user`` may close it."""
    now = web.review_clock()
    views = []
    for task in tasks:
        state, closed = task.state(now), task.closed
        closer = (closed.by or closed.person or "") if closed is not None else ""
        views.append({
            "id": task.task_id, "activation": task.activation_id, "team": task.team, "kind": TASK_KIND_LABELS.get(task.kind, task.kind),
            "rule": task.rule, "due": web.local(task.due, "%a %d %b %H:%M"), "state": state,
            "outcome": TASK_OUTCOME_LABELS.get(closed.outcome, closed.outcome) if closed is not None else "",
            "referrals": [referral_text(r) for r in task.referrals],
            "closed": f"by {closer} at {web.local(closed.at, '%a %d %b %H:%M')}" if closer and closed is not None
                      else (f"at {web.local(closed.at, '%a %d %b %H:%M')}" if closed is not None else ""),
            "can_close": closed is None and may_record_for(user, task.team),
        })
    return views
