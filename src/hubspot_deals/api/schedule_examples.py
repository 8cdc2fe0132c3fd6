"""The schedule operations' examples in the OpenAPI document (api/examples.py merges them)."""

from __future__ import annotations

from typing import Any

_SCHEDULE_ID = "sch_5f0c2a9e8b7d4c1a"
_CONFIG = {
    "scanId": "hourly-deals",
    "type": ["hubspot_deals"],
    "connectionId": "conn_4f1c2a9e8b7d6e5f",
    "includeAssociations": True,
    "mode": "incremental",
}
SCHEDULE: dict[str, Any] = {
    "scheduleId": _SCHEDULE_ID,
    "scanId": "hourly-deals",
    "organizationId": "org_123456",
    "config": _CONFIG | {"organizationId": "org_123456"},
    "every": "1h",
    "cron": None,
    "timezone": "UTC",
    "paused": False,
    "pauseReason": None,
    "nextRunAt": "2025-09-29T11:00:00Z",
    "lastRun": {
        "jobId": "job_abc123xyz",
        "dueAt": "2025-09-29T10:00:00Z",
        "status": "completed",
        "completedAt": "2025-09-29T10:01:12Z",
    },
    "consecutiveFailures": 0,
    "runsStarted": 24,
    "ticksSkipped": 1,
    "createdAt": "2025-09-28T10:00:00Z",
    "updatedAt": "2025-09-29T10:00:00Z",
}
_PAUSED = SCHEDULE | {"paused": True, "pauseReason": "Paused by request.", "nextRunAt": None}

SCHEDULE_EXAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/api/v1/schedules"): {
        "request": {
            "scanId": "hourly-deals",
            "every": "1h",
            "config": {"connectionId": _CONFIG["connectionId"], "includeAssociations": True},
        },
        "responses": {"201": SCHEDULE},
    },
    ("get", "/api/v1/schedules"): {"responses": {"200": {"schedules": [SCHEDULE]}}},
    ("get", "/api/v1/schedules/{schedule_id}"): {"responses": {"200": SCHEDULE}},
    ("patch", "/api/v1/schedules/{schedule_id}"): {
        "request": {"cron": "0 6 * * 1-5", "timezone": "Europe/Paris"},
        "responses": {
            "200": SCHEDULE
            | {
                "every": None,
                "cron": "0 6 * * 1-5",
                "timezone": "Europe/Paris",
                "nextRunAt": "2025-09-30T04:00:00Z",
            }
        },
    },
    ("post", "/api/v1/schedules/{schedule_id}/pause"): {"responses": {"200": _PAUSED}},
    ("post", "/api/v1/schedules/{schedule_id}/resume"): {"responses": {"200": SCHEDULE}},
    ("delete", "/api/v1/schedules/{schedule_id}"): {
        "responses": {"200": {"message": "Schedule deleted", "scheduleId": _SCHEDULE_ID}}
    },
}
