"""Request and response examples for the OpenAPI document, by operation (a data table).

The start request is the spec's own example; the answers are the service's shapes with the spec's
figures. ``openapi.py`` puts each under its operation's media type; a test holds every operation
to having them (tests/e2e/test_openapi_docs.py).
"""

from __future__ import annotations

from typing import Any

from hubspot_deals.api.schedule_examples import SCHEDULE_EXAMPLES
from hubspot_deals.api.webhook_examples import WEBHOOK_EXAMPLES
from hubspot_deals.engine import DEFAULT_PROPERTIES

SCAN = "hubspot-deals-2025-q3"
WHEN = "2025-09-29T10:30:00Z"

START_REQUEST: dict[str, Any] = {
    "config": {
        "scanId": SCAN,
        "type": ["hubspot_deals"],
        "auth": {"hubspot_access_token": "pat-na1-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"},
        "organizationId": "org_123456",
        "properties": list(DEFAULT_PROPERTIES),  # the spec's nine, in its order
        "includeAssociations": True,
        "associationTypes": ["contacts", "companies", "line_items"],
        "filters": {
            "includeArchived": False,
            "pipelineId": None,
            "dealstage": None,
            "dateFilter": {
                "property": "createdate",
                "startDate": "2024-01-01",
                "endDate": "2025-12-31",
            },
        },
        "batchSize": 100,
    }
}

_PROGRESS = {
    "total_items": 2543,
    "processed_items": 1200,
    "failed_items": 3,
    "success_rate": "99.75%",
    "current_batch": 12,
    "total_batches": 26,
    "estimated_time_remaining": "3 minutes",
}
_SYNC = {
    "requested_mode": "full",
    "mode": "full",
    "reason": None,
    "base_job_id": None,
    "modified_since": None,
    "high_water_mark": None,
}
STATUS: dict[str, Any] = {
    "id": "job_abc123xyz",
    "scanId": SCAN,
    "status": "running",
    "scanType": "hubspot_deals",
    "organizationId": "org_123456",
    "started_at": WHEN,
    "completed_at": None,
    "error_message": None,
    "created_at": WHEN,
    "updated_at": "2025-09-29T10:35:00Z",
    "progress": _PROGRESS,
    "warnings": [],
    "sync": _SYNC,
    "config": {
        "properties": ["dealname", "amount", "dealstage"],
        "includeAssociations": True,
        "batchSize": 100,
    },
}
DEAL: dict[str, Any] = {
    "id": "result_001",
    "deal_id": "12345678901",
    "deal_name": "Enterprise Software License",
    "amount": 50000.0,
    "currency": "USD",
    "deal_stage": "closedwon",
    "deal_stage_label": "Closed Won",
    "pipeline_id": "default",
    "pipeline_label": "Sales Pipeline",
    "close_date": "2025-09-15T00:00:00Z",
    "deal_created_at": "2025-08-01T09:00:00Z",
    "deal_updated_at": "2025-09-15T14:30:00Z",
    "owner_id": "123456",
    "owner_email": "sales@company.com",
    "deal_type": "newbusiness",
    "is_archived": False,
    "deal_url": "https://app.hubspot.com/contacts/12345/record/0-3/12345678901",
    "properties": {"dealname": "Enterprise Software License", "amount": "50000"},
    "associations": {
        "contacts": [{"id": "501", "type": "deal_to_contact"}],
        "companies": [{"id": "701", "type": "deal_to_company"}],
        "line_items": [{"id": "901", "type": "deal_to_line_item"}],
    },
    "merged_from": ["12345678777"],
}
_PAGINATION = {
    "current_page": 1,
    "page_size": 50,
    "total_items": 2540,
    "total_pages": 51,
    "has_next": True,
    "has_previous": False,
    "next_page": 2,
    "previous_page": None,
}
HEALTH: dict[str, Any] = {
    "status": "healthy",
    "timestamp": WHEN,
    "version": "1.0.0",
    "uptime_seconds": 86400,
    "dependencies": {
        "database": {"status": "healthy", "response_time_ms": 12},
        "hubspot_api": {"status": "healthy", "response_time_ms": 245, "rate_limit_remaining": 85},
        "redis_cache": {"status": "healthy", "response_time_ms": 3},
    },
    "metrics": {
        "active_scans": 3,
        "completed_scans_today": 47,
        "total_deals_extracted_today": 125430,
    },
}
STATS: dict[str, Any] = {
    "period": "24h",
    "timestamp": WHEN,
    "summary": {
        "total_scans": 47,
        "successful_scans": 44,
        "failed_scans": 3,
        "cancelled_scans": 1,
        "success_rate": "93.62%",
        "total_deals_extracted": 125430,
        "average_scan_duration_seconds": 342,
        "total_data_extracted_mb": 1247.5,
    },
    "status_breakdown": {"completed": 44, "failed": 3, "running": 2, "pending": 0, "cancelled": 1},
    "performance_metrics": {
        "fastest_scan_seconds": 45,
        "slowest_scan_seconds": 1240,
        "average_deals_per_second": 15.2,
        "peak_concurrent_scans": 8,
    },
    "error_analysis": {
        "authentication_failures": 2,
        "rate_limit_errors": 0,
        "network_timeouts": 1,
        "other_errors": 0,
    },
}

METRICS_TEXT = (
    "# HELP hubspot_deals_scans Scan runs by status\n"
    "# TYPE hubspot_deals_scans gauge\n"
    'hubspot_deals_scans{status="completed"} 44.0\n'
)

CONNECTION: dict[str, Any] = {
    "connectionId": "conn_4f1c2a9e8b7d6c5a",
    "name": "EU sales portal",
    "organizationId": "org_123456",
    "authType": "oauth",
    "portalId": 48151623,
    "hubDomain": "app-eu1.hubspot.com",
    "scopes": ["crm.objects.deals.read", "crm.objects.contacts.read", "crm.objects.owners.read"],
    "createdAt": WHEN,
    "checkedAt": WHEN,
}

#: (method, path) -> the request body's example (when it takes one) and one answer per status.
EXAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/api/v1/scan/start"): {
        "request": START_REQUEST,
        "responses": {
            "202": {
                "message": "HubSpot deal extraction started",
                "scanId": SCAN,
                "status": "started",
                "jobId": "job_abc123xyz",
                "estimatedDuration": "5-10 minutes",
            },
            "401": {
                "status": "error",
                "error_code": "HUBSPOT_AUTH_FAILED",
                "message": "Failed to authenticate with HubSpot API: the access token was rejected",
                "details": {"hubspot_error": "Invalid access token", "status_code": 401},
                "timestamp": WHEN,
            },
            "409": {
                "status": "error",
                "message": "Extraction already in progress",
                "error_code": "SCAN_IN_PROGRESS",
                "details": {"scanId": SCAN, "currentStatus": "running", "startedAt": WHEN},
                "timestamp": WHEN,
            },
        },
    },
    ("get", "/api/v1/scan/status/{scan_id}"): {"responses": {"200": STATUS}},
    ("post", "/api/v1/scan/cancel/{scan_id}"): {
        "responses": {
            "200": {
                "message": "Extraction cancelled successfully",
                "scanId": SCAN,
                "status": "cancelled",
                "itemsProcessed": 1200,
                "cancelledAt": "2025-09-29T10:35:00Z",
            }
        }
    },
    ("get", "/api/v1/scan/results/{scan_id}"): {
        "responses": {
            "200": {
                "scanId": SCAN,
                "status": "completed",
                "partial": False,
                "pagination": _PAGINATION | {"next_cursor": "am9iX2FiYzoxMjM0NTY3ODkwMTo1MA"},
                "deals": [DEAL],
            },
            "404": {
                "status": "error",
                "error_code": "SCAN_NOT_READY",
                "message": "Scan failed: its results are incomplete (ask with partial=true for "
                "the deals it stored)",
                "details": {"scanId": SCAN, "currentStatus": "failed"},
                "timestamp": WHEN,
            },
        }
    },
    ("get", "/api/v1/scan/results/{scan_id}/export"): {
        "responses": {
            "200": {
                "text/csv; charset=utf-8": "deal_id,deal_name,amount,...\r\n12345678901,"
                "Enterprise Software License,50000.0,...\r\n",
                "application/x-ndjson": '{"id":"result_001","deal_id":"12345678901",...}\n',
                "application/vnd.apache.parquet": "(a binary Parquet file, zstd-compressed: "
                "docs/api.md#exports lists its columns and types)",
            }
        }
    },
    ("get", "/api/v1/scan/schema/{scan_id}"): {
        "responses": {
            "200": {
                "scanId": SCAN,
                "runId": "job_abc123xyz",
                "status": "completed",
                "properties": [
                    {
                        "name": "amount",
                        "label": "Amount",
                        "type": "number",
                        "fieldType": "number",
                        "group": "dealinformation",
                        "options": [],
                        "hidden": False,
                        "calculated": False,
                        "hubspotDefined": True,
                    },
                    {
                        "name": "products_of_interest",
                        "label": "Products of interest",
                        "type": "enumeration",
                        "fieldType": "checkbox",
                        "group": "deal_custom",
                        "options": [
                            {"value": "crm", "label": "CRM"},
                            {"value": "analytics", "label": "Analytics"},
                        ],
                        "hidden": False,
                        "calculated": False,
                        "hubspotDefined": False,
                    },
                ],
            }
        }
    },
    ("get", "/api/v1/scan/changes/{scan_id}"): {
        "responses": {
            "200": {
                "scanId": SCAN,
                "changes": [
                    {
                        "seq": 4182,
                        "runId": "job_abc123xyz",
                        "kind": "updated",
                        "deal_id": DEAL["deal_id"],
                        "deal": {k: v for k, v in DEAL.items() if k != "id"},
                    },
                    {
                        "seq": 4183,
                        "runId": "job_abc123xyz",
                        "kind": "merged",
                        "deal_id": "12345678777",
                        "deal": None,
                    },
                ],
                "next_cursor": "ZmVlZDo0ZjFjMmE5ZThiN2Q6NDE4Mw",
                "has_more": False,
            }
        }
    },
    ("get", "/api/v1/scan/list"): {
        "responses": {
            "200": {
                "pagination": _PAGINATION
                | {"total_items": 1, "total_pages": 1, "has_next": False, "next_page": None},
                "scans": [
                    {
                        "id": "job_abc123xyz",
                        "scanId": SCAN,
                        "status": "completed",
                        "scanType": "hubspot_deals",
                        "organizationId": "org_123456",
                        "started_at": WHEN,
                        "completed_at": "2025-09-29T10:42:15Z",
                        "total_items": 2543,
                        "processed_items": 2540,
                        "success_rate": "99.88%",
                        "duration_seconds": 735,
                        "data_size_mb": 15.4,
                        "mode": "full",
                        "changes": None,
                    }
                ],
            }
        }
    },
    ("post", "/api/v1/connections"): {
        "request": {
            "name": "EU sales portal",
            "organizationId": "org_123456",
            "auth": {
                "client_id": "5a4db0c5-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
                "client_secret": "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
                "refresh_token": "na1-xxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
            },
        },
        "responses": {"201": CONNECTION},
    },
    ("get", "/api/v1/connections"): {"responses": {"200": {"connections": [CONNECTION]}}},
    ("get", "/api/v1/connections/{connection_id}"): {"responses": {"200": CONNECTION}},
    ("post", "/api/v1/connections/{connection_id}/test"): {"responses": {"200": CONNECTION}},
    ("delete", "/api/v1/connections/{connection_id}"): {
        "responses": {
            "200": {"message": "Connection deleted", "connectionId": CONNECTION["connectionId"]}
        }
    },
    ("get", "/api/v1/stats"): {"responses": {"200": STATS}},
    ("get", "/stats"): {"responses": {"200": STATS}},
    ("get", "/api/v1/health"): {"responses": {"200": HEALTH}},
    ("get", "/health"): {"responses": {"200": HEALTH}},
    ("get", "/metrics"): {
        "responses": {
            "200": {
                "text/plain": METRICS_TEXT,
                "application/openmetrics-text": METRICS_TEXT + "# EOF\n",
            }
        }
    },
}
EXAMPLES |= WEBHOOK_EXAMPLES  # the webhooks' own table
EXAMPLES |= SCHEDULE_EXAMPLES  # the schedules' own table
