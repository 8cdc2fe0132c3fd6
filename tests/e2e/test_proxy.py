"""The shipped deployment's edge: nginx (deploy/nginx.conf) in front of the API with the proxy trust
compose.yaml gives it. A client must not choose the address its per-address rate limit counts."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from hubspot_deals.sandbox.process import SandboxProcess, free_port
from tests.e2e.conftest import ServiceProcess

pytestmark = pytest.mark.mode_independent  # the edge's settings, whatever runs behind it

ROOT = Path(__file__).resolve().parents[2]
PER_MINUTE = 5


def shipped_trust() -> tuple[str, str]:
    """compose.yaml's FORWARDED_ALLOW_IPS for the API and the address it gives nginx."""
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    trusted = compose["services"]["api"]["environment"]["FORWARDED_ALLOW_IPS"]
    nginx = compose["services"]["nginx"]["networks"]["default"]["ipv4_address"]
    return str(trusted), str(nginx)


@pytest.fixture
def edge(tmp_path: Path, upstream: ServiceProcess) -> Iterator[str]:
    """The shipped nginx.conf, with only its addresses made local, in front of ``upstream``."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.skip("nginx is not installed (.ci/run installs Debian's nginx-light)")
    port = free_port()
    errors = tmp_path / "error.log"
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    site = site.replace("server api:8000;", f"server 127.0.0.1:{upstream.port};")
    site = site.replace("listen 8000;", f"listen 127.0.0.1:{port};")
    (tmp_path / "site.conf").write_text(site)
    temp = " ".join(
        f"{kind}_temp_path {tmp_path / kind};" for kind in ("client_body", "proxy", "fastcgi")
    )
    (tmp_path / "nginx.conf").write_text(
        f"daemon off; pid {tmp_path / 'nginx.pid'}; error_log {errors};\n"
        f"events {{}}\n"
        f"http {{ access_log off; {temp} uwsgi_temp_path {tmp_path / 'uwsgi'}; "
        f"scgi_temp_path {tmp_path / 'scgi'}; include {tmp_path / 'site.conf'}; }}\n"
    )
    process = subprocess.Popen(  # noqa: S603 - the system's nginx with our own files
        [nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", str(errors)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/health", timeout=1)
            break
        except httpx.HTTPError:
            assert process.poll() is None, errors.read_text() if errors.exists() else "no log"
            time.sleep(0.02)
    yield url
    process.terminate()
    process.wait(10)


@pytest.fixture
def upstream(portal: SandboxProcess, make_service: Callable[..., ServiceProcess]) -> ServiceProcess:
    """The API with compose's proxy trust, nginx's address being 127.0.0.1 here."""
    trusted, nginx_address = shipped_trust()
    assert trusted == nginx_address, "the API must trust nginx's address and nothing else"
    return make_service(
        portal,
        distributed=False,
        FORWARDED_ALLOW_IPS="127.0.0.1",
        API_RATE_LIMIT_PER_MINUTE=str(PER_MINUTE),
    )


def test_spoofed_forwarded_for_counts_against_the_real_address(
    edge: str, upstream: ServiceProcess
) -> None:
    """Through nginx, a new made-up X-Forwarded-For on every request still meets the limit of
    the address nginx saw; straight to the API from an address it does not trust, the header is
    ignored as well."""
    codes = [
        httpx.get(
            f"{edge}/api/v1/scan/list", headers={"X-Forwarded-For": f"203.0.113.{n}"}
        ).status_code
        for n in range(PER_MINUTE + 1)
    ]
    assert codes == [200] * PER_MINUTE + [429], codes
    elsewhere = httpx.HTTPTransport(local_address="127.0.0.2")  # loopback, but not nginx
    with httpx.Client(transport=elsewhere, base_url=upstream.url) as direct:
        direct_codes = [
            direct.get(
                "/api/v1/scan/list", headers={"X-Forwarded-For": f"198.51.100.{n}"}
            ).status_code
            for n in range(PER_MINUTE + 1)
        ]
    assert direct_codes == [200] * PER_MINUTE + [429], direct_codes
