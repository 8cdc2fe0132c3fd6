"""The sandbox's side door for the test harness (``/_sandbox/*``): the ground truth, counters,
the fault switch, churn on demand, schema changes and OAuth grants. Never under ``/crm``, it needs
no token and is never rate limited or faulted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from hubspot_deals.sandbox import responses
from hubspot_deals.sandbox.churn import CHURN_KINDS, ChurnError, check_churn_kinds
from hubspot_deals.sandbox.gateway import FAULT_KINDS, Stats
from hubspot_deals.sandbox.ids import deal_id
from hubspot_deals.sandbox.oauth import DEMO_CLIENT_ID
from hubspot_deals.sandbox.params import list_param
from hubspot_deals.sandbox.responses import JSONResponse
from hubspot_deals.sandbox.schema import SchemaError

#: The ground truth streams in chunks of about this many bytes.
_CHUNK_BYTES = 256 * 1024

if TYPE_CHECKING:
    from hubspot_deals.sandbox.app import Sandbox


class SideDoor:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def routes(self) -> list[Route]:
        return [
            Route("/_sandbox/deals", self.truth, methods=["GET"]),
            Route("/_sandbox/stats", self.stats, methods=["GET"]),
            Route("/_sandbox/stats/reset", self.reset_stats, methods=["POST"]),
            Route("/_sandbox/faults", self.faults, methods=["POST"]),
            Route("/_sandbox/churn", self.churn_now, methods=["POST"]),
            Route("/_sandbox/churn/kinds", self.churn_kinds, methods=["POST"]),
            Route("/_sandbox/properties", self.properties, methods=["POST"]),
            Route("/_sandbox/oauth/grant", self.oauth_grant, methods=["POST"]),
            Route("/_sandbox/oauth/revoke", self.oauth_revoke, methods=["POST"]),
        ]

    async def truth(self, request: Request) -> Response:
        """Every deal, a line each; ``?history=a,b`` adds those properties' histories."""
        history = tuple(list_param(request, "history")) or None

        def lines() -> Iterator[bytes]:
            batch = bytearray()
            for deal in self.sandbox.portal.ground_truth(history):
                batch += orjson.dumps(deal) + b"\n"
                if len(batch) >= _CHUNK_BYTES:
                    yield bytes(batch)
                    batch.clear()
            if batch:
                yield bytes(batch)

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    async def stats(self, request: Request) -> Response:
        return JSONResponse(
            self.sandbox.gateway.stats.json()
            | {
                "deals": self.sandbox.portal.held,
                "deleted": self.sandbox.portal.deleted,
                "merged": self.sandbox.portal.merged,
                "version": self.sandbox.portal.version,
                "churn_kinds": list(self.sandbox.churner.kinds),
                "oauth": self.sandbox.oauth.json(),
            }
        )

    async def oauth_grant(self, request: Request) -> Response:
        """A refresh token of an app (the demo's unless ``client_id`` names another), as a user
        installing it gives one; ``scopes`` narrows it."""
        try:
            body = json.loads(await request.body() or b"{}")
            client_id = str(body.get("client_id", DEMO_CLIENT_ID))
            scopes = body.get("scopes")
            if client_id not in self.sandbox.oauth.apps or not (
                scopes is None or all(isinstance(x, str) for x in scopes)
            ):
                raise ValueError
        except (ValueError, TypeError, AttributeError):
            return responses.validation_error(
                'Send {} or {"client_id": ..., "scopes": [...]} for a known app.'
            )
        token = self.sandbox.oauth.grant(
            client_id, frozenset(scopes) if scopes is not None else None
        )
        return JSONResponse(
            {
                "client_id": client_id,
                "client_secret": self.sandbox.oauth.apps[client_id],
                "refresh_token": token,
            }
        )

    async def oauth_revoke(self, request: Request) -> Response:
        try:
            token = str(json.loads(await request.body())["refresh_token"])
        except (ValueError, KeyError, TypeError):
            return responses.validation_error('Send {"refresh_token": ...}.')
        return JSONResponse({"revoked": self.sandbox.oauth.revoke(token)})

    async def reset_stats(self, request: Request) -> Response:
        self.sandbox.gateway.stats = Stats()
        return JSONResponse(self.sandbox.gateway.stats.json())

    async def faults(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
            rate = float(body["rate"])
            kinds = tuple(body["kinds"]) if "kinds" in body else None
        except (ValueError, KeyError, TypeError):
            return responses.validation_error('Send {"rate": 0.1} and optionally {"kinds": [...]}.')
        if not 0 <= rate <= 1 or (kinds is not None and not set(kinds) <= set(FAULT_KINDS)):
            return responses.validation_error(f"rate is 0..1; kinds are among {list(FAULT_KINDS)}.")
        self.sandbox.gateway.set_faults(rate, kinds)
        return JSONResponse(
            {"rate": rate, "kinds": list(self.sandbox.gateway.settings.fault_kinds)}
        )

    async def churn_now(self, request: Request) -> Response:
        """Exactly the changes asked for, now or at ``at`` (epoch ms): the deterministic churn."""
        usage = (
            'Send {"create": n, "update": n, "archive": n, "delete": n, "relink": n, "merge": n} '
            '(each optional, 0 to 1000000) and optionally "at": epoch milliseconds.'
        )
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            return responses.validation_error(usage)
        if not isinstance(body, dict) or not set(body) <= {*CHURN_KINDS, "at"}:
            return responses.validation_error(usage)
        counts: dict[str, int] = {}
        for kind in CHURN_KINDS:
            n = body.get(kind, 0)
            if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 1_000_000:
                return responses.validation_error(f"{kind}: {usage}")
            counts[kind] = n
        at = body.get("at")
        if at is not None and (
            not isinstance(at, int) or isinstance(at, bool) or not 0 <= at < 10**14
        ):
            return responses.validation_error(f"at: {usage}")
        try:
            changed = self.sandbox.churner.apply(counts, at)
        except ChurnError as exc:
            return responses.validation_error(str(exc))
        return JSONResponse(
            {
                "changed": {k: [str(deal_id(i)) for i in v] for k, v in changed.items()},
                "version": self.sandbox.portal.version,
            }
        )

    async def churn_kinds(self, request: Request) -> Response:
        """Which kinds background churn (``--churn``) draws from, changed while it runs."""
        try:
            body = json.loads(await request.body())
            kinds = check_churn_kinds(tuple(body["kinds"]))
            if not all(isinstance(k, str) for k in body["kinds"]):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return responses.validation_error(
                f'Send {{"kinds": [...]}}, one or more of {list(CHURN_KINDS)}.'
            )
        self.sandbox.churner.kinds = kinds
        return JSONResponse({"kinds": list(kinds)})

    async def properties(self, request: Request) -> Response:
        """The portal's schema changed while it runs: properties created, archived, retyped."""
        portal = self.sandbox.portal
        try:
            change = portal.catalog.parse(json.loads(await request.body()))
        except (ValueError, UnicodeDecodeError) as exc:
            message = str(exc) if isinstance(exc, SchemaError) else "Send a JSON object."
            return responses.validation_error(message)
        return JSONResponse(portal.change_schema(change))
