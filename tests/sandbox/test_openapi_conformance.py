"""Every sandbox reply validates against HubSpot's official OpenAPI schema for its operation, in
every API edition the sandbox serves: the legacy paths against the v3 and v4 files, the dated ones
against the 2026-09 files (the 2026-03 edition is checked against them too: its files are not at
hand, and the fact sheet records no difference for a reader between the two).

The official files are read from ``../shared/hubspot-openapi`` (never copied into the project); a
clone without them skips these tests. Where the fact sheet records HubSpot answering otherwise than
its own spec says, the schema is widened here, each case with its reason.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
    "crm-associations-2026-09/associations.json": [
        # the same errors, from the same service: observed with subCategory as a string
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


ALL_PROPS = "dealname,amount,closedate,hubspot_owner_id,description,region_notes,renewal_date,seats"


@dataclass(frozen=True)
class Edition:
    """Where one edition's endpoints are (``path``) and which spec file and path describe each."""

    name: str

    @property
    def legacy(self) -> bool:
        return self.name == "legacy"

    def path(self, api: str) -> str:
        """The request path of ``objects``, ``associations``, ``properties``, ``pipelines``,
        ``owners`` or ``account-info`` (the latter two without an object type)."""
        if self.legacy:
            version = "v4" if api == "associations" else "v3"
            return f"/account-info/{version}" if api == "account-info" else f"/crm/{version}/{api}"
        return f"/account-info/{self.name}" if api == "account-info" else f"/crm/{api}/{self.name}"

    def spec(self, api: str) -> tuple[str, str]:
        """(spec file, the spec's path prefix) of an API."""
        if self.legacy:
            files = {
                "objects": ("crm-deals-v3/deals.json", "/crm/v3/objects/0-3"),
                "associations": ("crm-associations-v4/associations.json", "/crm/v4/associations"),
                "properties": ("crm-properties-v3/properties.json", "/crm/v3/properties"),
                "pipelines": ("crm-pipelines-v3/pipelines.json", "/crm/v3/pipelines"),
                "owners": ("crm-owners-v3/crmOwners.json", "/crm/v3/owners"),
                "account-info": ("account-info-v3/accountInfo.json", "/account-info/v3"),
            }
            return files[api]
        folder = {
            "objects": "crm-deals-2026-09/deals.json",
            "associations": "crm-associations-2026-09/associations.json",
            "properties": "crm-properties-2026-09/properties.json",
            "pipelines": "crm-pipelines-2026-09/pipelines.json",
            "owners": "crm-owners-2026-09/crmOwners.json",
            "account-info": "account-info-2026-09/accountInfo.json",
        }[api]
        prefix = "/account-info/2026-09" if api == "account-info" else f"/crm/{api}/2026-09"
        if api == "objects":
            prefix += "/{objectType}"
        return folder, prefix

    def deal_path(self, suffix: str = "") -> str:
        """The spec's path of a deals operation: ``""``, ``/{id}``, ``/batch/read``, ``/search``."""
        _, prefix = self.spec("objects")
        if suffix == "/{id}":
            suffix = "/{dealId}" if self.legacy else "/{objectId}"
        return prefix + suffix

    def conforms(self, api: str, suffix: str, method: str, status: int, body: Any) -> None:
        name, prefix = self.spec(api)
        assert_conforms(name, prefix + suffix, method, status, body)

    def deals_conform(self, suffix: str, method: str, status: int, body: Any) -> None:
        assert_conforms(self.spec("objects")[0], self.deal_path(suffix), method, status, body)

    @property
    def partial_batch(self) -> int:
        """A batch read with missing ids: 207 in v3 and v4, 200 (errors in the body) since."""
        return 207 if self.legacy else 200


EDITIONS = [Edition("legacy"), Edition("2026-09"), Edition("2026-03")]


@pytest.fixture(params=EDITIONS, ids=lambda e: e.name)
def edition(request: pytest.FixtureRequest) -> Edition:
    return request.param  # type: ignore[no-any-return]


class TestDealsEndpoints:
    def test_list_with_associations(self, sandbox: SandboxProcess, edition: Edition) -> None:
        """A list page with every property kind and inline associations matches the schema."""
        objects = edition.path("objects")
        reply = sandbox.get(
            f"{objects}/0-3?limit=100&properties={ALL_PROPS}&associations=contacts,companies,line_items"
        )
        assert reply.status_code == 200
        edition.deals_conform("", "get", 200, reply.json())

    def test_list_archived(self, sandbox: SandboxProcess, edition: Edition) -> None:
        """Archived deals, with archivedAt, match the schema."""
        reply = sandbox.get(f"{edition.path('objects')}/deals?archived=true&limit=50")
        assert reply.json()["results"][0]["archivedAt"]
        edition.deals_conform("", "get", 200, reply.json())

    def test_list_and_read_with_history(self, sandbox: SandboxProcess, edition: Edition) -> None:
        """propertiesWithHistory (ValueWithTimestamp entries, empty lists too) matches, on list,
        read and batch read; so does the 400 for more than 50 deals with history."""
        deals = f"{edition.path('objects')}/deals"
        reply = sandbox.get(f"{deals}?limit=50&propertiesWithHistory=dealstage,amount,closedate")
        assert reply.status_code == 200
        assert reply.json()["results"][0]["propertiesWithHistory"]["dealstage"]
        edition.deals_conform("", "get", 200, reply.json())
        one = sandbox.get(f"{deals}/10000000007?propertiesWithHistory=dealstage")
        edition.deals_conform("/{id}", "get", 200, one.json())
        batch = sandbox.post(
            f"{deals}/batch/read",
            {
                "inputs": [{"id": "10000000007"}, {"id": "1"}],
                "properties": ["amount"],
                "propertiesWithHistory": ["dealstage", "amount"],
            },
        )
        assert batch.status_code == edition.partial_batch
        edition.deals_conform("/batch/read", "post", edition.partial_batch, batch.json())
        over = sandbox.get(f"{deals}?limit=51&propertiesWithHistory=dealstage")
        assert over.status_code == 400
        edition.deals_conform("", "get", 400, over.json())

    def test_read_one(self, sandbox: SandboxProcess, edition: Edition) -> None:
        """One deal read by id, with a heavy deal's paged inline associations, matches."""
        deals = f"{edition.path('objects')}/deals"
        reply = sandbox.get(f"{deals}/10000000021?associations=contacts,line_items")
        assert reply.status_code == 200
        edition.deals_conform("/{id}", "get", 200, reply.json())

    def test_batch_read_partial(self, sandbox: SandboxProcess, edition: Edition) -> None:
        """A batch read with a missing id: its errors in the body, as the edition answers it."""
        reply = sandbox.post(
            f"{edition.path('objects')}/deals/batch/read",
            {"inputs": [{"id": "10000000007"}, {"id": "1"}], "properties": ["amount"]},
        )
        assert reply.status_code == edition.partial_batch
        assert reply.json()["numErrors"] == 1
        assert reply.json()["errors"][0]["context"] == {"ids": ["1"]}
        edition.deals_conform("/batch/read", "post", edition.partial_batch, reply.json())

    def test_batch_read_complete(self, sandbox: SandboxProcess, edition: Edition) -> None:
        """A 200 batch read matches BatchResponseSimplePublicObject."""
        reply = sandbox.post(
            f"{edition.path('objects')}/deals/batch/read",
            {"inputs": [{"id": "10000000007"}], "properties": []},
        )
        assert reply.status_code == 200
        edition.deals_conform("/batch/read", "post", 200, reply.json())

    def test_search(self, sandbox: SandboxProcess, edition: Edition) -> None:
        """A search page with total and paging matches."""
        body = {
            "filterGroups": [
                {"filters": [{"propertyName": "amount", "operator": "GT", "value": "1000"}]}
            ],
            "limit": 200,
        }
        reply = sandbox.post(f"{edition.path('objects')}/deals/search", body)
        assert reply.status_code == 200
        edition.deals_conform("/search", "post", 200, reply.json())

    @pytest.mark.parametrize(
        ("method", "path", "body", "status"),
        [
            ("get", "/deals/999", None, 404),
            ("get", "/deals?limit=500", None, 400),
            ("post", "/deals/search", {"filterGroups": [{"filters": []}] * 6}, 400),
        ],
    )
    def test_errors(
        self,
        sandbox: SandboxProcess,
        edition: Edition,
        method: str,
        path: str,
        body: Any,
        status: int,
    ) -> None:
        """Error replies match the Error schema."""
        url = edition.path("objects") + path
        reply = sandbox.get(url) if method == "get" else sandbox.post(url, body)
        assert reply.status_code == status
        edition.deals_conform("", "get", status, reply.json())

    def test_unauthenticated(self, sandbox: SandboxProcess, edition: Edition) -> None:
        """401 matches the Error schema."""
        reply = sandbox.get(f"{edition.path('objects')}/deals", token="pat-na1-unknown")
        assert reply.status_code == 401
        edition.deals_conform("", "get", 401, reply.json())


class TestAssociations:
    def test_batch_read_with_gaps_and_paging(
        self, sandbox: SandboxProcess, edition: Edition
    ) -> None:
        """A batch read with a heavy deal (paged) and a deal without contacts: its errors in the
        body (207 in v4, 200 since), ids as the edition writes them."""
        ids = [str(10_000_000_000 + 7 * i) for i in [*range(40), 502, 1001]]
        reply = sandbox.post(
            f"{edition.path('associations')}/deals/contacts/batch/read",
            {"inputs": [{"id": i} for i in ids]},
        )
        assert reply.status_code == edition.partial_batch
        body = reply.json()
        assert any("paging" in r for r in body["results"]) and body["numErrors"] >= 1
        to_id = body["results"][0]["to"][0]["toObjectId"]
        assert isinstance(to_id, int if edition.legacy else str)
        edition.conforms(
            "associations",
            "/{fromObjectType}/{toObjectType}/batch/read",
            "post",
            edition.partial_batch,
            body,
        )

    def test_batch_read_companies(self, sandbox: SandboxProcess, edition: Edition) -> None:
        """Companies with their Primary label match the schema."""
        ids = [str(10_000_000_000 + 7 * i) for i in range(40)]
        reply = sandbox.post(
            f"{edition.path('associations')}/deals/companies/batch/read",
            {"inputs": [{"id": i} for i in ids]},
        )
        edition.conforms(
            "associations",
            "/{fromObjectType}/{toObjectType}/batch/read",
            "post",
            reply.status_code,
            reply.json(),
        )

    def test_record_associations(self, sandbox: SandboxProcess) -> None:
        """The single-record v4 read (legacy only: the dated editions have no such read)."""
        body = sandbox.get(
            "/crm/v4/objects/deals/10000000021/associations/contacts?limit=100"
        ).json()
        assert body["paging"]["next"]["after"]
        assert_conforms(
            "crm-associations-v4/associations.json",
            "/crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}",
            "get",
            200,
            body,
        )


class TestMetadata:
    def test_properties(self, sandbox: SandboxProcess, edition: Edition) -> None:
        """Property definitions match, archived ones too."""
        for archived in ("false", "true"):
            body = sandbox.get(f"{edition.path('properties')}/deals?archived={archived}").json()
            assert body["results"]
            edition.conforms("properties", "/{objectType}", "get", 200, body)

    def test_pipelines(self, sandbox: SandboxProcess, edition: Edition) -> None:
        """Pipelines and their stages match."""
        body = sandbox.get(f"{edition.path('pipelines')}/deals").json()
        edition.conforms("pipelines", "/{objectType}", "get", 200, body)

    def test_owners(self, sandbox: SandboxProcess, edition: Edition) -> None:
        """Owner pages, active and archived, match."""
        for archived in ("false", "true"):
            body = sandbox.get(f"{edition.path('owners')}?limit=5&archived={archived}").json()
            edition.conforms("owners", "", "get", 200, body)

    def test_account_details(self, sandbox: SandboxProcess, edition: Edition) -> None:
        """Account details match PortalInformationResponse."""
        body = sandbox.get(f"{edition.path('account-info')}/details").json()
        edition.conforms("account-info", "/details", "get", 200, body)


class TestRefusals:
    def test_missing_scopes_and_rate_limits(
        self, make_sandbox: Callable[..., SandboxProcess], edition: Edition
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
            "3",
            "--token",
            "pat-na1-narrow=crm.objects.deals.read",
        )
        deals = f"{edition.path('objects')}/deals"
        denied = portal.get(f"{deals}?associations=companies", token="pat-na1-narrow")
        assert denied.status_code == 403
        edition.deals_conform("", "get", 403, denied.json())
        portal.get(deals)
        burst = portal.get(deals)
        portal.post(f"{deals}/search", {})
        secondly = portal.post(f"{deals}/search", {})
        associations = f"{edition.path('associations')}/deals/companies/batch/read"
        portal.post(associations, {"inputs": [{"id": "10000000000"}]})
        # outside both short windows: only the day's limit (3, spent by now) can refuse it
        daily = portal.post(associations, {"inputs": [{"id": "10000000000"}]})
        for reply, policy in (
            (burst, "TEN_SECONDLY_ROLLING"),
            (secondly, "SECONDLY"),
            (daily, "DAILY"),
        ):
            assert reply.status_code == 429
            assert reply.json()["policyName"] == policy
            edition.deals_conform("", "get", 429, reply.json())


@pytest.fixture(scope="module")
def custom_portal() -> Iterator[SandboxProcess]:
    """A portal with custom properties of every type (``--custom-properties``), whose schema and
    deals changed while it runs: properties created, retyped and archived, deals updated (their
    histories grown) and merged."""
    running = SandboxProcess.start(
        "--deals", "300", "--custom-properties", "40", "--rate-limit", "100000"
    )
    running.change_properties(
        create=[
            {
                "name": "buying_roles",
                "label": "Buying roles",
                "type": "enumeration",
                "fieldType": "checkbox",
                "options": [{"label": "Champion", "value": "champion"}],
            }
        ],
        retype={"seats_requested_2": {"type": "string", "fieldType": "text"}},
        archive=["partner_name_0"],
    )
    running.churn(update=120, merge=10)
    yield running
    running.stop()


class TestCustomProperties:
    def test_properties(self, custom_portal: SandboxProcess, edition: Edition) -> None:
        """Generated, created, retyped and archived definitions all match the Property schema."""
        for archived in ("false", "true"):
            body = custom_portal.get(f"{edition.path('properties')}/deals?archived={archived}")
            edition.conforms("properties", "/{objectType}", "get", 200, body.json())
        names = {p["name"] for p in body.json()["results"]}
        assert "partner_name_0" in names

    def test_deals_with_every_property_and_history(
        self, custom_portal: SandboxProcess, edition: Edition
    ) -> None:
        """List, batch read and search with every custom property and their histories match."""
        names = [
            p["name"]
            for p in custom_portal.get(f"{edition.path('properties')}/deals").json()["results"]
            if not p["hubspotDefined"]
        ] + ["hs_merged_object_ids"]
        deals = f"{edition.path('objects')}/deals"
        listed = custom_portal.get(
            f"{deals}?limit=50&properties={','.join(names)}"
            f"&propertiesWithHistory={','.join(names[:20])},hs_merged_object_ids"
        )
        assert listed.status_code == 200
        edition.deals_conform("", "get", 200, listed.json())
        ids = [d["id"] for d in listed.json()["results"]]
        batch = custom_portal.post(
            f"{deals}/batch/read",
            {
                "inputs": [{"id": i} for i in ids],
                "properties": names,
                "propertiesWithHistory": names,
            },
        )
        assert batch.status_code == 200
        edition.deals_conform("/batch/read", "post", 200, batch.json())
        found = custom_portal.post(
            f"{deals}/search",
            {
                "filterGroups": [
                    {
                        "filters": [
                            {"propertyName": "hs_merged_object_ids", "operator": "HAS_PROPERTY"}
                        ]
                    }
                ],
                "properties": names,
            },
        )
        assert found.status_code == 200 and found.json()["total"] == 10
        edition.deals_conform("/search", "post", 200, found.json())
