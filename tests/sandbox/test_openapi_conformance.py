"""Every sandbox reply validates against HubSpot's official OpenAPI schema for its operation.

The official files are read from ``../shared/hubspot-openapi`` (never copied into the project); a
clone without them skips these tests. Where the fact sheet records HubSpot answering otherwise than
its own spec says, the schema is widened here, each case with its reason.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
from openapi_schema_validator import OAS30Validator

from hubspot_deals.sandbox.process import SandboxProcess
from tests.conftest import SHARED

SPECS = SHARED / "hubspot-openapi"
pytestmark = pytest.mark.skipif(
    not SPECS.is_dir(), reason="HubSpot's OpenAPI files (../shared/hubspot-openapi) are not present"
)

_NULLABLE_STRING = {"type": "string", "nullable": True}
#: Observed replies that the official schemas do not allow (see docs/sandbox.md):
WIDENINGS: dict[str, list[tuple[tuple[str, ...], dict[str, Any]]]] = {
    # property values are "string or null"; HubSpot returns null for a requested, empty property
    "crm-deals-v3/deals.json": [
        (
            (
                "SimplePublicObjectWithAssociations",
                "properties",
                "properties",
                "additionalProperties",
            ),
            _NULLABLE_STRING,
        ),
        (
            ("SimplePublicObject", "properties", "properties", "additionalProperties"),
            _NULLABLE_STRING,
        ),
    ],
    "crm-associations-v4/associations.json": [
        # toObjectId is a JSON number in the docs' example and in observed replies
        (
            ("MultiAssociatedObjectWithLabel", "properties", "toObjectId"),
            {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        ),
        # unlabeled association types carry "label": null
        (("AssociationSpecWithLabel", "properties", "label"), _NULLABLE_STRING),
        # NO_ASSOCIATIONS_FOUND errors carry subCategory as a string
        (
            ("StandardError", "properties", "subCategory"),
            {"anyOf": [{"type": "string"}, {"type": "object"}]},
        ),
    ],
}


@cache
def spec(name: str) -> dict[str, Any]:
    document = json.loads((SPECS / name).read_text())
    schemas = document["components"]["schemas"]
    for path, replacement in WIDENINGS.get(name, []):
        node = schemas
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = replacement
    return document


def assert_conforms(spec_name: str, path: str, method: str, status: int, body: Any) -> None:
    document = spec(spec_name)
    responses = document["paths"][path][method]["responses"]
    response = responses.get(str(status)) or responses["default"]
    if "$ref" in response:  # e.g. "#/components/responses/Error"
        response = document["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    content = response["content"]
    schema = copy.deepcopy((content.get("application/json") or content["*/*"])["schema"])
    schema["components"] = document["components"]  # so "#/components/..." resolves
    errors = sorted(OAS30Validator(schema).iter_errors(body), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


DEALS = "crm-deals-v3/deals.json"
ASSOC = "crm-associations-v4/associations.json"
ALL_PROPS = "dealname,amount,closedate,hubspot_owner_id,description,region_notes,renewal_date,seats"


class TestDealsEndpoints:
    def test_list_with_associations(self, sandbox: SandboxProcess) -> None:
        """A list page with every property kind and inline associations matches the schema."""
        reply = sandbox.get(
            f"/crm/v3/objects/0-3?limit=100&properties={ALL_PROPS}&associations=contacts,companies,line_items"
        )
        assert reply.status_code == 200
        assert_conforms(DEALS, "/crm/v3/objects/0-3", "get", 200, reply.json())

    def test_list_archived(self, sandbox: SandboxProcess) -> None:
        """Archived deals, with archivedAt, match the schema."""
        reply = sandbox.get("/crm/v3/objects/deals?archived=true&limit=50")
        assert reply.json()["results"][0]["archivedAt"]
        assert_conforms(DEALS, "/crm/v3/objects/0-3", "get", 200, reply.json())

    def test_list_and_read_with_history(self, sandbox: SandboxProcess) -> None:
        """propertiesWithHistory (ValueWithTimestamp entries, empty lists too) matches, on list,
        read and batch read; so does the 400 for more than 50 deals with history."""
        reply = sandbox.get(
            "/crm/v3/objects/deals?limit=50&propertiesWithHistory=dealstage,amount,closedate"
        )
        assert reply.status_code == 200
        assert reply.json()["results"][0]["propertiesWithHistory"]["dealstage"]
        assert_conforms(DEALS, "/crm/v3/objects/0-3", "get", 200, reply.json())
        one = sandbox.get("/crm/v3/objects/deals/10000000007?propertiesWithHistory=dealstage")
        assert_conforms(DEALS, "/crm/v3/objects/0-3/{dealId}", "get", 200, one.json())
        batch = sandbox.post(
            "/crm/v3/objects/deals/batch/read",
            {
                "inputs": [{"id": "10000000007"}, {"id": "1"}],
                "properties": ["amount"],
                "propertiesWithHistory": ["dealstage", "amount"],
            },
        )
        assert batch.status_code == 207
        assert_conforms(DEALS, "/crm/v3/objects/0-3/batch/read", "post", 207, batch.json())
        over = sandbox.get("/crm/v3/objects/deals?limit=51&propertiesWithHistory=dealstage")
        assert over.status_code == 400
        assert_conforms(DEALS, "/crm/v3/objects/0-3", "get", 400, over.json())

    def test_read_one(self, sandbox: SandboxProcess) -> None:
        """One deal read by id, with a heavy deal's paged inline associations, matches."""
        reply = sandbox.get("/crm/v3/objects/deals/10000000021?associations=contacts,line_items")
        assert reply.status_code == 200
        assert_conforms(DEALS, "/crm/v3/objects/0-3/{dealId}", "get", 200, reply.json())

    def test_batch_read_partial(self, sandbox: SandboxProcess) -> None:
        """A 207 batch read with a missing id matches BatchResponse...WithErrors."""
        reply = sandbox.post(
            "/crm/v3/objects/deals/batch/read",
            {"inputs": [{"id": "10000000007"}, {"id": "1"}], "properties": ["amount"]},
        )
        assert reply.status_code == 207
        assert_conforms(DEALS, "/crm/v3/objects/0-3/batch/read", "post", 207, reply.json())

    def test_batch_read_complete(self, sandbox: SandboxProcess) -> None:
        """A 200 batch read matches BatchResponseSimplePublicObject."""
        reply = sandbox.post(
            "/crm/v3/objects/deals/batch/read",
            {"inputs": [{"id": "10000000007"}], "properties": []},
        )
        assert reply.status_code == 200
        assert_conforms(DEALS, "/crm/v3/objects/0-3/batch/read", "post", 200, reply.json())

    def test_search(self, sandbox: SandboxProcess) -> None:
        """A search page with total and paging matches."""
        body = {
            "filterGroups": [
                {"filters": [{"propertyName": "amount", "operator": "GT", "value": "1000"}]}
            ],
            "limit": 200,
        }
        reply = sandbox.post("/crm/v3/objects/deals/search", body)
        assert reply.status_code == 200
        assert_conforms(DEALS, "/crm/v3/objects/0-3/search", "post", 200, reply.json())

    @pytest.mark.parametrize(
        ("method", "path", "body", "status"),
        [
            ("get", "/crm/v3/objects/deals/999", None, 404),
            ("get", "/crm/v3/objects/deals?limit=500", None, 400),
            ("post", "/crm/v3/objects/deals/search", {"filterGroups": [{"filters": []}] * 6}, 400),
        ],
    )
    def test_errors(
        self, sandbox: SandboxProcess, method: str, path: str, body: Any, status: int
    ) -> None:
        """Error replies match the Error schema."""
        reply = sandbox.get(path) if method == "get" else sandbox.post(path, body)
        assert reply.status_code == status
        assert_conforms(DEALS, "/crm/v3/objects/0-3", "get", status, reply.json())

    def test_unauthenticated(self, sandbox: SandboxProcess) -> None:
        """401 matches the Error schema."""
        reply = sandbox.get("/crm/v3/objects/deals", token="pat-na1-unknown")
        assert reply.status_code == 401
        assert_conforms(DEALS, "/crm/v3/objects/0-3", "get", 401, reply.json())


class TestAssociations:
    def test_batch_read_with_gaps_and_paging(self, sandbox: SandboxProcess) -> None:
        """A v4 batch read with a heavy deal (paged) and a deal without contacts is a valid 207."""
        ids = [str(10_000_000_000 + 7 * i) for i in [*range(40), 502, 1001]]
        reply = sandbox.post(
            "/crm/v4/associations/deals/contacts/batch/read", {"inputs": [{"id": i} for i in ids]}
        )
        assert reply.status_code == 207
        body = reply.json()
        assert any("paging" in r for r in body["results"])
        assert_conforms(
            ASSOC,
            "/crm/v4/associations/{fromObjectType}/{toObjectType}/batch/read",
            "post",
            207,
            body,
        )

    def test_batch_read_companies(self, sandbox: SandboxProcess) -> None:
        """Companies with their Primary label match the schema."""
        ids = [str(10_000_000_000 + 7 * i) for i in range(40)]
        body = sandbox.post(
            "/crm/v4/associations/deals/companies/batch/read", {"inputs": [{"id": i} for i in ids]}
        ).json()
        assert_conforms(
            ASSOC,
            "/crm/v4/associations/{fromObjectType}/{toObjectType}/batch/read",
            "post",
            207,
            body,
        )

    def test_record_associations(self, sandbox: SandboxProcess) -> None:
        """The single-record v4 read matches."""
        body = sandbox.get(
            "/crm/v4/objects/deals/10000000021/associations/contacts?limit=100"
        ).json()
        assert body["paging"]["next"]["after"]
        assert_conforms(
            ASSOC,
            "/crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}",
            "get",
            200,
            body,
        )


class TestMetadata:
    def test_properties(self, sandbox: SandboxProcess) -> None:
        """Property definitions match, archived ones too."""
        for archived in ("false", "true"):
            body = sandbox.get(f"/crm/v3/properties/deals?archived={archived}").json()
            assert body["results"]
            assert_conforms(
                "crm-properties-v3/properties.json",
                "/crm/v3/properties/{objectType}",
                "get",
                200,
                body,
            )

    def test_pipelines(self, sandbox: SandboxProcess) -> None:
        """Pipelines and their stages match."""
        body = sandbox.get("/crm/v3/pipelines/deals").json()
        assert_conforms(
            "crm-pipelines-v3/pipelines.json", "/crm/v3/pipelines/{objectType}", "get", 200, body
        )

    def test_owners(self, sandbox: SandboxProcess) -> None:
        """Owner pages, active and archived, match."""
        for archived in ("false", "true"):
            body = sandbox.get(f"/crm/v3/owners?limit=5&archived={archived}").json()
            assert_conforms("crm-owners-v3/crmOwners.json", "/crm/v3/owners", "get", 200, body)

    def test_account_details(self, sandbox: SandboxProcess) -> None:
        """Account details match PortalInformationResponse."""
        body = sandbox.get("/account-info/v3/details").json()
        assert_conforms(
            "account-info-v3/accountInfo.json", "/account-info/v3/details", "get", 200, body
        )


class TestRefusals:
    def test_missing_scopes_and_rate_limits(
        self, make_sandbox: Callable[..., SandboxProcess]
    ) -> None:
        """403 MISSING_SCOPES and the three 429 bodies match the Error schema."""
        portal = make_sandbox(
            "--deals",
            "10",
            "--rate-limit",
            "1",
            "--search-rate",
            "1",
            "--daily-limit",
            "4",
            "--token",
            "pat-na1-narrow=crm.objects.deals.read",
        )
        denied = portal.get("/crm/v3/objects/deals?associations=companies", token="pat-na1-narrow")
        assert denied.status_code == 403
        assert_conforms(DEALS, "/crm/v3/objects/0-3", "get", 403, denied.json())
        portal.get("/crm/v3/objects/deals")
        burst = portal.get("/crm/v3/objects/deals")
        portal.post("/crm/v3/objects/deals/search", {})
        secondly = portal.post("/crm/v3/objects/deals/search", {})
        portal.post(
            "/crm/v4/associations/deals/companies/batch/read", {"inputs": [{"id": "10000000000"}]}
        )
        portal.post(
            "/crm/v4/associations/deals/companies/batch/read", {"inputs": [{"id": "10000000000"}]}
        )
        daily = portal.post("/crm/v3/objects/deals/search", {})
        for reply, policy in (
            (burst, "TEN_SECONDLY_ROLLING"),
            (secondly, "SECONDLY"),
            (daily, "DAILY"),
        ):
            assert reply.status_code == 429
            assert reply.json()["policyName"] == policy
            assert_conforms(DEALS, "/crm/v3/objects/0-3", "get", 429, reply.json())
