"""The web service: the answer pages behind an alert's link and the next-day activation review, as a
FastAPI app made of routers (see reviews/web/app.py for the layout)."""

from reviews.web.app import create_web_app, run_web

__all__ = ["create_web_app", "run_web"]
