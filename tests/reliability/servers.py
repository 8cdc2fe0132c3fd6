"""Private Redis and PostgreSQL servers that a test may restart as often as it likes, without touching
the machine's own (which other tests use). Both are the machine's installed server binaries."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from hubspot_deals.sandbox.process import free_port

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), Path("/usr/bin"))


def _wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


class PrivateRedis:
    """redis-server on a port of its own, keeping nothing on disk: a restart loses every key, as
    a Redis without persistence does (the harder case for us)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        self.process = subprocess.Popen(  # noqa: S603 - the installed server, fixed arguments
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_port(self.port)
        return self

    def stop(self, sig: signal.Signals = signal.SIGKILL) -> None:
        if self.process is not None:
            self.process.send_signal(sig)
            self.process.wait(30)
            self.process = None


class PrivatePostgres:
    """A PostgreSQL cluster of its own in a temporary directory (trust auth, user postgres), started
    and restarted with pg_ctl. As root, the server runs as the postgres user, as it must."""

    def __init__(self) -> None:
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="hsd-pg-"))
        self.data = self.directory / "data"
        os.chmod(self.directory, 0o755)  # noqa: S103 - the server's user must reach it
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "--no-sync", "-E", "UTF8",
        )  # fmt: skip

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}"

    def _run(self, *args: str) -> None:
        command = ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)
        subprocess.run(command, check=True, capture_output=True)  # noqa: S603 - fixed arguments

    def _ctl(self, *args: str) -> None:
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.directory / "log"),
            "-o", f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off",
            "-w", *args,
        )  # fmt: skip

    def start(self) -> PrivatePostgres:
        self._ctl("start")
        return self

    def stop(self, *, crash: bool = False) -> None:
        """``crash``: the immediate mode (no checkpoint: recovery from the WAL at the next start),
        else fast (connections are terminated, the server shuts down cleanly)."""
        self._ctl("stop", "-m", "immediate" if crash else "fast")

    def remove(self) -> None:
        self._ctl("stop", "-m", "immediate")
        shutil.rmtree(self.directory, ignore_errors=True)
