"""Where a webhook may go: the checks made when an endpoint is saved (admin, spec) and again at every
delivery (a name may resolve elsewhere by then).

Every block in IANA's special-purpose address registries is refused, whatever its "globally
reachable" flag (https://www.iana.org/assignments/iana-ipv4-special-registry,
https://www.iana.org/assignments/iana-ipv6-special-registry): none of them is where a business's CRM
listens, several reach this host or its network (192.0.0.0/24; 6to4 2002::/16 and NAT64 64:ff9b::/96,
which embed any IPv4 address, 127.0.0.1 included), and Python's `is_global` lets some through. IPv6
must moreover be global unicast (2000::/3)."""
from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

IPV4_SPECIAL = [ipaddress.ip_network(block) for block in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
    "192.0.2.0/24", "192.31.196.0/24", "192.52.193.0/24", "192.88.99.0/24", "192.168.0.0/16", "192.175.48.0/24",
    "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
)]
IPV6_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
IPV6_SPECIAL = [ipaddress.ip_network(block) for block in (
    "::/128", "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",
    "2002::/16", "2620:4f:8000::/48", "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10", "ff00::/8",
)]


class EndpointRefused(ValueError):
    """The URL is not one Soniq may send to; the message says why, in the owner's words."""


def address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return address_is_public(str(ip.ipv4_mapped))
        return ip in IPV6_GLOBAL_UNICAST and not any(ip in block for block in IPV6_SPECIAL) and ip.is_global
    return not any(ip in block for block in IPV4_SPECIAL) and ip.is_global


def endpoint_url_check(url: str, *, allow_private: bool) -> tuple[str, str, int, str]:
    """(scheme, host, port, path with query) of an endpoint URL Soniq may send to, or EndpointRefused:
    https only (http too with `allow_private`, development), no `user:password@` (the secret is the
    signature, and credentials in a URL end up in logs), a port, and an IP literal that is public."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise EndpointRefused("The endpoint URL is not a valid URL.") from None
    if parts.scheme not in ({"https", "http"} if allow_private else {"https"}):
        raise EndpointRefused("The endpoint must be an https:// URL.")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise EndpointRefused("The endpoint URL must not contain a user name or password; the signature "
                              "authenticates Soniq.")
    if not parts.hostname:
        raise EndpointRefused("The endpoint URL has no host.")
    host = parts.hostname
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None and not allow_private and not address_is_public(host):
        raise EndpointRefused("The endpoint's address is not a public internet address.")
    if literal is None and not allow_private and (host == "localhost" or host.endswith(".localhost")):
        raise EndpointRefused("The endpoint's address is not a public internet address.")
    port = port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, host, port, path
