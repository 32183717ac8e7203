"""The provider data API (reviews/web/api.py) through the real app over a real store (SQLite and PostgreSQL), on the
review fixture's night: a team's token reads its own rows only and DNS's every team's, pages walk each row once in a
stable order (a row stored mid-walk is not seen twice), ``since=``, revocation, one 401 for every bad token, 400s with a
reason, no person or free text in any row, each call audited, and the OpenAPI document."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from notifiers.ack_links import AckSigner
from reviews.provider_data import ActivationRow, NotificationRow, TaskRow
from reviews.store import ReviewStore
from reviews.web.api import UNAUTHORIZED
from reviews.web.app import create_web_app
from reviews.web.deps import REVIEW_UNAVAILABLE
from stream.model.events import Location, Referral
from stream.model.timeline import AckRecorded, AlertDelivered, IntentCreated, RecipientResult, TaskClosed
from tests.reviews.web.fixtures import MORNING, PASSWORD, T0, Review, the_night

pytestmark = pytest.mark.database

NORTH, SOUTH = "vi-north-nearnorth", "vi-south-phillips"
PATHS = ("/api/v1/activations", "/api/v1/notifications", "/api/v1/tasks")
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # no store query of its own: one database is enough


@pytest.fixture(scope="module")
def night(deployment):
    """The review fixture's night, run through the core once for the module (the store is new per test)."""
    return the_night(deployment)


@pytest.fixture
def review(db_url: str, night) -> Iterator[Review]:
    """The night in a fresh store and the app over it; no users (the one test that signs in adds its own)."""
    run, ids = night
    store = ReviewStore(db_url)
    store.create_schema()
    store.append(run.records)
    holder = Review(app=None, store=store, run=run, ids=ids, now=MORNING)  # type: ignore[arg-type]
    holder.app = holder.make_app()
    try:
        yield holder
    finally:
        for client in holder.clients:
            client.__exit__(None, None, None)
        store.dispose()


def token_of(review: Review, team: str, all_teams: bool = False) -> str:
    """A new API token's text for ``team``."""
    return review.store.add_api_token(team, None, all_teams, review.now)[1]


def get(review: Review, path: str, token: str | None, **params):
    """A GET of the API with ``token`` as the bearer."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return review.client().get(path, params=params, headers=headers)


def everything(review: Review, path: str, token: str, limit: int = 500, cursor: str | None = None, **params) -> list[dict]:
    """Every row of ``path`` the token reads, walking the pages (from ``cursor`` when given)."""
    rows: list[dict] = []
    for _ in range(200):
        response = get(review, path, token, limit=limit, **params, **({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        body = response.json()
        rows += body["data"]
        if not body["has_more"]:
            return rows
        cursor = body["next"]
    raise AssertionError("the pages never ended")


def test_a_teams_token_reads_its_own_rows_only_and_dns_reads_all(review: Review) -> None:
    north, south, dns = token_of(review, NORTH), token_of(review, SOUTH), token_of(review, "dns-oncall", all_teams=True)
    for path in PATHS:
        mine, theirs, all_rows = everything(review, path, north), everything(review, path, south), everything(review, path, dns)
        ids = {r["id"] for r in all_rows}
        assert {r["id"] for r in mine} < ids and {r["id"] for r in theirs} < ids, path  # each a part, DNS's more
        if path != "/api/v1/activations":
            assert mine and {r["team"] for r in mine} == {NORTH} and {r["team"] for r in theirs} == {SOUTH}, path
            assert {r["team"] for r in all_rows} > {NORTH, SOUTH}, path
    activations = {r["id"]: r for r in everything(review, PATHS[0], north)}
    assert review.ids["jordan"] in activations and review.ids["phillips"] not in activations  # Phillips: vi-south-phillips's only
    assert all(r["teams_told"] == [NORTH] for r in activations.values())  # never which other teams were told
    told = {r["id"]: r["teams_told"] for r in everything(review, PATHS[0], dns)}
    assert SOUTH in told[review.ids["phillips"]] and "gvi-outreach" in told[review.ids["jordan"]]


def test_a_notification_says_delivered_and_answered(review: Review) -> None:
    rows = everything(review, PATHS[1], token_of(review, NORTH))
    [first] = [r for r in rows if r["activation_id"] == review.ids["jordan"] and r["purpose"] == "alert" and r["step"] == "initial"]
    assert first["delivery_status"] == "delivered" and first["delivered_at"] is not None
    assert first["answer"] == "ack" and first["answered_within_deadline"] is True  # the fixture's answer, four minutes on
    assert datetime.fromisoformat(first["answered_at"]) == T0 + timedelta(minutes=4)
    NotificationRow.model_validate(first)


def test_no_row_carries_a_person_a_fine_place_or_free_text(review: Review) -> None:
    jordan = review.ids["jordan"]
    [intent] = [r for r in review.run.of(jordan) if isinstance(r, IntentCreated) and r.team == NORTH and r.step == "initial"]
    [task] = [r for r in review.run.of(jordan) if r.kind == "task" and r.team == NORTH][:1]
    at = T0 + timedelta(minutes=5)
    review.store.append([  # what a real night adds that the fixture's lacks: who was paged, answered and closed
        IntentCreated(**{**intent.model_dump(), "entry_id": "tl-paged", "intent_id": "in-paged", "at": at, "person": "ana-r",
                         "on_call": ("primary:ana-r",)}),
        AlertDelivered(entry_id="tl-paged-d", activation_id=jordan, at=at, intent_id="in-paged", team=NORTH, status="delivered",
                       recipients=(RecipientResult(recipient="tel:+1...4477", status="delivered", elapsed_ms=5.0, recipient_id="ana-r"),)),
        AckRecorded(entry_id="tl-paged-a", activation_id=jordan, at=at + timedelta(seconds=30), team=NORTH, first=False,
                    within_deadline=True, person="ana-r", name="Ana Rivera", by="dana"),
        TaskClosed(entry_id="tl-closed", activation_id=jordan, at=at, task_id=task.task_id, team=NORTH, outcome="done",
                   referrals=(Referral(service="housing", consent=True),), by="dana", person="ana-r"),
    ])
    dns = token_of(review, "dns-oncall", all_teams=True)
    bodies = {path: json.dumps(everything(review, path, dns)) for path in PATHS}
    places = [str(r.location.lat) for r in review.run.records if r.kind == "event_received" and isinstance(r.location, Location)]
    places += [r.cell for r in review.run.records if r.kind == "decided" and r.cell]
    places += [r.neighborhood for r in review.run.records if r.kind == "decided" and r.neighborhood and r.neighborhood != r.community]
    for path, body in bodies.items():
        leaked = [m for m in ("ana-r", "Ana Rivera", "dana", "4477", "json://inbox", *places) if m in body]
        assert leaked == [], (path, leaked)
    closed = next(r for r in json.loads(bodies[PATHS[2]]) if r["id"] == task.task_id)
    assert closed["state"] == "closed" and closed["outcome"] == "done" and closed["referrals"] == [{"service": "housing", "consent": True}]
    for path, model in zip(PATHS, (ActivationRow, NotificationRow, TaskRow), strict=True):
        assert {key for row in json.loads(bodies[path]) for key in row} == set(model.model_fields), path  # nothing but the model's


def test_walking_the_pages_gives_each_row_once_in_a_stable_order(review: Review) -> None:
    dns = token_of(review, "dns-oncall", all_teams=True)
    whole = everything(review, PATHS[1], dns)
    assert len(whole) == 19 and len({r["id"] for r in whole}) == 19
    assert [datetime.fromisoformat(r["at"]) for r in whole] == sorted(datetime.fromisoformat(r["at"]) for r in whole)
    assert everything(review, PATHS[1], dns, limit=3) == whole  # the same rows, the same order, page by page
    # a walk with a row stored before where it is, and one after: neither seen twice, the later one at its end
    first = get(review, PATHS[1], dns, limit=5).json()
    template = next(r for r in review.run.records if isinstance(r, IntentCreated))
    early = datetime.fromisoformat(whole[0]["at"]) - timedelta(minutes=1)  # behind the cursor
    late = datetime.fromisoformat(whole[-1]["at"]) + timedelta(minutes=1)
    review.store.append([IntentCreated(**{**template.model_dump(), "entry_id": f"tl-new-{n}", "intent_id": f"in-new-{n}", "at": at})
                         for n, at in (("early", early), ("late", late))])
    rest = everything(review, PATHS[1], dns, limit=5, cursor=first["next"]) if first["has_more"] else []
    # the late one at its end; the early one, stored behind the cursor, is for a re-read with since= (docs/api.md)
    assert [r["id"] for r in first["data"] + rest] == [r["id"] for r in whole] + ["in-new-late"]
    assert everything(review, PATHS[1], dns, since=whole[0]["at"])[-1]["id"] == "in-new-late"
    assert [r["id"] for r in everything(review, PATHS[1], dns)][:1] == ["in-new-early"]


@SQLITE_ONLY
def test_next_reads_on_from_the_end_later(review: Review) -> None:
    dns = token_of(review, "dns-oncall", all_teams=True)
    body = get(review, PATHS[0], dns, limit=500).json()
    assert not body["has_more"] and len(body["data"]) == 6
    again = get(review, PATHS[0], dns, cursor=body["next"]).json()
    assert again == {"data": [], "has_more": False, "limit": 100, "next": body["next"]}  # nothing new yet: the same place


def test_since_keeps_rows_at_or_after_it(review: Review) -> None:
    dns = token_of(review, "dns-oncall", all_teams=True)
    whole = everything(review, PATHS[1], dns)
    cut = datetime.fromisoformat(whole[10]["at"])
    kept = everything(review, PATHS[1], dns, since=cut.astimezone(UTC).isoformat().replace("+00:00", "Z"))
    assert kept == [r for r in whole if datetime.fromisoformat(r["at"]) >= cut] and 0 < len(kept) < len(whole)
    assert everything(review, PATHS[1], dns, limit=2, since=cut.isoformat()) == kept  # the same walked with a cursor


@SQLITE_ONLY
def test_a_bad_parameter_is_a_400_with_the_reason(review: Review) -> None:
    token = token_of(review, NORTH)
    for params, reason in (({"since": "yesterday"}, "since must be an ISO 8601 time"),
                           ({"since": "2026-07-04T00:00:00"}, "since needs an offset"),
                           ({"cursor": "not-a-cursor"}, "cursor is not one this API gave out"),
                           ({"limit": "0"}, "limit must be from 1 to 500"),
                           ({"limit": "many"}, "limit: Input should be a valid integer")):
        response = get(review, PATHS[2], token, **params)
        assert response.status_code == 400 and response.json()["error"] == "bad_request", params
        assert reason in response.json()["detail"], (params, response.json())


@SQLITE_ONLY
def test_a_cursor_of_another_path_is_refused_and_the_limit_is_capped(review: Review) -> None:
    token = token_of(review, "dns-oncall", all_teams=True)
    cursor = get(review, PATHS[1], token, limit=1).json()["next"]
    refused = get(review, PATHS[2], token, cursor=cursor)
    assert refused.status_code == 400 and "cursor" in refused.json()["detail"]
    assert get(review, PATHS[1], token, limit=100000).json()["limit"] == 500


def test_every_bad_token_gets_the_same_401_and_a_revoked_one_reads_nothing(review: Review) -> None:
    stored, token = review.store.add_api_token(NORTH, "north's case system", False, review.now)
    assert get(review, PATHS[0], token).status_code == 200
    review.store.revoke_api_token(stored.id, review.now)
    review.store.add_user("dana", PASSWORD, "dns", None, review.now)
    signed_in = review.signed_in("dana")  # a review session is not an API token
    answers = [get(review, PATHS[0], None), get(review, PATHS[0], "vgl_" + "x" * 43), get(review, PATHS[0], token),
               get(review, PATHS[0], "not even a token"), review.client().get(PATHS[0], headers={"Authorization": f"Basic {token}"}),
               signed_in.get(PATHS[0])]
    assert {(r.status_code, r.text, r.headers.get("www-authenticate")) for r in answers} == {
        (401, json.dumps({"error": "unauthorized", "detail": UNAUTHORIZED}, separators=(",", ":")), "Bearer")}
    # the one read before the revocation; a refusal read nothing: it is logged, not audited
    assert [e.action for e in review.audit() if e.action.startswith("api")] == ["api_read"]


def test_each_call_is_audited_and_the_token_s_last_use_kept(review: Review) -> None:
    stored, token = review.store.add_api_token(SOUTH, None, False, review.now)
    assert review.store.api_token(stored.id).last_used_at is None
    assert get(review, PATHS[2], token, limit=2).status_code == 200
    [entry] = review.audit("api_read")
    assert (entry.username, entry.target) == (f"token:{stored.id}", "/api/v1/tasks") and entry.detail.startswith(f"team {SOUTH}; 1 rows")
    assert token not in repr(review.store.audit_entries(1000))  # the token itself is never written down
    assert review.store.api_token(stored.id).last_used_at == review.now


@SQLITE_ONLY
def test_the_openapi_document_describes_the_three_paths(review: Review) -> None:
    client = review.client()
    assert client.get("/openapi.json").status_code == 404  # the site's own stays off: its pages are not an API
    document = client.get("/api/v1/openapi.json").json()  # public: it says how to ask, not what is there
    assert set(document["paths"]) == set(PATHS)
    schemas = document["components"]["schemas"]
    for path, page, row in zip(PATHS, ("ActivationPage", "NotificationPage", "TaskPage"), ("ActivationRow", "NotificationRow", "TaskRow"),
                               strict=True):
        operation = document["paths"][path]["get"]
        assert {p["name"] for p in operation["parameters"]} == {"cursor", "since", "limit"}
        assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{page}"}
        assert set(operation["responses"]) == {"200", "400", "401"} and operation["security"] == [{"HTTPBearer": []}]
        assert operation["responses"]["400"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
        assert schemas[page]["properties"]["data"]["items"] == {"$ref": f"#/components/schemas/{row}"}
    assert set(schemas["TaskRow"]["properties"]) == set(TaskRow.model_fields) and "HTTPValidationError" not in schemas
    assert document["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http", "scheme": "bearer", "description": "A provider API token (vigil tokens add): 'Authorization: Bearer vgl_...'."}


@SQLITE_ONLY
def test_an_unknown_api_path_answers_json(review: Review) -> None:
    response = review.client().get("/api/v1/people")
    assert response.status_code == 404 and response.json()["error"] == "not_found"


@SQLITE_ONLY
def test_a_store_that_does_not_answer_and_a_wrong_method_answer_json(review: Review, tmp_path) -> None:
    token = token_of(review, NORTH)
    wrong = review.client().post(PATHS[0], headers={"Authorization": f"Bearer {token}"})
    assert (wrong.status_code, wrong.json()["error"], wrong.headers["allow"]) == (405, "http_error", "GET")
    gone = ReviewStore(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.sqlite'}")  # cannot even be opened
    app = create_web_app(AckSigner(b"api-test-secret-0123456789", "https://vigil.example.org"), gone, _no_publish, lambda: MORNING)
    down = review.client(app).get(PATHS[0], headers={"Authorization": f"Bearer {token}"})
    assert down.status_code == 503 and down.json() == {"error": "unavailable", "detail": REVIEW_UNAVAILABLE}


async def _no_publish(message) -> None:
    raise AssertionError("the API never publishes")
