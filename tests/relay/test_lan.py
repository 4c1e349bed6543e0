"""The LAN listener: a second app on the LAN addresses that serves only what the LAN may reach.

The LAN address in these tests is 127.0.0.2 (any 127/8 address is on ``lo``), so nothing leaves
the machine; mDNS is off here (``test_mdns`` covers it).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from hitl_desk.errors import RelayStartError
from hitl_desk.settings import LanChoice, Settings
from relay.command import config_from_args
from relay.lan import LanListener, lan_listener
from tests.conftest import LiveRelay, live_relay, start_relay

LAN_ADDRESS = "127.0.0.2"


@pytest.fixture
async def lan_relay(tmp_path: Path) -> AsyncIterator[LiveRelay]:
    """A relay with its LAN listener on 127.0.0.2 (no mDNS)."""
    async with live_relay(tmp_path, lan=True, lan_addresses=(LAN_ADDRESS,), mdns=False) as live:
        yield live


def listener(relay: LiveRelay) -> LanListener:
    """The relay's LAN listener."""
    return lan_listener(relay.running.app)


async def fetch(url: str, method: str = "GET", **kwargs: object) -> tuple[int, dict[str, object]]:
    """One request; the status and the JSON body."""
    async with aiohttp.ClientSession() as http:
        async with http.request(method, url, **kwargs) as response:  # type: ignore[arg-type]
            return response.status, await response.json(content_type=None)


async def test_lan_listener_answers_liveness_without_counts(lan_relay: LiveRelay) -> None:
    lan = listener(lan_relay)
    assert lan.addresses == (LAN_ADDRESS,)
    assert lan.port != lan_relay.running.port  # its own free port, as the loopback one was asked as 0
    status, body = await fetch(lan.urls[0] + "/healthz")
    assert status == 200
    assert body["status"] == "ok" and "pending" not in body


def loopback_routes(relay: LiveRelay) -> list[tuple[str, str]]:
    """Every (method, path) the loopback app serves, with a made-up value in each path variable."""
    found = []
    for route in relay.running.app.router.routes():
        path = re.sub(r"\{[^}]+\}", "x", route.resource.canonical if route.resource else "")
        method = "POST" if route.method == "*" else route.method
        if method != "HEAD" and path != "/healthz":
            found.append((method, path))
    return sorted(set(found))


async def test_every_agent_mcp_and_owner_route_is_not_on_lan_even_with_the_owner_credential(
        lan_relay: LiveRelay) -> None:
    url = listener(lan_relay).urls[0]
    routes = loopback_routes(lan_relay)
    assert ("POST", "/mcp") in routes and ("POST", "/api/v1/hitl/request") in routes and len(routes) > 20
    owner = {"Authorization": f"Bearer {lan_relay.owner_token}"}
    for method, path in routes:
        status, body = await fetch(url + path, method, headers=owner, json={"name": "lan-agent", "prompt": "p"})
        assert (status, body["error"]["code"]) == (404, "not_on_lan"), (method, path, body)  # type: ignore[index]
    async with lan_relay.owner() as owner_client:
        assert [a.name for a in await owner_client.list_agents()] == []  # nothing was done
        assert await owner_client.list_requests() == []
        assert await owner_client.list_api_keys() == []


async def test_unknown_path_on_lan_is_plain_not_found(lan_relay: LiveRelay) -> None:
    status, body = await fetch(listener(lan_relay).urls[0] + "/no/such/thing")
    assert (status, body["error"]["code"]) == (404, "not_found")  # type: ignore[index]


@pytest.mark.parametrize(("headers", "code"), [
    ({"Host": "evil.example"}, "host_not_allowed"),
    ({"Host": "127.0.0.1:{port}"}, "host_not_allowed"),  # a loopback name is not the LAN listener's
    ({"Host": "localhost:{port}"}, "host_not_allowed"),
    ({"Host": LAN_ADDRESS}, "host_not_allowed"),  # its address, but not its port
    ({"Host": LAN_ADDRESS + ":1"}, "host_not_allowed"),
    ({"Origin": "http://evil.example"}, "origin_not_allowed"),
    ({"Origin": "null"}, "origin_not_allowed"),
    ({"Origin": "http://127.0.0.1:{port}"}, "origin_not_allowed"),
    ({"Origin": f"http://{LAN_ADDRESS}"}, "origin_not_allowed"),
])
async def test_lan_listener_refuses_any_host_or_origin_but_its_own(lan_relay: LiveRelay, headers: dict[str, str],
                                                                     code: str) -> None:
    lan = listener(lan_relay)
    sent = {name: value.format(port=lan.port) for name, value in headers.items()}
    status, body = await fetch(lan.urls[0] + "/healthz", headers=sent)
    assert (status, body["error"]["code"]) == (403, code)  # type: ignore[index]


async def test_lan_listener_accepts_its_own_origin(lan_relay: LiveRelay) -> None:
    lan = listener(lan_relay)
    status, _ = await fetch(lan.urls[0] + "/healthz", headers={"Origin": lan.urls[0]})
    assert status == 200


async def test_loopback_listener_refuses_the_lan_host_and_is_otherwise_unchanged(lan_relay: LiveRelay) -> None:
    port = listener(lan_relay).port
    status, body = await fetch(lan_relay.url + "/healthz", headers={"Host": f"{LAN_ADDRESS}:{port}"})
    assert (status, body["error"]["code"]) == (403, "host_not_allowed")  # type: ignore[index]
    status, body = await fetch(lan_relay.url + "/healthz")
    assert status == 200 and body["pending"] == 0


async def test_moving_to_another_address_serves_there_and_stops_serving_the_old_one(lan_relay: LiveRelay) -> None:
    lan = listener(lan_relay)
    old = lan.urls[0]
    await lan.set_addresses(["127.0.0.3"])
    assert lan.urls == [f"http://127.0.0.3:{lan.port}"]  # the same port
    assert (await fetch(lan.urls[0] + "/healthz"))[0] == 200
    with pytest.raises(aiohttp.ClientConnectionError):
        await fetch(old + "/healthz")


async def test_a_lan_address_that_cannot_be_bound_fails_the_start_in_one_line(tmp_path: Path) -> None:
    async with live_relay(tmp_path / "first", lan=True, lan_addresses=(LAN_ADDRESS,), mdns=False) as first:
        taken = listener(first).port
        with pytest.raises(RelayStartError, match=rf"LAN listener cannot listen on port {taken} of "
                                                  rf"{LAN_ADDRESS}: the port is in use"):
            await start_relay(tmp_path / "second", lan=True, lan_addresses=(LAN_ADDRESS,), lan_port=taken,
                              mdns=False)


async def test_relay_without_lan_has_no_lan_listener(relay: LiveRelay) -> None:
    assert lan_listener(relay.running.app) is None


def relay_args(*argv: str) -> object:
    """The ``relay`` command's arguments parsed by the real CLI parser."""
    from hitl_desk.cli import build_parser

    return build_parser().parse_args(["relay", *argv])


def test_relay_flags_make_a_lan_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HITL_HOME", str(tmp_path))
    monkeypatch.delenv("HITL_LAN", raising=False)
    monkeypatch.delenv("HITL_SERVER_URL", raising=False)
    plain = config_from_args(relay_args())  # type: ignore[arg-type]
    assert (plain.lan, plain.host) == (False, "127.0.0.1")
    lan = config_from_args(relay_args("--lan"))  # type: ignore[arg-type]
    assert (lan.lan, lan.host, lan.lan_addresses) == (True, "127.0.0.1", ())  # loopback stays loopback
    chosen = config_from_args(relay_args("--lan-address", " 127.0.0.2", "--lan-port", "9000"))  # type: ignore[arg-type]
    assert (chosen.lan, chosen.lan_addresses, chosen.lan_port) == (True, ("127.0.0.2",), 9000)


@pytest.mark.parametrize("address", ["nonsense", "0.0.0.0", "224.0.0.251", "169.254.1.1", "::1"])
def test_a_lan_address_that_is_not_one_ipv4_host_address_is_refused(address: str, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from hitl_desk.errors import InvalidRequestError

    monkeypatch.setenv("HITL_HOME", str(tmp_path))
    with pytest.raises(InvalidRequestError, match="--lan-address"):
        config_from_args(relay_args("--lan-address", address))  # type: ignore[arg-type]


def test_the_lan_switch_is_kept_in_home_and_hitl_lan_overrides_it(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(home=tmp_path)
    assert settings.lan_choice() == LanChoice()  # off by default
    settings.save_lan_choice(LanChoice(True, ("127.0.0.2",)))
    assert (tmp_path / "lan.json").stat().st_mode & 0o077 == 0
    assert Settings(home=tmp_path).lan_choice() == LanChoice(True, ("127.0.0.2",))
    assert Settings.from_env({"HITL_HOME": str(tmp_path), "HITL_LAN": "0"}).lan_choice().enabled is False
    monkeypatch.setenv("HITL_HOME", str(tmp_path))
    monkeypatch.delenv("HITL_LAN", raising=False)
    assert config_from_args(relay_args()).lan_addresses == ("127.0.0.2",)  # type: ignore[arg-type]
    (tmp_path / "lan.json").write_text("{not json")
    assert Settings(home=tmp_path).lan_choice() == LanChoice()  # damaged: off, the safe side


async def test_an_allowed_host_name_is_accepted_on_the_lan_listener_at_its_port(tmp_path: Path) -> None:
    async with live_relay(tmp_path, lan=True, lan_addresses=(LAN_ADDRESS,), mdns=False,
                          allowed_hosts=("desk.example",)) as relay:
        lan = listener(relay)
        assert (await fetch(lan.urls[0] + "/healthz", headers={"Host": f"desk.example:{lan.port}"}))[0] == 200
        status, body = await fetch(lan.urls[0] + "/healthz", headers={"Host": "desk.example:1"})
        assert (status, body["error"]["code"]) == (403, "host_not_allowed")  # type: ignore[index]


async def test_the_relay_an_approver_starts_follows_the_saved_lan_switch_on_the_same_port(tmp_path: Path) -> None:
    from relay.app import embedded
    from tests.relay.startup_support import free_port

    port = free_port()
    settings = Settings(home=tmp_path, server_url=f"http://127.0.0.1:{port}", server_url_set=True)
    settings.save_lan_choice(LanChoice(True, (LAN_ADDRESS,)))
    async with embedded(settings) as url:  # its mDNS advert starts in the background and is cut short here
        assert url == f"http://127.0.0.1:{port}"
        status, body = await fetch(f"http://{LAN_ADDRESS}:{port}/healthz")
        assert status == 200 and "pending" not in body


def test_no_mdns_flag_keeps_the_lan_listener_unadvertised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HITL_HOME", str(tmp_path))
    assert config_from_args(relay_args("--lan")).mdns is True  # type: ignore[arg-type]
    assert config_from_args(relay_args("--lan", "--no-mdns")).mdns is False  # type: ignore[arg-type]


@pytest.mark.slow  # a CLI process
def test_the_main_listener_beyond_loopback_is_refused_even_with_lan(tmp_path: Path) -> None:
    from tests.relay.startup_support import free_port, run_failing

    done = run_failing("relay", "--lan", "--host", "0.0.0.0", "--port", str(free_port()), home=tmp_path / "home")
    assert done.code == 1 and len(done.lines) == 1
    assert "stays on loopback" in done.lines[0] and "--lan-address" in done.lines[0]


async def test_a_lan_address_of_another_machine_fails_the_start_saying_so(tmp_path: Path) -> None:
    with pytest.raises(RelayStartError, match="203.0.113.7: it is not an address of this machine; choose one with "
                                              "--lan-address"):
        await start_relay(tmp_path, lan=True, lan_addresses=("203.0.113.7",), mdns=False)  # bind() sends nothing
