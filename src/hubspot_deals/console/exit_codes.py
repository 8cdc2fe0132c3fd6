"""The ``scan`` commands' exit codes: stable, documented in docs/cli.md, for scripts to branch on.

A scan's end (with ``--wait``) and each kind of failure get a code of their own, so a script can
tell "retry later" (4, 6) from "fix the command" (2, 7) from "the scan itself failed" (1).
"""

from __future__ import annotations

from enum import IntEnum

from hubspot_deals.console.api_client import ApiError, ClientError, ServiceUnreachable


class ExitCode(IntEnum):
    OK = 0  #: done; with --wait, the scan completed
    SCAN_FAILED = 1  #: the scan ended failed
    USAGE = 2  #: a bad flag or config (typer's own usage errors are 2 too), 400 VALIDATION_ERROR
    SCAN_CANCELLED = 3  #: the scan ended cancelled
    UNREACHABLE = 4  #: no answer from the service, or 503 SERVICE_UNAVAILABLE (retry later)
    NOT_FOUND = 5  #: no scan of this id (for this API key's organization)
    RATE_LIMITED = 6  #: 429 RATE_LIMIT_EXCEEDED (retry after Retry-After)
    UNAUTHORIZED = 7  #: 401 (API key missing, wrong or revoked) or 403 (not your organization)
    CONFLICT = 8  #: the scan's state forbids it: in progress, not ready, already finished
    SERVICE_ERROR = 9  #: 500 INTERNAL_ERROR, or an answer the CLI does not understand
    INTERRUPTED = 130  #: Ctrl-C (128 + SIGINT); a scan being waited for keeps running


#: By the envelope's error_code first: it is more precise than the HTTP status.
BY_CODE = {
    "VALIDATION_ERROR": ExitCode.USAGE,
    "PAYLOAD_TOO_LARGE": ExitCode.USAGE,
    "UNAUTHORIZED": ExitCode.UNAUTHORIZED,
    "FORBIDDEN": ExitCode.UNAUTHORIZED,
    "SCAN_NOT_FOUND": ExitCode.NOT_FOUND,
    "CONNECTION_NOT_FOUND": ExitCode.NOT_FOUND,
    "CONNECTION_IN_USE": ExitCode.CONFLICT,
    "HUBSPOT_API_ERROR": ExitCode.SCAN_FAILED,  # a connection HubSpot could not check
    "SCAN_NOT_READY": ExitCode.CONFLICT,
    "HUBSPOT_AUTH_FAILED": ExitCode.SCAN_FAILED,  # refused at start: the scan cannot run
    "SCAN_IN_PROGRESS": ExitCode.CONFLICT,
    "INVALID_CANCELLATION": ExitCode.CONFLICT,
    "RATE_LIMIT_EXCEEDED": ExitCode.RATE_LIMITED,
    "SERVICE_UNAVAILABLE": ExitCode.UNREACHABLE,
    "INTERNAL_ERROR": ExitCode.SERVICE_ERROR,
}
BY_STATUS = {
    400: ExitCode.USAGE,
    401: ExitCode.UNAUTHORIZED,
    403: ExitCode.UNAUTHORIZED,
    404: ExitCode.NOT_FOUND,
    409: ExitCode.CONFLICT,
    413: ExitCode.USAGE,
    422: ExitCode.USAGE,
    429: ExitCode.RATE_LIMITED,
    502: ExitCode.UNREACHABLE,
    503: ExitCode.UNREACHABLE,
    504: ExitCode.UNREACHABLE,
}
#: A finished scan's status -> the code ``--wait`` exits with.
BY_SCAN_STATUS = {
    "completed": ExitCode.OK,
    "failed": ExitCode.SCAN_FAILED,
    "cancelled": ExitCode.SCAN_CANCELLED,
    "not_found": ExitCode.NOT_FOUND,
}


def exit_code_of(error: ClientError) -> ExitCode:
    if isinstance(error, ServiceUnreachable):
        return ExitCode.UNREACHABLE
    if isinstance(error, ApiError):
        return BY_CODE.get(error.code) or BY_STATUS.get(error.status, ExitCode.SERVICE_ERROR)
    return ExitCode.SERVICE_ERROR
