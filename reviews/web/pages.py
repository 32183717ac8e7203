"""What every page of the web app is made of: the templates, and the two ways a route stops early (a
refusal page with its status code, or a redirect)."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
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

    def __init__(self, status: int, heading: str, message: str, answer: str | None = None, language: str = "en",
                 links: tuple[tuple[str, str], ...] = ()):
        super().__init__(message)
        self.status = status
        self.heading = heading
        self.message = message
        self.answer = answer
        self.language = language
        self.links = links  # (href, text): the ways on from the page (a review page's: back to the day, the board)


class Redirect(Exception):
    """A request answered with a redirect (to the sign-in page, mostly)."""

    def __init__(self, location: str):
        super().__init__(location)
        self.location = location


def render_page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """``template`` (a file of reviews/templates/) rendered with ``context``, as an HTML response."""
    return HTMLResponse(TEMPLATES.get_template(template).render(**context), status_code=status)


def refusal_page(refusal: Refusal) -> HTMLResponse:
    """The page a refused request gets: its heading and message and its links, with its status code."""
    return render_page("message.html", refusal.status, lang=refusal.language, heading=refusal.heading, message=refusal.message, tone="refused",
                       links=refusal.links)


# what the site's message page says for the HTTP errors the framework raises itself (no route, wrong method, ...)
HTTP_ERRORS = {
    404: ("Not found", "There is no page at this address."),
    405: ("That cannot be done here", "This page does not take that kind of request (a form sent where none is taken, "
                                      "or a form's address opened as a page). Nothing was changed."),
    422: ("Not understood", "The request was not understood. Nothing was changed."),
}


def http_error_page(request: Request, status: int, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    """The site's message page for an HTTP error the framework raised (an unknown address, a method a route does not
    take), never its JSON: the status code and headers (a 405's ``Allow``) kept, with a way back: the page at this
    address when it can be opened, its parent otherwise, the day's activations and the live board."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    heading, message = HTTP_ERRORS.get(status, (phrase, "The request could not be answered."))
    message = f"{message} ({status} {phrase})"  # the standard name too: what a support person or a client looks for
    prefix = str(request.scope.get("root_path", "")).rstrip("/")
    path = request.url.path
    links: list[tuple[str, str]] = []
    if status == 405:
        takes_get = "GET" in (headers or {}).get("allow", (headers or {}).get("Allow", ""))
        back = path if takes_get else (path.rsplit("/", 1)[0] or prefix + "/")
        links.append((back, "Back to the page"))
    web = getattr(request.app.state, "web", None)
    if web is not None:
        today = web.today().isoformat()
        links += [(f"{prefix}/review/{today}", f"The day's activations ({today})"), (f"{prefix}/board", "The live board")]
    response = render_page("message.html", status, heading=heading, message=message, tone="refused", links=tuple(links))
    response.headers.update(dict(headers or {}))
    return response
