"""Where a webhook may point: http or https URLs whose host resolves to public addresses only.

A webhook URL is the caller's, and the service would POST to it from inside its network: one
aimed at 127.0.0.1, 10.0.0.0/8, 169.254.169.254 (a cloud's metadata service) and the like would
make the service a way in (server-side request forgery). The URL is checked when it is registered
(a 400 under ``url``) and again at every attempt, since DNS may answer otherwise later: the name is
resolved, every address checked, and the attempt connects to the checked address itself (the
name still in ``Host`` and in TLS's SNI and certificate check), so no second lookup can swap it.
``WEBHOOK_ALLOW_PRIVATE_URLS`` lifts the address check (receivers on one's own network, tests).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

import httpx

#: How long a name may take to resolve.
RESOLVE_SECONDS = 5.0
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(Exception):
    """The URL may not be called: ``str()`` says why, in a sentence for its owner."""


@dataclass(frozen=True)
class Target:
    """The request to make for a webhook URL: the URL with its host replaced by the checked
    address, the ``Host`` header and the name TLS checks the certificate against."""

    url: httpx.URL
    host_header: str
    #: None when the URL names an address itself
    sni_hostname: str | None


def parse(url: str) -> httpx.URL:
    """The URL, if it has a form a webhook may take (else ``AddressRefused``)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise AddressRefused("Must be an http or https URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise AddressRefused("Must be an http or https URL")
    if parsed.userinfo:
        raise AddressRefused(
            "Must not hold a user name or password (the URL is stored and shown as it is)"
        )
    if parsed.fragment:
        raise AddressRefused("Must not have a #fragment (it is never sent)")
    return parsed


def is_public(address: IPAddress) -> bool:
    """Globally routable (``is_global``), an IPv4 address inside IPv6 judged as itself."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return is_public(mapped)
    return address.is_global and not address.is_multicast


async def resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses ``host`` resolves to now (a literal address is itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_SECONDS):
            found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError):
        raise AddressRefused(f"Its host name {host!r} does not resolve") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])  # no IPv6 zone
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise AddressRefused(f"Its host name {host!r} does not resolve")
    return addresses


def check(addresses: list[IPAddress], *, allow_private: bool) -> IPAddress:
    """The address to connect to; refused if any of them is not public (unless allowed): a
    name that answers one public and one private address is not trusted with either."""
    if not allow_private:
        for address in addresses:
            if not is_public(address):
                raise AddressRefused(
                    f"Must resolve to public addresses only: {address} is loopback, private, "
                    "link-local or otherwise not public"
                )
    return addresses[0]


async def checked(url: str, *, allow_private: bool) -> Target:
    """The request to make for ``url`` now: resolved, checked, pinned to the checked address."""
    parsed = parse(url)
    host = parsed.raw_host.decode("ascii")  # an international name in its IDNA form
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    address = check(await resolve(host, port), allow_private=allow_private)
    literal = str(address) == host.strip("[]")
    return Target(
        parsed.copy_with(host=str(address)),
        parsed.netloc.decode("ascii"),
        None if literal else host,
    )
