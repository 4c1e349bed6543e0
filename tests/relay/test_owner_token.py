"""``hitl-desk token rotate`` revokes the old owner credential on the running relay; a missing one is explained."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from hitl_desk.client import RelayClient
from hitl_desk.errors import AuthenticationError
from tests.conftest import LiveRelay
from tests.relay.startup_support import free_port, run_cli, spawn_relay, stop_relay

EXIT_AUTH, EXIT_UNAVAILABLE = 6, 5


async def accepted(url: str, token: str) -> bool:
    """Whether the relay accepts ``token`` as the owner's."""
    async with RelayClient(url, token) as client:
        try:
            await client.list_requests("pending")
        except AuthenticationError:
            return False
    return True


@pytest.mark.slow
async def test_rotate_revokes_the_old_credential_on_the_running_relay_and_after_restart(tmp_path: Path) -> None:
    home, port = tmp_path / "home", free_port()
    url = f"http://127.0.0.1:{port}"
    proc = await spawn_relay(home, port)
    try:
        old = (home / "owner.token").read_text()
        assert await accepted(url, old)
        code, out, err = await run_cli("token", "rotate", home=home, url=url)
        assert code == 0, err
        assert out.strip() == str(home / "owner.token")
        new = (home / "owner.token").read_text()
        assert new != old
        assert not await accepted(url, old)  # the running relay, right after
        assert await accepted(url, new)
    finally:
        await stop_relay(proc)
    proc = await spawn_relay(home, port)
    try:
        assert not await accepted(url, old)
        assert await accepted(url, new)
        assert (home / "owner.token").read_text() == new  # a restart keeps the rotated one
    finally:
        await stop_relay(proc)


@pytest.mark.slow
async def test_offline_rotate_revokes_and_the_next_start_writes_a_new_credential(tmp_path: Path) -> None:
    home, port = tmp_path / "home", free_port()
    url = f"http://127.0.0.1:{port}"
    await stop_relay(await spawn_relay(home, port))
    old = (home / "owner.token").read_text()
    code, out, err = await run_cli("token", "rotate", "--offline", home=home, url=url)
    assert code == 0, err
    assert out.strip() == str(home / "owner.token")
    proc = await spawn_relay(home, port)
    try:
        new = (home / "owner.token").read_text()
        assert new != old
        assert not await accepted(url, old)
        assert await accepted(url, new)
    finally:
        await stop_relay(proc)


async def test_rotate_without_a_relay_says_to_use_offline(tmp_path: Path) -> None:
    code, out, err = await run_cli("token", "rotate", home=tmp_path, url=f"http://127.0.0.1:{free_port()}")
    assert code == EXIT_UNAVAILABLE
    assert "--offline" in err and "Traceback" not in err and out == ""


async def test_offline_rotate_is_refused_while_a_relay_answers(relay: LiveRelay) -> None:
    before = relay.owner_token
    code, _, err = await run_cli("token", "rotate", "--offline", home=relay.home, url=relay.url)
    assert code != 0 and "without --offline" in err
    assert relay.owner_token == before and await accepted(relay.url, before)


async def test_owner_command_without_credential_says_where_it_looked_and_what_to_run(
        relay: LiveRelay, tmp_path: Path) -> None:
    empty = tmp_path / "elsewhere"
    code, _, err = await run_cli("pending", home=empty, url=relay.url)
    assert code == EXIT_AUTH
    assert "$HITL_HOME/owner.token" in err and str(empty / "owner.token") in err
    assert "hitl-desk relay" in err and "Traceback" not in err


async def test_agent_command_without_credential_names_the_api_key_too(relay: LiveRelay, tmp_path: Path) -> None:
    empty = tmp_path / "elsewhere"
    code, _, err = await run_cli("request", "--prompt", "hello?", home=empty, url=relay.url)
    assert code == EXIT_AUTH
    assert "HITL_API_KEY" in err and str(empty / "owner.token") in err and "hitl-desk keys create" in err


async def test_owner_token_that_is_a_directory_is_one_line_not_a_traceback(relay: LiveRelay, tmp_path: Path) -> None:
    home = tmp_path / "elsewhere"
    (home / "owner.token").mkdir(parents=True)
    code, _, err = await run_cli("pending", home=home, url=relay.url)
    assert code == EXIT_AUTH
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "is a directory" in err and str(home / "owner.token") in err


async def test_tui_without_credential_says_where_it_looked_and_what_to_run(relay: LiveRelay, tmp_path: Path) -> None:
    empty = tmp_path / "elsewhere"
    code, _, err = await run_cli("tui", "--no-start", home=empty, url=relay.url)
    assert code == EXIT_AUTH
    assert "$HITL_HOME/owner.token" in err and str(empty / "owner.token") in err and "hitl-desk relay" in err


async def test_rotate_closes_approver_sockets_opened_with_the_old_credential(relay: LiveRelay) -> None:
    old = relay.owner_token
    headers = {"Authorization": f"Bearer {old}"}
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(relay.url + "/api/v1/events", headers=headers) as ws:
            assert (await ws.receive_json(timeout=5))["type"] == "ready"
            code, _, err = await run_cli("token", "rotate", home=relay.home, url=relay.url)
            assert code == 0, err
            closed = await ws.receive(timeout=5)
            assert (closed.type, closed.data) == (aiohttp.WSMsgType.CLOSE, 4401)
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(relay.url + "/api/v1/events", headers=headers)
        assert refused.value.status == 401
