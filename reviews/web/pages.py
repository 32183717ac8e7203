"""What every page of the web app is made of: the templates, and the two ways a route stops early (a
refusal page with its status code, or a redirect)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parents[1] / "templates"),
    autoescape=True,
)
TEMPLATES.filters["urlpart"] = lambda value: quote(str(value), safe="")


class Refusal(Exception):
    """A request answered with a plain message and a status code instead of the page; ``answer`` is the
    result an ack answer refused this way is counted under (vigil_ack_answers_total); ``language``: the language
    heading and message are in (the page's ``lang``)."""

    def __init__(self, status: int, heading: str, message: str, answer: str | None = None, language: str = "en"):
        super().__init__(message)
        self.status = status
        self.heading = heading
        self.message = message
        self.answer = answer
        self.language = language


class Redirect(Exception):
    """A request answered with a redirect (to the sign-in page, mostly)."""

    def __init__(self, location: str):
        super().__init__(location)
        self.location = location


def render_page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """``template`` (a file of reviews/templates/) rendered with ``context``, as an HTML response."""
    return HTMLResponse(TEMPLATES.get_template(template).render(**context), status_code=status)


def refusal_page(refusal: Refusal) -> HTMLResponse:
    """The page a refused request gets: its heading and message, with its status code."""
    return render_page("message.html", refusal.status, lang=refusal.language, heading=refusal.heading, message=refusal.message, tone="refused")
