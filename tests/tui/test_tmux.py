"""As a new user would: `hitl-desk` in a real terminal (tmux), a request from another shell.

Needs the ``tmux`` binary (Debian: ``apt-get install -y tmux``); skipped without it, except on CI
where its absence is a failure.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hitl_desk.client import RelayClient
from hitl_desk.display import visible_line
from hitl_desk.settings import Settings
from tests.deadline import until_blocking
from tests.hostile import FORBIDDEN, HOSTILE

DEADLINE = 20.0
POLL_INTERVAL = 0.05


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    """Whether something accepts connections on the loopback port."""
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def poll(condition: Callable[[], object], what: str) -> None:
    """``until_blocking`` at tmux's pace: each check is a capture-pane subprocess."""
    until_blocking(condition, what, timeout=DEADLINE, interval=POLL_INTERVAL)


def hitl_desk_command() -> list[str]:
    """The installed console script, or the module when it is not on PATH."""
    found = shutil.which("hitl-desk")
    return [found] if found else [sys.executable, "-m", "hitl_desk.cli"]


class Tmux:
    """One tmux server on a private socket, so tests never touch a user's sessions."""

    def __init__(self, name: str) -> None:
        self.socket = name

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a tmux command against this server."""
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True,
                              check=check, timeout=10)

    def screen(self, target: str) -> str:
        """What the pane shows now."""
        result = self.run("capture-pane", "-p", "-t", target, check=False)
        return result.stdout

    def alive(self, target: str) -> bool:
        """Whether the session still exists."""
        return self.run("has-session", "-t", target, check=False).returncode == 0


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    """A private tmux server, killed afterwards."""
    if shutil.which("tmux") is None:
        if os.environ.get("CI"):
            pytest.fail("tmux is not installed (apt-get install -y tmux)")
        pytest.skip("tmux is not installed (apt-get install -y tmux)")
    server = Tmux(f"hitl-desk-test-{os.getpid()}")
    try:
        yield server
    finally:
        server.run("kill-server", check=False)


def answer_with_keys(tmux: Tmux, env: dict[str, str], prompt: str, choices: tuple[str, str], key: str) -> None:
    """Ask from another shell; in the TUI press Enter on the new row, then the choice's number."""
    asker = subprocess.Popen([*hitl_desk_command(), "request", "--prompt", prompt,
                              "--choice", choices[0], "--choice", choices[1]],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        poll(lambda: prompt in tmux.screen("desk"), f"{prompt!r} in the queue")
        tmux.run("send-keys", "-t", "desk", "Enter")
        poll(lambda: f"2 {choices[1]}" in tmux.screen("desk"), f"the request screen of {prompt!r}")
        tmux.run("send-keys", "-t", "desk", key)
        out, err = asker.communicate(timeout=DEADLINE)
    finally:
        if asker.poll() is None:
            asker.kill()
            asker.communicate()
    assert (asker.returncode, out) == (0, f"{choices[int(key) - 1]}\n"), err


@pytest.mark.slow
def test_new_user_starts_hitl_desk_and_answers_a_request_with_the_keyboard(tmux: Tmux, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "HITL_HOME": str(tmp_path / "home"),
           "HITL_SERVER_URL": f"http://127.0.0.1:{port}", "TERM": "xterm-256color"}
    env.pop("HITL_API_KEY", None)
    exports = " ".join(f"{k}={shlex.quote(env[k])}" for k in ("HITL_HOME", "HITL_SERVER_URL", "TERM"))
    command = f"env {exports} {shlex.join(hitl_desk_command())}"
    tmux.run("new-session", "-d", "-s", "desk", "-x", "100", "-y", "30", command)

    poll(lambda: "Welcome to hitl-desk" in tmux.screen("desk"), "the first-run guide")
    assert port_open(port), "the embedded relay should listen"

    answer_with_keys(tmux, env, "Ship release 2.1 now?", ("Ship it", "Hold"), "2")
    poll(lambda: "Welcome to hitl-desk" in tmux.screen("desk"), "the queue to empty (the guide again)")
    # The next request after an empty queue opens with Enter too (the table had lost the focus).
    answer_with_keys(tmux, env, "Tag it v2.1.1?", ("Tag", "Skip"), "1")

    tmux.run("send-keys", "-t", "desk", "C-q")
    poll(lambda: not tmux.alive("desk"), "the TUI to quit")
    poll(lambda: not port_open(port), "the embedded relay to stop")


async def ask_hostile(settings: Settings) -> None:
    """Each hostile string as an agent's name, a prompt and a choice, through the real relay."""
    token = settings.read_owner_token()
    assert token
    async with RelayClient(settings.server_url, token) as owner:
        for text in HOSTILE.values():
            key = (await owner.create_api_key(text)).api_key
            async with RelayClient(settings.server_url, key) as agent:
                await agent.create_request(text, choices=[text, "no"])


@pytest.mark.slow
def test_hostile_agent_text_is_shown_escaped_in_a_real_terminal_and_cannot_retitle_it(
        tmux: Tmux, tmp_path: Path) -> None:
    port = free_port()
    home = tmp_path / "home"
    env = {"HITL_HOME": str(home), "HITL_SERVER_URL": f"http://127.0.0.1:{port}", "TERM": "xterm-256color"}
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    tmux.run("new-session", "-d", "-s", "desk", "-x", "100", "-y", "30",
             f"env {exports} {shlex.join(hitl_desk_command())}")
    tmux.run("set-option", "-g", "set-clipboard", "on")  # so an OSC 52 that got through would show
    poll(lambda: "Welcome to hitl-desk" in tmux.screen("desk"), "the first-run guide")
    title = tmux.run("display-message", "-p", "-t", "desk", "#{pane_title}").stdout

    asyncio.run(ask_hostile(Settings(home=home, server_url=env["HITL_SERVER_URL"], server_url_set=True)))
    rows = [visible_line(text)[:30] for text in HOSTILE.values()]
    # Each row starts with its escaped prompt (a detached pane may stay 80 columns wide under
    # pytest, whatever -x says: the first 30 cells of each prompt always fit).
    poll(lambda: all(row in tmux.screen("desk") for row in rows), "every hostile row, escaped")
    tmux.run("send-keys", "-t", "desk", "Enter")  # the cursor stayed on the first: the retitling one
    poll(lambda: f"1 {visible_line(HOSTILE['title'])}" in tmux.screen("desk"), "its request screen")

    assert not FORBIDDEN.search(tmux.screen("desk"))
    assert tmux.run("display-message", "-p", "-t", "desk", "#{pane_title}").stdout == title
    assert tmux.run("list-buffers").stdout == ""  # no clipboard write reached the terminal
    assert tmux.alive("desk")
