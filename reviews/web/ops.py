"""What the operators' tools read, with no sign-in: the load balancer's liveness probe (``/healthz``) and
Prometheus' scrape (``/metrics``: requests by route template and status, answers by result; never a
path, token, id or name)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from reviews.web.deps import Web

router = APIRouter()


@router.get("/healthz", response_class=PlainTextResponse)
async def healthz() -> str:
    """Says "ok" while the process serves requests."""
    return "ok"


@router.get("/metrics")
async def metrics_page(web: Web) -> Response:
    """The app's metrics registry in Prometheus' text format."""
    return Response(generate_latest(web.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})
