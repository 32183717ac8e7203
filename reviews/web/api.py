"""Provider data access (issue 19, item 3): ``GET /api/v1/activations``, ``/api/v1/notifications`` and ``/api/v1/tasks``,
read with a per-team API token (`vigil tokens add`), and the API's OpenAPI document at ``/api/v1/openapi.json``.

A token is the permission, not a session: ``Authorization: Bearer <token>``. A team's token reads its own rows only
(activations it was told about, notifications to it, its tasks); DNS's (the on-call team's) reads every team's. A
missing, unknown or revoked token is the same 401 with the same body, so a caller learns nothing about which tokens
exist. What a row carries is reviews/provider_data.py's: never a person, patient data or free text.

Pages are read in (at, entry) order with an opaque cursor: ``next`` is where the page ended, given back as ``cursor=``
to read on. The order is keyset, so a row stored while a client walks the pages is never seen twice. ``since=`` (an
ISO time with an offset) keeps rows at or after it. Every call is audited (username ``token:<id>``: no user can have a
colon in their name) and the token's last use is stored; a refused call is logged, not audited (nobody read anything).
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, Depends, Query, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from reviews.provider_data import ActivationRow, NotificationRow, TaskRow, rows_of
from reviews.store import ApiToken, TimelineRow
from reviews.web.deps import Web, WebContext, app_path, audit, client_of, in_review_store

log = structlog.get_logger(__name__)

API_PREFIX = "/api/v1"
DEFAULT_LIMIT = 100
MAX_LIMIT = 500  # a larger limit is cut to this: one page is one bounded read of the store
UNAUTHORIZED = "A valid API token is required: send it as 'Authorization: Bearer <token>' (ask DNS for one: vigil tokens add)"
_CURSOR_VERSION = 1

router = APIRouter(prefix=API_PREFIX)
# declares the bearer scheme in the OpenAPI document; auto_error off: every refusal is ours, one body for all
_bearer = HTTPBearer(auto_error=False, description="A provider API token (vigil tokens add): 'Authorization: Bearer vgl_...'.")


class ApiError(Exception):
    """A request to the API answered with a JSON error (``error``: a short code, ``detail``: the reason) and a status."""

    def __init__(self, status: int, error: str, detail: str):
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail


def api_error_response(status: int, error: str, detail: str) -> JSONResponse:
    """The API's error body; a 401 names the scheme it wants (``WWW-Authenticate: Bearer``)."""
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


def is_api_request(request: Request) -> bool:
    """Whether a request is to the API (its errors are JSON, not the site's message page)."""
    return app_path(request).startswith(f"{API_PREFIX}/")


class ErrorBody(BaseModel):
    """What every refused API request gets."""

    error: str = Field(description="unauthorized, bad_request, not_found, unavailable, ...")
    detail: str = Field(description="Why, in words.")


class _Page(BaseModel):
    model_config = ConfigDict(extra="forbid")

    next: str | None = Field(description="Give as cursor= to read on from the end of this page (null: an empty first page).")
    has_more: bool = Field(description="Whether more rows follow now (read on with next).")
    limit: int = Field(description="The page size used (at most 500).")


class ActivationPage(_Page):
    """A page of activations."""

    data: list[ActivationRow]


class NotificationPage(_Page):
    """A page of notifications."""

    data: list[NotificationRow]


class TaskPage(_Page):
    """A page of follow-up tasks."""

    data: list[TaskRow]


async def api_token(request: Request, web: Web,
                    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> ApiToken:
    """The live API token of the request (a dependency), its last use stored; any other request is a 401 (audited)."""
    token = credentials.credentials if credentials is not None else None
    found = await in_review_store(web.store.use_api_token, token, web.clock()) if token else None
    if found is None:
        # one answer for a missing, malformed, unknown or revoked token: no oracle for which tokens exist. Logged, not
        # audited: the audit log is what was read and changed, and an anonymous caller must not be able to fill it
        log.warning("review_web.api_refused", route=app_path(request), client=str(client_of(request)))
        raise ApiError(401, "unauthorized", UNAUTHORIZED)
    return found


Token = Annotated[ApiToken, Depends(api_token)]
Cursor = Annotated[str | None, Query(description="The next of the previous page, to read on from there.")]
Since = Annotated[str | None, Query(description="Only rows at or after this time: ISO 8601 with an offset, e.g. 2026-07-01T00:00:00Z.")]
Limit = Annotated[int, Query(description=f"Rows per page, 1 to {MAX_LIMIT} (more is cut to {MAX_LIMIT}).")]


def encode_cursor(kind: str, row: TimelineRow) -> str:
    """The opaque cursor just after ``row`` in ``kind``'s order."""
    raw = json.dumps({"v": _CURSOR_VERSION, "k": kind, "at": row.at.isoformat(), "id": row.entry_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str) -> tuple[datetime, str]:
    """The (at, entry id) a cursor of ``kind`` stands for; ``ApiError`` 400 for anything this API did not give out for it."""
    bad = ApiError(400, "bad_request", "cursor is not one this API gave out for this path: give the next of a previous page")
    try:
        found = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(found, dict) or found.get("v") != _CURSOR_VERSION or found.get("k") != kind:
            raise bad
        at, entry_id = datetime.fromisoformat(found["at"]), found["id"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise bad from None
    if at.tzinfo is None or not isinstance(entry_id, str) or not entry_id:
        raise bad
    return at, entry_id


def parse_since(since: str) -> datetime:
    """``since=`` as an aware time; ``ApiError`` 400 saying what is wrong."""
    try:
        moment = datetime.fromisoformat(since)
    except ValueError:
        raise ApiError(400, "bad_request", f"since must be an ISO 8601 time, e.g. 2026-07-01T00:00:00Z, not {since[:40]!r}") from None
    if moment.tzinfo is None:
        raise ApiError(400, "bad_request", "since needs an offset (Z or +HH:MM): a time without one could be any zone's")
    return moment


def read_page(web: WebContext, kind: Literal["decided", "intent", "task"], token: ApiToken, after: tuple[datetime, str] | None,
              since: datetime | None, limit: int) -> dict[str, Any]:
    """One page of ``kind``'s rows as ``token`` may read them (blocking: call it on a worker thread)."""
    team = None if token.all_teams else token.team
    found = web.store.timeline_page(kind, after, since, limit + 1, team)  # one more than asked: whether more follow
    page, has_more = found[:limit], len(found) > limit
    records = web.store.records_for({row.activation_id for row in page})
    rows = rows_of(kind, [row.record for row in page], records, team, web.review_clock())
    cursor = encode_cursor(kind, page[-1]) if page else None
    return {"data": rows, "has_more": has_more, "limit": limit, "next": cursor}


async def serve_page(request: Request, web: WebContext, token: ApiToken, kind: Literal["decided", "intent", "task"],
                     cursor: str | None, since: str | None, limit: int) -> dict[str, Any]:
    """A page for an API route: its parameters checked (400 with the reason), read, audited."""
    if limit < 1:
        raise ApiError(400, "bad_request", f"limit must be from 1 to {MAX_LIMIT}")
    limit = min(limit, MAX_LIMIT)
    after = decode_cursor(kind, cursor) if cursor is not None else None
    moment = parse_since(since) if since is not None else None
    body = await in_review_store(read_page, web, kind, token, after, moment, limit)
    if after is not None and body["next"] is None:
        body["next"] = cursor  # an empty page after a cursor: read on from the same place later
    scope = "all teams" if token.all_teams else f"team {token.team}"
    await audit(web, f"token:{token.id}", "api_read", app_path(request),
                f"{scope}; {len(body['data'])} rows" + (f"; since {since[:40]}" if since else "") + ("; cursor" if cursor else ""))
    return body


@router.get("/activations", response_model=ActivationPage, responses={400: {"model": ErrorBody}, 401: {"model": ErrorBody}})
async def activations(request: Request, web: Web, token: Token, cursor: Cursor = None, since: Since = None,
                      limit: Limit = DEFAULT_LIMIT) -> dict[str, Any]:
    """Activations, oldest first: a team's token those it was told about, DNS's all."""
    return await serve_page(request, web, token, "decided", cursor, since, limit)


@router.get("/notifications", response_model=NotificationPage, responses={400: {"model": ErrorBody}, 401: {"model": ErrorBody}})
async def notifications(request: Request, web: Web, token: Token, cursor: Cursor = None, since: Since = None,
                        limit: Limit = DEFAULT_LIMIT) -> dict[str, Any]:
    """Notifications (alerts, notices, task reminders), oldest first: a team's token those to the team, DNS's all."""
    return await serve_page(request, web, token, "intent", cursor, since, limit)


@router.get("/tasks", response_model=TaskPage, responses={400: {"model": ErrorBody}, 401: {"model": ErrorBody}})
async def tasks(request: Request, web: Web, token: Token, cursor: Cursor = None, since: Since = None,
                limit: Limit = DEFAULT_LIMIT) -> dict[str, Any]:
    """Follow-up tasks, by when they were made: a team's token its own, DNS's all."""
    return await serve_page(request, web, token, "task", cursor, since, limit)


def api_openapi() -> dict[str, Any]:
    """The OpenAPI document of the three routes above (the app's own ``/openapi.json`` is off: the site's pages are not
    an API)."""
    document = get_openapi(title="Vigil provider data API", version="1", routes=router.routes,
                           description="Per-team read access to activations, notifications and follow-up tasks (docs/api.md).")
    # FastAPI documents a 422 for every route with parameters; this API answers a parameter it cannot read with a 400
    # (the app's handler of RequestValidationError), so the document says that instead of what never happens
    for operation in (op for item in document["paths"].values() for op in item.values()):
        operation["responses"].pop("422", None)
    for schema in ("HTTPValidationError", "ValidationError"):
        document.get("components", {}).get("schemas", {}).pop(schema, None)
    return document


@router.get("/openapi.json", include_in_schema=False)
async def openapi_document() -> JSONResponse:
    """The API's OpenAPI document: public, it says how to ask, not what is there."""
    return JSONResponse(api_openapi())
