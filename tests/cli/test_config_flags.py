"""``scan start``'s config: the file's, with each given flag over it (None: not given)."""

from __future__ import annotations

from typing import Any

from hubspot_deals.api.requests import Auth, DateFilter, Filters, ScanConfig
from hubspot_deals.console.scan_config import build_config, chosen_properties

NONE: dict[str, Any] = dict.fromkeys(
    (
        "scan_id",
        "scan_type",
        "organization_id",
        "properties",
        "properties_with_history",
        "include_associations",
        "association_types",
        "include_archived",
        "pipeline_id",
        "dealstage",
        "date_property",
        "start_date",
        "end_date",
        "batch_size",
        "mode",
        "refresh_associations",
        "include_stage_history",
        "client_id",
        "client_secret",
        "refresh_token",
        "connection_id",
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


def test_a_grant_from_flags() -> None:
    """--client-id, --client-secret and --refresh-token make the auth an OAuth grant; typed on
    the command line they beat a token from the environment, and --token beats them."""
    grant = {"client_id": "id", "client_secret": "secret", "refresh_token": "rt"}
    flags = NONE | grant
    assert build_config({}, "env", False, **flags, grant_from_flag=True)["auth"] == grant
    assert build_config({}, "tok", True, **flags, grant_from_flag=True)["auth"] == {
        "hubspot_access_token": "tok"
    }
    in_file = {"auth": {"hubspot_access_token": "file"}}
    assert build_config(in_file, None, False, **flags)["auth"] == {"hubspot_access_token": "file"}


def test_a_connection_takes_no_secret_from_the_environment() -> None:
    """--connection names a stored credential: HUBSPOT_ACCESS_TOKEN in the environment is not
    sent beside it (the service would refuse both); a typed --token is (and refused so)."""
    flags = NONE | {"connection_id": "conn_0123456789abcdef"}
    quiet = build_config({}, "env", False, **flags)
    assert quiet["connectionId"] == "conn_0123456789abcdef" and "auth" not in quiet
    assert build_config({}, "typed", True, **flags)["auth"] == {"hubspot_access_token": "typed"}


def test_every_config_field_has_a_flag() -> None:
    """Each field of the start config (nested ones too) is set by some flag of ``scan start``."""
    every = {name: f"<{name}>" for name in NONE}
    config = build_config({}, "tok", True, **every)
    filters = config["filters"]
    assert set(config) == set(ScanConfig.model_fields)
    granted = build_config({}, None, False, **every | {"connection_id": None})["auth"]
    assert set(config["auth"]) | set(granted) == set(Auth.model_fields)  # both kinds
    assert set(filters) == set(Filters.model_fields)
    assert set(filters["dateFilter"]) == set(DateFilter.model_fields)


def test_incremental_flags() -> None:
    """--mode, --refresh-associations and --include-stage-history over the file's values."""
    base = {"mode": "full", "includeAssociations": True, "includeStageHistory": True}
    flags = {"mode": "incremental", "refresh_associations": True, "include_stage_history": False}
    config = build_config(base, None, False, **NONE | flags)
    assert config["mode"] == "incremental" and config["refreshAssociations"] is True
    assert config["includeStageHistory"] is False and config["includeAssociations"] is True
    assert "mode" not in build_config({}, None, False, **NONE)  # not given: the service's default


def test_all_properties_and_history() -> None:
    """--all-properties sends "all" over the file's list; --history sends propertiesWithHistory."""
    base = {"properties": ["dealname"], "propertiesWithHistory": ["dealstage"]}
    flags = {"properties": chosen_properties(None, True)}
    assert build_config(base, None, False, **NONE | flags)["properties"] == "all"
    config = build_config(base, None, False, **NONE | {"properties_with_history": ["amount"]})
    assert config["propertiesWithHistory"] == ["amount"] and config["properties"] == ["dealname"]
    assert chosen_properties(["amount"], False) == ["amount"]
    assert chosen_properties(None, False) is None  # not given: the file's or the service's
