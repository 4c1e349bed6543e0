"""Choosing the LAN addresses: the default-route interface first, never loopback, link-local or container plumbing."""

from __future__ import annotations

from pathlib import Path

from hitl_desk.lan import Interface, choose_addresses, default_route_interfaces, interfaces, lan_addresses

HOST = [
    Interface("lo", ("127.0.0.1",)),
    Interface("docker0", ("172.17.0.1",)),
    Interface("br-5f2c", ("172.18.0.1",)),
    Interface("veth12ab", ("169.254.3.3",)),
    Interface("virbr0", ("192.168.122.1",)),
    Interface("wlp2s0", ("192.168.1.20", "169.254.9.9")),
    Interface("enp3s0", ("10.0.0.7",)),
    Interface("br0", ("192.168.50.2",)),
]

ROUTES = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
enp3s0\t00000000\t0100000A\t0003\t0\t0\t600\t00000000\t0\t0\t0
wlp2s0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
tun0\t00000000\t00000000\t0000\t0\t0\t1\t00000000\t0\t0\t0
garbage line
"""


def test_default_routes_are_read_best_metric_first_and_down_routes_skipped(tmp_path: Path) -> None:
    table = tmp_path / "route"
    table.write_text(ROUTES)
    assert default_route_interfaces(table) == ["wlp2s0", "enp3s0"]
    assert default_route_interfaces(tmp_path / "missing") == []  # not Linux: no preference


def test_the_default_route_interface_is_the_choice_without_its_link_local_address() -> None:
    assert choose_addresses(HOST, ["wlp2s0", "enp3s0"]) == ["192.168.1.20"]


def test_a_default_route_through_a_bridge_still_chooses_it() -> None:
    assert choose_addresses(HOST, ["br0"], bridges=["br0"]) == ["192.168.50.2"]


def test_without_a_default_route_every_real_interface_but_bridges_is_chosen() -> None:
    assert choose_addresses(HOST, [], bridges=["br0"]) == ["192.168.1.20", "10.0.0.7"]


def test_a_default_route_through_loopback_or_an_address_less_interface_is_passed_over() -> None:
    assert choose_addresses(HOST, ["lo", "tun0", "enp3s0"]) == ["10.0.0.7"]


def test_nothing_but_loopback_and_containers_means_no_lan_address() -> None:
    assert choose_addresses(HOST[:5], []) == []


def test_this_machine_is_enumerated_with_loopback_and_loopback_is_never_chosen() -> None:
    found = interfaces()
    assert any("127.0.0.1" in i.addresses for i in found)
    assert not any(address.startswith("127.") for address in lan_addresses())
