"""The client's address and scheme behind reverse proxies.

`X-Forwarded-For` and `X-Forwarded-Proto` are believed only when the connection comes from a configured proxy
(`DUCTING_TRUSTED_PROXIES`, addresses or CIDRs). The address is then found from the right of `X-Forwarded-For`:
each proxy appends the address it was reached from, so the first hop from the right that is not a trusted proxy is
the client; anything left of it was written by the client and proves nothing. `ducting.ops.context` writes the
result into the ASGI scope once per request, so `request.client.host` and `request.url.scheme` are the resolved
ones everywhere: the audit trail, the citizen-report limit, sign-in, cookies' `Secure`, OIDC's redirect URL.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=16)
def parse_networks(spec: str) -> tuple[Network, ...]:
    """`"10.0.0.0/8, 127.0.0.1"` as networks; raises ValueError naming a bad entry."""
    nets = []
    for part in spec.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            nets.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"{part!r} is not an IP address or CIDR") from None
    return tuple(nets)


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip().strip('"')
    if value.startswith("["):  # "[2001:db8::1]:443"
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:  # "203.0.113.7:5678"
        value = value.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return None
    return ip.ipv4_mapped or ip if isinstance(ip, ipaddress.IPv6Address) else ip


def in_networks(addr: str | None, nets: tuple[Network, ...]) -> bool:
    ip = _ip(addr) if addr else None
    return ip is not None and any(ip in n for n in nets)


def resolve(
    peer: str | None, forwarded_for: str, forwarded_proto: str, scheme: str, trusted: tuple[Network, ...]
) -> tuple[str | None, str]:
    """(client address, scheme) of a request that reached us from `peer` with these headers."""
    if not trusted or not in_networks(peer, trusted):
        return peer, scheme
    client = peer
    for hop in reversed(forwarded_for.split(",") if forwarded_for else []):
        ip = _ip(hop)
        if ip is None:  # garbage in the chain: stop at the last address a trusted proxy vouched for
            break
        client = str(ip)
        if not any(ip in n for n in trusted):
            break
    proto = forwarded_proto.split(",")[0].strip().lower() if forwarded_proto else ""
    return client, proto if proto in ("http", "https") else scheme
