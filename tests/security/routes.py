"""Every route of the web app, enumerated from the app itself, so a page added later is checked without
anyone remembering to list it."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

# Reachable without signing in, on purpose (docs/security.md says why for each). Anything else refuses or
# redirects an anonymous request.
PUBLIC = {
    ("GET", "/ack/{token}"): "the signed token in an alert's link is the permission",
    ("POST", "/ack/{token}"): "the signed token in an alert's link is the permission",
    ("GET", "/task/{token}"): "the signed token in a follow-up task's reminder link is the permission",
    ("POST", "/task/{token}"): "the signed token in a follow-up task's reminder link is the permission",
    ("POST", "/sms/inbound"): "the SMS gateway's inbound webhook: its X-Twilio-Signature is the permission",
    ("GET", "/login"): "the sign-in form",
    ("POST", "/login"): "signing in",
    ("GET", "/healthz"): "the load balancer's liveness probe: says ok, nothing else",
    ("GET", "/api/v1/openapi.json"): "the provider API's OpenAPI document: how to ask, nothing of what is stored",
}
# Neither public nor signed-in: a provider's API token (`Authorization: Bearer`, `vigil tokens add`) is the permission,
# and a review session is not (a signed-in browser gets the same 401 as anyone). Their scoping by team is checked in
# tests/reviews/web/test_api.py; the checks here that sign in as a lead leave them out.
TOKEN = {
    ("GET", "/api/v1/activations"): "a team's API token: the activations it was told about (DNS's: all)",
    ("GET", "/api/v1/notifications"): "a team's API token: the notifications to it (DNS's: all)",
    ("GET", "/api/v1/tasks"): "a team's API token: its follow-up tasks (DNS's: all)",
}
# /metrics is not a route of the app: it is served on the metrics port only (`vigil web --metrics-port`,
# 127.0.0.1 by default), since its counts tell anyone who reads them when and how much the service is used
_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")


def routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path template) of every route; fails on a kind of route these checks do not know."""
    found = []
    # app.routes holds each included router as one node (FastAPI >= 0.137): iter_route_contexts walks into them
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        assert isinstance(route, APIRoute), f"{route!r}: not an APIRoute; teach tests/security/routes.py what it serves"
        found += [(method, context.path) for method in sorted(route.methods - {"HEAD"})]
    return found


def params(template: str) -> list[str]:
    """The path parameters of a route template."""
    return _PARAM.findall(template)


def fill(template: str, values: dict[str, str]) -> str:
    """A concrete path for a template; fails naming a parameter with no sample value."""
    missing = [name for name in params(template) if name not in values]
    assert not missing, f"{template}: give tests/security a sample value for {missing}"
    return _PARAM.sub(lambda m: values[m.group(1)], template)
