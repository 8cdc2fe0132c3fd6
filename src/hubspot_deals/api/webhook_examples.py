"""The webhook operations' examples for the OpenAPI document (a data table; examples.py merges
them into its own)."""

from __future__ import annotations

from typing import Any

WHEN = "2025-09-29T10:30:00Z"
WEBHOOK: dict[str, Any] = {
    "webhookId": "wh_7d3f9a1c5e2b4a60",
    "url": "https://hooks.example.com/hubspot-deals",
    "events": ["scan.completed", "scan.failed"],
    "organizationId": "org_123456",
    "createdAt": WHEN,
}
_PATH = "/api/v1/webhooks/{webhook_id}"
_ATTEMPT = {"statusCode": None, "error": "no answer within 10 s", "durationMs": 10004}

WEBHOOK_EXAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/api/v1/webhooks"): {
        "request": {
            "url": WEBHOOK["url"],
            "events": WEBHOOK["events"],
            "organizationId": "org_123456",
        },
        "responses": {
            "201": WEBHOOK | {"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
        },
    },
    ("get", "/api/v1/webhooks"): {"responses": {"200": {"webhooks": [WEBHOOK]}}},
    ("get", _PATH): {"responses": {"200": WEBHOOK}},
    ("delete", _PATH): {
        "responses": {"200": {"message": "Webhook deleted", "webhookId": WEBHOOK["webhookId"]}}
    },
    ("get", f"{_PATH}/deliveries"): {
        "responses": {
            "200": {
                "pagination": {
                    "current_page": 1,
                    "page_size": 20,
                    "total_items": 1,
                    "total_pages": 1,
                    "has_next": False,
                    "has_previous": False,
                    "next_page": None,
                    "previous_page": None,
                },
                "deliveries": [
                    {
                        "deliveryId": "dlv_0c4e8a2f6b1d3e57",
                        "event": "scan.completed",
                        "eventId": "evt_5b9e2c7a1f4d8e3a6c0b",
                        "eventKey": "job_277ac0759be1f62d",
                        "status": "delivered",
                        "createdAt": "2025-09-29T10:42:15Z",
                        "deliveredAt": "2025-09-29T10:43:16Z",
                        "nextAttemptAt": None,
                        "attempts": [
                            _ATTEMPT | {"at": "2025-09-29T10:42:15Z"},
                            {
                                "at": "2025-09-29T10:42:55Z",
                                "statusCode": 503,
                                "error": None,
                                "durationMs": 41,
                            },
                            {
                                "at": "2025-09-29T10:43:16Z",
                                "statusCode": 200,
                                "error": None,
                                "durationMs": 38,
                            },
                        ],
                    }
                ],
            }
        }
    },
}
