"""What the operators' tools read, with no sign-in: the load balancer's liveness probe (``/healthz``, on the
app's port) and Prometheus' scrape (``/metrics``: requests by route template and status, answers by result;
never a path, token, id or name), which ``metrics_router`` serves on the metrics port only."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

router = APIRouter()
metrics_router = APIRouter()


@router.get("/healthz", response_class=PlainTextResponse)
async def healthz() -> str:
    """Says "ok" while the process serves requests."""
    return "ok"


@metrics_router.get("/metrics")
async def metrics_page(request: Request) -> Response:
    """The metrics app's registry (``app.state.registry``) in Prometheus' text format."""
    return Response(generate_latest(request.app.state.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})
