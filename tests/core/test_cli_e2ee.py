"""The command line end to end encrypted: an agent shell asks with --e2ee, the approver shell
lists it decrypted and answers it sealed."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from hitl_desk.crypto import KeyPair
from tests.conftest import LiveRelay
from tests.deadline import until
from tests.secrecy import assert_relay_kept_none_of

SECRET = "Ship release 9.9 with the unannounced pricing-table-zeta?"


async def hitl_desk(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hitl_desk.cli", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def env_for(home: Path, url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HITL_")}
    env.update(HITL_HOME=str(home), HITL_SERVER_URL=url, **extra)
    return env


@pytest.mark.slow  # 3.6 s of CLI processes
async def test_cli_request_e2ee_is_listed_decrypted_and_answered_sealed(relay: LiveRelay, tmp_path: Path) -> None:
    desk_env = env_for(relay.home, relay.url)
    code, out, err = await hitl_desk("pending", env=desk_env)  # the first approver makes the desk key
    assert code == 0, err
    async with relay.owner() as owner:
        key = (await owner.create_api_key("shell-agent")).api_key
    agent_env = env_for(tmp_path / "agent-home", relay.url, HITL_API_KEY=key)
    asking = asyncio.create_task(hitl_desk("request", "--e2ee", "--prompt", SECRET, "--choice", "ship",
                                           "--choice", "hold", env=agent_env))

    async def listed() -> str:
        _, listing, _ = await hitl_desk("pending", env=desk_env)
        if SECRET in listing:
            return listing
        assert not asking.done(), asking.result()
        return ""

    listing = await until(listed, "the sealed request in the approver's listing", timeout=20, interval=0.05)
    line = next(li for li in listing.splitlines() if SECRET in li)
    assert "🔒" in line and "ship | hold" in line
    request_id = line.split()[0]
    code, _, err = await hitl_desk("answer", request_id, "hold", env=desk_env)
    assert code == 0 and "sealed" in err
    code, out, err = await asking
    assert (code, out) == (0, "hold\n"), err
    code, fingerprints, _ = await hitl_desk("keys", "fingerprint", env=desk_env)
    desk_line = next(li for li in fingerprints.splitlines() if li.startswith("this machine's desk key"))
    served_line = next(li for li in fingerprints.splitlines() if li.startswith("desk key served"))
    assert desk_line.split()[-4:] == served_line.split()[-4:]
    await assert_relay_kept_none_of(relay, SECRET)


async def test_changed_desk_key_is_refused_with_the_command_to_retrust(relay: LiveRelay, tmp_path: Path) -> None:
    desk_env = env_for(relay.home, relay.url)
    await hitl_desk("pending", env=desk_env)
    async with relay.owner() as owner:
        key = (await owner.create_api_key("pinning-agent")).api_key
    agent_env = env_for(tmp_path / "agent-home", relay.url, HITL_API_KEY=key)
    code, _, err = await hitl_desk("notify", "--e2ee", "--message", "pins it", env=agent_env)
    assert code == 0, err
    (relay.home / "desk.key").write_text(KeyPair.generate().to_json())  # the human makes a new desk key
    code, _, err = await hitl_desk("keys", "register-desk", env=desk_env)
    assert code == 1 and "register-desk --replace" in err  # never replaced by accident
    code, _, err = await hitl_desk("keys", "register-desk", "--replace", env=desk_env)
    assert code == 0, err
    code, _, err = await hitl_desk("notify", "--e2ee", "--message", "refused", env=agent_env)
    assert code == 1 and "hitl-desk keys trust-desk" in err
    code, _, err = await hitl_desk("keys", "trust-desk", env=agent_env)
    assert code == 0 and "trusting desk key" in err
    code, _, err = await hitl_desk("notify", "--e2ee", "--message", "accepted again", env=agent_env)
    assert code == 0, err
