"""``hubspot-deals serve`` refusing to start, in one line and before any banner: a port in use
(a second ``make run``), ``--workers`` without the distributed mode. And ``--version``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from hubspot_deals import __version__


def hubspot_deals(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    return subprocess.run(  # noqa: S603 - our own interpreter and fixed arguments
        [sys.executable, "-m", "hubspot_deals", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=clean | {"DATA_DIR": str(cwd / "data")} | env,
        timeout=60,
    )


def test_a_port_in_use_is_said_before_the_banner(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = hubspot_deals("serve", "--demo", "--port", str(port), cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert f"port {port} on 127.0.0.1 is in use" in run.stderr
    assert "Traceback" not in run.stderr and "Swagger" not in run.stderr and run.stdout == ""


def test_workers_need_the_distributed_mode(tmp_path: Path) -> None:
    run = hubspot_deals("serve", "--workers", "2", cwd=tmp_path)
    assert run.returncode == 2
    assert "--workers needs the distributed mode" in run.stderr and "REDIS_URL" in run.stderr
    assert not (tmp_path / "data").exists()  # nothing was started, nothing created


def test_version(tmp_path: Path) -> None:
    run = hubspot_deals("--version", cwd=tmp_path)
    assert run.returncode == 0 and run.stdout == f"hubspot-deals {__version__}\n"


def test_a_failed_startup_prints_no_demo_commands(tmp_path: Path) -> None:
    """The demo's commands are printed once the service answers: a database that cannot be
    reached ends the start (uvicorn's exit 3) with its error and no curl to paste."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens on it
    database = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/nowhere"
    run = hubspot_deals("serve", "--demo", "--port", "0", cwd=tmp_path, DATABASE_URL=database)
    assert run.returncode == 3, run.stderr
    assert "curl" not in run.stdout + run.stderr
    assert "Application startup failed" in run.stderr


def test_an_empty_token_key_is_named(tmp_path: Path) -> None:
    """``TOKEN_ENCRYPTION_KEY=`` (a shell's empty expansion) is refused by name, not as a
    traceback from the cipher."""
    for value, said in (("", "is set but empty"), ("not-a-key", "is not a Fernet key")):
        run = hubspot_deals("serve", cwd=tmp_path, TOKEN_ENCRYPTION_KEY=value)
        assert run.returncode == 2, run.stderr
        assert "TOKEN_ENCRYPTION_KEY" in run.stderr and said in run.stderr
        assert "Traceback" not in run.stderr
