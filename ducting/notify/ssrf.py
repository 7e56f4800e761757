"""Where a webhook may point: a public address that is not this service (an SSRF guard).

Refused: loopback, link-local (and so the cloud metadata address 169.254.169.254), private, shared (CGNAT),
multicast, reserved and unspecified addresses, IPv4-mapped forms of those, and this service itself (the host of
`DUCTING_NOTIFY_PUBLIC_URL`, and the address and port it serves on). A name must resolve, and every address it
resolves to must pass. The check runs at registration and again at every send, because a name's addresses can
change: at send time the connection is made only to the addresses that passed (`GuardedResolver`), so there is no
gap between checking a name and connecting to it. Redirects are not followed.

`DUCTING_NOTIFY_WEBHOOK_ALLOW_LOOPBACK` lets tests reach a receiver on 127.0.0.1. It is unsafe anywhere else, and
the settings refuse it in production.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ducting.errors import InvalidInput
from ducting.notify.settings import NotifySettings
from ducting.settings import Environment, get_settings

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolve = Callable[[str, int], list[str]]
METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
RESOLVE_TIMEOUT_S = 3.0
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="webhook-dns")


class WebhookUrlInvalid(InvalidInput):
    code = "webhook_url_invalid"


class WebhookUrlForbidden(InvalidInput):
    code = "webhook_url_forbidden"


class WebhookUrlUnresolvable(InvalidInput):
    code = "webhook_url_unresolvable"


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int


def system_resolve(host: str, port: int) -> list[str]:
    """The addresses a name resolves to (the system resolver, bounded in time)."""
    future = _pool.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=RESOLVE_TIMEOUT_S)
    except FutureTimeout:
        raise WebhookUrlUnresolvable(host=host, timeout_s=RESOLVE_TIMEOUT_S) from None
    except OSError as exc:
        raise WebhookUrlUnresolvable(host=host, error=str(exc.strerror or exc)) from None
    except (UnicodeError, ValueError):  # a label too long for IDNA, a NUL in the name
        raise WebhookUrlInvalid(why="host") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def parse(url: str) -> Target:
    """Scheme, host and port of a webhook URL, or WebhookUrlInvalid (https only in production)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookUrlInvalid(why="syntax") from None
    schemes = ("https",) if get_settings().env == Environment.PRODUCTION else ("https", "http")
    if parts.scheme not in schemes:
        raise WebhookUrlInvalid(why="scheme", schemes=[s + "://" for s in schemes])
    if not parts.hostname:
        raise WebhookUrlInvalid(why="no_host")
    if parts.username is not None or parts.password is not None:
        raise WebhookUrlInvalid(why="credentials")
    if parts.fragment:
        raise WebhookUrlInvalid(why="fragment")
    return Target(parts.scheme, parts.hostname.lower().rstrip("."), port or (443 if parts.scheme == "https" else 80))


def _literal(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def refusal(address: IpAddress, port: int, settings: NotifySettings, own: set[tuple[IpAddress, int]]) -> str | None:
    """Why a webhook may not connect to `address:port` (a code: `self`, `loopback`, `metadata`, `link_local`,
    `multicast`, `unspecified`, `private`; said in words by the catalogue's `notify.refusal.*`), or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if (address, port) in own:
        return "self"
    if address.is_loopback:
        return None if settings.webhook_allow_loopback else "loopback"
    if address in METADATA:
        return "metadata"
    if address.is_link_local:
        return "link_local"
    if address.is_multicast:
        return "multicast"
    if address.is_unspecified:
        return "unspecified"
    if not address.is_global:
        return "private"
    return None


class Guard:
    """Checks webhook URLs and addresses against the policy above. `resolve` is the name lookup (the system's;
    tests give a table of their own to play a name whose addresses change)."""

    def __init__(self, settings: NotifySettings, resolve: Resolve = system_resolve) -> None:
        self.settings, self.resolve = settings, resolve
        self._own: set[tuple[IpAddress, int]] | None = None

    def own(self) -> set[tuple[IpAddress, int]]:
        """This service's own addresses and ports: where it serves, and its public URL's host."""
        if self._own is None:
            own: set[tuple[IpAddress, int]] = set()
            app = get_settings()
            public = parse(self.settings.public_url)
            for host, port in ((app.host, app.port), (public.host, public.port)):
                literal = _literal(host)
                try:
                    found = [literal] if literal else [ipaddress.ip_address(a) for a in self.resolve(host, port)]
                except InvalidInput:
                    found = []
                own.update((a, port) for a in found if a is not None)
            self._own = own
        return self._own

    def check_address(self, address: str, port: int) -> None:
        reason = refusal(ipaddress.ip_address(address.split("%")[0]), port, self.settings, self.own())
        if reason:
            raise WebhookUrlForbidden(reason=reason, address=address)

    def check(self, url: str, *, resolve: bool = True) -> list[str]:
        """Refuse a URL that is malformed or leads anywhere but a public address other than this service; returns
        the addresses it may connect to now. `resolve=False` checks a name without looking it up (the sender's
        resolver checks its addresses as it connects)."""
        target = parse(url)
        literal = _literal(target.host)
        public = parse(self.settings.public_url)
        if target.host == public.host and (literal is None or target.port == public.port):
            raise WebhookUrlForbidden(reason="self", address=target.host)
        if literal is None and not resolve:
            return []
        addresses = [str(literal)] if literal else self.resolve(target.host, target.port)
        if not addresses:
            raise WebhookUrlUnresolvable(host=target.host)
        for address in addresses:
            self.check_address(address, target.port)
        return addresses


def guarded_resolver(guard: Guard) -> Any:
    """An aiohttp resolver that hands the connector only addresses the guard allows (checked at connect time)."""
    from aiohttp.abc import AbstractResolver, ResolveResult

    class GuardedResolver(AbstractResolver):
        async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[ResolveResult]:
            import asyncio

            addresses = await asyncio.to_thread(guard.resolve, host, port)
            for address in addresses:
                guard.check_address(address, port)
            return [
                ResolveResult(
                    hostname=host,
                    host=address,
                    port=port,
                    family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                    proto=0,
                    flags=socket.AI_NUMERICHOST,
                )
                for address in addresses
            ]

        async def close(self) -> None:
            return None

    return GuardedResolver()
