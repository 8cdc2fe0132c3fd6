"""The web dashboard at ``/``: server-rendered pages (Jinja2), htmx for the live parts.

HTTP only, like the JSON routes: every figure comes from the services, repositories and presenters
those use (jobs/service.py, store/, api/presenters.py, jobs/stats.py, the health report), so the
dashboard cannot disagree with the API. With API keys in use, the key lives in a session cookie and
binds each request to its organization exactly as ``X-API-Key`` does (``deps.bind_key``).
docs/dashboard.md says what each page shows and why the forms need no CSRF token.
"""

from hubspot_deals.api.dashboard import (
    connect,
    forms,
    keys,
    results,
    schedules,
    views,
    webhooks,
)
from hubspot_deals.api.dashboard.filters import PACKAGE_DIR
from hubspot_deals.api.dashboard.pages import KEY_COOKIE, router

STATIC_DIR = PACKAGE_DIR / "static"

__all__ = [
    "KEY_COOKIE",
    "STATIC_DIR",
    "connect",
    "forms",
    "keys",
    "results",
    "router",
    "schedules",
    "views",
    "webhooks",
]
