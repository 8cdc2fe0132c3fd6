"""The config's warnings, against property and pipeline definitions shaped as HubSpot sends them
(the end-to-end test in tests/e2e/test_extraction.py reads them off a sandbox's portal)."""

from __future__ import annotations

from hubspot_deals.engine.config_check import config_warnings
from hubspot_deals.engine.filters import ScanFilters
from hubspot_deals.engine.spec import ScanSpec
from hubspot_deals.hubspot import Pipeline, PropertyDefinition

PROPERTIES = [
    PropertyDefinition.model_validate(
        {"name": name, "label": name, "type": kind, "fieldType": "text", "groupName": "dealinfo"}
    )
    for name, kind in (
        ("dealname", "string"),
        ("amount", "number"),
        ("closedate", "datetime"),
        ("renewal_date", "date"),
    )
]
PIPELINES = [
    Pipeline.model_validate(
        {
            "id": pipeline,
            "label": pipeline,
            "displayOrder": 0,
            "stages": [{"id": s, "label": s, "displayOrder": 0} for s in stages],
        }
    )
    for pipeline, stages in (("default", ("closedwon", "closedlost")), ("renewals", ("signed",)))
]


def warnings_of(properties: tuple[str, ...] = ("dealname",), **filters: str) -> list[str]:
    spec = ScanSpec(scan_id="s", properties=properties, filters=ScanFilters(**filters))
    return config_warnings(spec, PROPERTIES, PIPELINES)


def test_known_names_warn_nothing() -> None:
    assert warnings_of(("dealname", "amount"), pipeline_id="default", dealstage="closedwon") == []
    assert warnings_of(date_property="renewal_date") == warnings_of(date_property="closedate") == []


def test_unknown_properties_name_the_closest() -> None:
    found = warnings_of(("dealname", "amout", "zzz_nothing_like_it"))
    assert found == [
        "Property 'amout' does not exist in this portal (did you mean 'amount'?): its values are null.",
        "Property 'zzz_nothing_like_it' does not exist in this portal: its values are null.",
    ]


def test_date_filter_property() -> None:
    assert warnings_of(date_property="closedat") == [
        "dateFilter.property 'closedat' does not exist in this portal (did you mean 'closedate'?): "
        "the date filter matches no deals."
    ]
    assert warnings_of(date_property="amount") == [
        "dateFilter.property 'amount' is a number property, not a date or datetime: the date "
        "filter does not select by date."
    ]


def test_pipelines_and_stages() -> None:
    assert warnings_of(pipeline_id="defualt", dealstage="closedwonn") == [
        "filters.pipelineId 'defualt' is not a pipeline of this portal (did you mean 'default'?): "
        "no deal matches it.",
        "filters.dealstage 'closedwonn' is not a stage of any pipeline of this portal (did you "
        "mean 'closedwon'?): no deal matches it.",
    ]
    # a stage of another pipeline than the one asked for matches nothing either
    assert warnings_of(pipeline_id="renewals", dealstage="closedwon") == [
        "filters.dealstage 'closedwon' is not a stage of pipeline 'renewals': no deal matches it."
    ]
