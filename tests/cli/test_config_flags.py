"""``scan start``'s config: the file's, with each given flag over it (None: not given)."""

from __future__ import annotations

from typing import Any

from hubspot_deals.console.scan_commands import build_config

NONE: dict[str, Any] = dict.fromkeys(
    (
        "scan_id",
        "scan_type",
        "organization_id",
        "properties",
        "include_associations",
        "association_types",
        "include_archived",
        "pipeline_id",
        "dealstage",
        "date_property",
        "start_date",
        "end_date",
        "batch_size",
    )
)


def test_flags_alone() -> None:
    config = build_config({}, "tok", True, **NONE | {"scan_id": "s", "include_archived": False})
    assert config == {
        "scanId": "s",
        "type": ["hubspot_deals"],
        "filters": {"includeArchived": False},
        "auth": {"hubspot_access_token": "tok"},
    }


def test_nested_flags_merge_into_the_file() -> None:
    """--end-date keeps the file's date property and start; other filters stay."""
    base = {
        "scanId": "s",
        "filters": {"pipelineId": "p", "dateFilter": {"property": "closedate", "startDate": "a"}},
        "includeAssociations": True,
    }
    config = build_config(base, None, False, **NONE | {"end_date": "b", "batch_size": 7})
    assert config["filters"] == {
        "pipelineId": "p",
        "dateFilter": {"property": "closedate", "startDate": "a", "endDate": "b"},
    }
    assert config["includeAssociations"] is True and config["batchSize"] == 7
    assert "auth" not in config


def test_token_order() -> None:
    """--token beats the file's token, which beats HUBSPOT_ACCESS_TOKEN."""
    base = {"auth": {"hubspot_access_token": "file"}}
    assert build_config(base, "flag", True, **NONE)["auth"]["hubspot_access_token"] == "flag"
    assert build_config(base, "env", False, **NONE)["auth"]["hubspot_access_token"] == "file"
    assert build_config({}, "env", False, **NONE)["auth"]["hubspot_access_token"] == "env"
