"""``hubspot-deals connection ...`` against a running service: create (a token from the
environment, an OAuth grant from flags), list, show, test, a scan started with --connection,
delete; and the exit codes of what goes wrong."""

from __future__ import annotations

from hubspot_deals.sandbox.process import SandboxProcess
from tests.cli.conftest import Cli
from tests.cli.test_scan_commands import assert_error_line, json_out
from tests.e2e.test_oauth import grant


def test_a_connection_from_create_to_delete(cli: Cli, fast_portal: SandboxProcess) -> None:
    made = json_out(
        cli("connection", "create", "CLI portal", "--json", HUBSPOT_ACCESS_TOKEN=fast_portal.token)
    )
    connection = made["connectionId"]
    assert made["authType"] == "token" and made["scopes"][0] == "crm.objects.deals.read"
    oauth = grant(fast_portal)
    shown = cli(
        "connection", "create", "CLI grant", "--client-id", oauth["client_id"],
        HUBSPOT_CLIENT_SECRET=oauth["client_secret"], HUBSPOT_REFRESH_TOKEN=oauth["refresh_token"],
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "oauth" in shown.stdout and "--connection conn_" in shown.stderr
    assert oauth["client_secret"] not in shown.stdout + shown.stderr
    listed = cli("connection", "list")
    assert connection in listed.stdout and "CLI grant" in listed.stdout
    assert json_out(cli("connection", "show", connection, "--json")) == made
    assert cli("connection", "test", connection).returncode == 0
    started = cli("scan", "start", "cli-by-connection", "--connection", connection, "--wait",
                  HUBSPOT_ACCESS_TOKEN=fast_portal.token)  # fmt: skip
    assert started.returncode == 0, started.stderr  # the variable is not sent beside it
    deleted = cli("connection", "delete", connection)
    assert deleted.returncode == 0 and f"deleted connection {connection}" in deleted.stderr
    assert_error_line(cli("connection", "show", connection), 5, "CONNECTION_NOT_FOUND")


def test_what_goes_wrong(cli: Cli) -> None:
    assert_error_line(cli("connection", "create", "nothing"), 2, "no credential")
    refused = cli("connection", "create", "typo", "--token", "pat-na1-unknown")
    assert_error_line(refused, 1, "HUBSPOT_AUTH_FAILED")
    assert_error_line(
        cli("connection", "delete", "conn_0123456789abcdef"), 5, "CONNECTION_NOT_FOUND"
    )
