"""The sandbox's OAuth: the token endpoint of every edition, access tokens that expire (HubSpot's
401 body), rotation and revocation of refresh tokens, and the authorization code flow with PKCE."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from hubspot_deals.sandbox.oauth import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REFRESH_TOKEN
from hubspot_deals.sandbox.process import SandboxProcess
from tests.sandbox.test_openapi_conformance import assert_conforms

TOKEN_PATHS = ["/oauth/2026-09/token", "/oauth/2026-03/token", "/oauth/v3/token", "/oauth/v1/token"]


def refresh(
    portal: SandboxProcess, grant: str, path: str = TOKEN_PATHS[0], **form: str
) -> httpx.Response:
    body = {
        "grant_type": "refresh_token",
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
        "refresh_token": grant,
    } | form
    return portal.http.post(f"{portal.url}{path}", data=body)


@pytest.mark.parametrize("path", TOKEN_PATHS)
def test_a_refresh_gives_an_access_token_the_api_takes(sandbox: SandboxProcess, path: str) -> None:
    reply = refresh(sandbox, DEMO_REFRESH_TOKEN, path)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert set(body) == {"token_type", "refresh_token", "access_token", "expires_in"}
    assert body["expires_in"] == 1800 and body["refresh_token"] == DEMO_REFRESH_TOKEN
    deals = sandbox.get("/crm/objects/2026-09/deals?limit=1", token=body["access_token"])
    assert deals.status_code == 200 and len(deals.json()["results"]) == 1


def test_the_dated_editions_read_the_form_only(sandbox: SandboxProcess) -> None:
    """v1 still reads parameters from the query string; 2026-09 takes the form body alone."""
    query = {
        "grant_type": "refresh_token",
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
        "refresh_token": DEMO_REFRESH_TOKEN,
    }
    legacy = sandbox.http.post(f"{sandbox.url}/oauth/v1/token", params=query)
    dated = sandbox.http.post(f"{sandbox.url}/oauth/2026-09/token", params=query)
    assert legacy.status_code == 200 and dated.status_code == 400
    assert dated.json()["status"] == "BAD_CLIENT_ID"


@pytest.mark.parametrize(
    ("form", "status"),
    [
        ({"client_secret": "wrong"}, "BAD_CLIENT_SECRET"),
        ({"client_id": "nobody"}, "BAD_CLIENT_ID"),
        ({"refresh_token": "na1-0000-unknown"}, "BAD_REFRESH_TOKEN"),
        ({"grant_type": "password"}, "BAD_GRANT_TYPE"),
    ],
)
def test_refusals(sandbox: SandboxProcess, form: dict[str, str], status: str) -> None:
    reply = refresh(sandbox, DEMO_REFRESH_TOKEN, **form)
    assert reply.status_code == 400
    body = reply.json()
    assert body["status"] == body["category"] == status and body["correlationId"]
    assert DEMO_CLIENT_SECRET not in reply.text


def test_access_tokens_expire_with_hubspots_401(
    make_sandbox: Callable[..., SandboxProcess],
) -> None:
    portal = make_sandbox("--deals", "10", "--token-lifetime", "0.2")
    access = refresh(portal, DEMO_REFRESH_TOKEN).json()["access_token"]
    assert portal.get("/crm/objects/2026-09/deals", token=access).status_code == 200
    time.sleep(0.3)  # the token's own lifetime: what this test is about
    expired = portal.get("/crm/objects/2026-09/deals", token=access)
    assert expired.status_code == 401
    body = expired.json()
    assert body["category"] == "EXPIRED_AUTHENTICATION"
    assert body["message"].startswith("The OAuth token used to make this call expired")
    assert list(body["context"]) == ["expire time"]
    assert_conforms(
        "crm-deals-2026-09/deals.json", "/crm/objects/2026-09/{objectType}", "get", 401, body
    )


def test_rotation_and_revocation(make_sandbox: Callable[..., SandboxProcess]) -> None:
    portal = make_sandbox("--deals", "10", "--rotate-refresh-tokens")
    first = portal.http.post(f"{portal.url}/_sandbox/oauth/grant", json={}).json()["refresh_token"]
    rotated = refresh(portal, first).json()["refresh_token"]
    assert rotated != first
    assert refresh(portal, first).json()["status"] == "BAD_REFRESH_TOKEN"  # the old one died
    again = refresh(portal, rotated)
    assert again.status_code == 200
    newest = portal.stats()["oauth"]
    assert newest["refreshes"] == 2 and newest["refused"] == 1
    token = again.json()["refresh_token"]
    revoke = portal.http.post(f"{portal.url}/_sandbox/oauth/revoke", json={"refresh_token": token})
    assert revoke.json() == {"revoked": True}
    assert refresh(portal, token).json()["status"] == "BAD_REFRESH_TOKEN"


def test_the_authorization_code_flow_with_pkce(sandbox: SandboxProcess) -> None:
    verifier = "v" * 64
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    redirect = "http://127.0.0.1:9/callback"
    page = sandbox.http.get(
        f"{sandbox.url}/oauth/authorize",
        params={
            "client_id": DEMO_CLIENT_ID,
            "redirect_uri": redirect,
            "scope": "crm.objects.deals.read",
            "state": "s-123",
            "code_challenge": challenge.decode(),
            "code_challenge_method": "S256",
        },
    )
    assert page.status_code == 302
    back = urlsplit(page.headers["location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == redirect
    query = {k: v[0] for k, v in parse_qs(back.query).items()}
    assert query["state"] == "s-123"
    exchange = {
        "grant_type": "authorization_code",
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
        "redirect_uri": redirect,
        "code": query["code"],
    }
    url = f"{sandbox.url}/oauth/2026-09/token"
    wrong = sandbox.http.post(url, data=exchange | {"code_verifier": "x" * 64})
    assert wrong.json()["status"] == "BAD_AUTH_CODE"  # and the code is spent
    page = sandbox.http.get(f"{sandbox.url}/oauth/authorize", params={
        "client_id": DEMO_CLIENT_ID, "redirect_uri": redirect, "scope": "crm.objects.deals.read",
        "code_challenge": challenge.decode(), "code_challenge_method": "S256",
    })  # fmt: skip
    code = parse_qs(urlsplit(page.headers["location"]).query)["code"][0]
    good = sandbox.http.post(url, data=exchange | {"code": code, "code_verifier": verifier})
    assert good.status_code == 200, good.text
    tokens = good.json()
    scoped = sandbox.get(
        "/crm/objects/2026-09/deals?associations=contacts", token=tokens["access_token"]
    )
    assert scoped.status_code == 403  # the grant has the scopes asked for: deals only here
    assert (
        sandbox.http.post(
            url, data=exchange | {"code": code, "code_verifier": verifier}
        ).status_code
        == 400
    )
