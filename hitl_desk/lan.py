"""Which of this machine's addresses are on the LAN: the ones a LAN listener and mDNS may use.

Interfaces come from ``ifaddr`` (the enumeration zeroconf itself uses, so both agree on what an
interface is).  Loopback, link-local, and the virtual interfaces of containers and VMs (docker,
veth, bridges, virbr, ...) are skipped: a phone can never reach those, and advertising on them
would only leak the service to containers.  The interface holding the default route is the LAN
as far as this machine knows, so when there is one its addresses are the choice (even when it is
a bridge, as on a host whose LAN port is bridged for VMs).  Only IPv4 for now: pairing links carry
a literal IPv4 address, and phones resolve nothing else reliably.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hitl_desk.errors import InvalidRequestError
from hitl_desk.wire import WireModel

VIRTUAL_PREFIXES = ("lo", "docker", "veth", "br-", "virbr", "lxcbr", "lxdbr", "cni", "podman", "flannel",
                    "cali", "vboxnet", "vmnet", "kube")
"""Interface-name prefixes of loopback and of container/VM plumbing (Linux and macOS names)."""
ROUTE_TABLE = Path("/proc/net/route")
SYS_NET = Path("/sys/class/net")


@dataclass(frozen=True)
class Interface:
    """One interface with its IPv4 addresses, as the chooser sees it."""

    name: str
    addresses: tuple[str, ...]


def interfaces() -> list[Interface]:
    """This machine's interfaces and their IPv4 addresses (from ifaddr)."""
    import ifaddr

    found = []
    for adapter in ifaddr.get_adapters():
        v4 = tuple(str(ip.ip) for ip in adapter.ips if ip.is_IPv4 and isinstance(ip.ip, str))
        found.append(Interface(str(adapter.name), v4))
    return found


def default_route_interfaces(route_table: Path = ROUTE_TABLE) -> list[str]:
    """Interfaces holding an IPv4 default route, best metric first (Linux; elsewhere none)."""
    try:
        lines = route_table.read_text().splitlines()[1:]
    except OSError:
        return []
    routes: list[tuple[int, str]] = []
    for line in lines:
        fields = line.split()
        if len(fields) < 8:
            continue
        name, destination, flags, metric, mask = fields[0], fields[1], fields[3], fields[6], fields[7]
        try:
            up = int(flags, 16) & 0x1
            if destination == "00000000" and mask == "00000000" and up:
                routes.append((int(metric), name))
        except ValueError:
            continue
    return [name for _, name in sorted(routes)]


def is_bridge(name: str, sys_net: Path = SYS_NET) -> bool:
    """Whether the kernel says this interface is a bridge (Linux)."""
    return (sys_net / name / "bridge").is_dir()


def eligible(address: str) -> bool:
    """An address a LAN peer could reach: not loopback, link-local, multicast or unspecified."""
    ip = ipaddress.IPv4Address(address)
    return not (ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified)


def choose_addresses(found: Iterable[Interface], default_routes: Sequence[str],
                     bridges: Iterable[str] = ()) -> list[str]:
    """The LAN addresses to serve on: the default-route interface's, else every eligible one.

    ``bridges``: interfaces the kernel reports as bridges (skipped unless they hold the default route).
    """
    found = list(found)
    usable = {i.name: [a for a in i.addresses if eligible(a)] for i in found}
    for name in default_routes:
        if usable.get(name) and not name.startswith("lo"):
            return usable[name]
    skipped = set(bridges)
    return [address for i in found if not i.name.startswith(VIRTUAL_PREFIXES) and i.name not in skipped
            for address in usable[i.name]]


def lan_addresses() -> list[str]:
    """This machine's LAN addresses now (see the module docstring for the choice)."""
    found = interfaces()
    return choose_addresses(found, default_route_interfaces(), [i.name for i in found if is_bridge(i.name)])


def parse_lan_address(text: str) -> str:
    """A ``--lan-address``: one IPv4 address of this machine, never a wildcard or multicast."""
    try:
        ip = ipaddress.IPv4Address(text.strip())
    except ValueError:
        raise InvalidRequestError(f"--lan-address {text!r} is not an IPv4 address (e.g. 192.168.1.20).") from None
    if ip.is_unspecified or ip.is_multicast or ip.is_link_local:
        raise InvalidRequestError(f"--lan-address {text!r} must be one address of this machine's LAN interface, "
                                  "not a wildcard, multicast or link-local address.")
    return str(ip)


class LanSwitch(WireModel):
    """``PUT /api/v1/lan``: turn the relay's LAN listener on or off (kept for its next start)."""

    enabled: bool


class LanStatus(WireModel):
    """``GET``/``PUT /api/v1/lan``: whether the LAN listener runs, and where devices reach it."""

    enabled: bool
    urls: list[str]
