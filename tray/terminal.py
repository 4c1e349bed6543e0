"""Open the TUI in a terminal emulator: find one, build its command line, start it detached.

The command is built apart from running it, and the runner is injectable, so tests check what
would be started without a real terminal emulator.  ``raise_window`` brings the terminal of a
TUI that is already open to the front instead (X11, where the terminal told the TUI its window).
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence

log = logging.getLogger(__name__)

Spawn = Callable[[Sequence[str]], None]
"""Starts a command line and returns at once (the default runs it detached)."""

Which = Callable[[str], str | None]
"""Finds a program on ``PATH`` (``shutil.which``)."""

LINUX_TERMINALS = (
    "x-terminal-emulator", "gnome-terminal", "konsole", "xfce4-terminal", "kgx", "ptyxis",
    "alacritty", "kitty", "foot", "wezterm", "xterm",
)
"""Tried in this order after ``$TERMINAL``; Debian's ``x-terminal-emulator`` is the user's pick."""

_RUN_FLAGS: Mapping[str, tuple[str, ...]] = {
    "gnome-terminal": ("--",),
    "kgx": ("--",),
    "ptyxis": ("--",),
    "wezterm": ("start", "--"),
    "kitty": (),
    "foot": (),
}
"""How each terminal is told what to run; the rest (xterm and friends) take ``-e``."""


class NoTerminalError(RuntimeError):
    """No terminal emulator was found to open the TUI in."""


def hitl_desk_command(which: Which = shutil.which) -> list[str]:
    """Return how to run ``hitl-desk``: the console script if installed, else this Python."""
    script = which("hitl-desk")
    return [script] if script else [sys.executable, "-m", "hitl_desk.cli"]


def tui_command(url: str | None, which: Which = shutil.which, request_id: str | None = None) -> list[str]:
    """Return the command line of the TUI connected to ``url`` (opening ``request_id``)."""
    command = [*hitl_desk_command(which), "tui"]
    if url:
        command += ["--url", url]
    return command + ["--request", request_id] if request_id else command


def in_terminal(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    which: Which = shutil.which,
    platform: str = sys.platform,
) -> list[str]:
    """Wrap ``command`` so it runs in a new terminal window; raise ``NoTerminalError`` if none."""
    if platform == "darwin":
        script = f'tell application "Terminal" to do script "{_applescript(shlex.join(command))}"'
        return ["osascript", "-e", script, "-e", 'tell application "Terminal" to activate']
    if platform == "win32":
        return ["cmd.exe", "/c", "start", "hitl-desk TUI", *command]  # first quoted arg: title
    env = os.environ if env is None else env
    configured = shlex.split(env.get("TERMINAL", ""))
    if configured and which(configured[0]):
        return [*configured, *_run_flags(configured[0]), *command]
    for name in LINUX_TERMINALS:
        if which(name):
            return [name, *_run_flags(name), *command]
    raise NoTerminalError("No terminal emulator found: set $TERMINAL, or run `hitl-desk tui`.")


def _run_flags(program: str) -> tuple[str, ...]:
    """Return the arguments that come between a terminal program and the command it runs."""
    return _RUN_FLAGS.get(os.path.basename(program), ("-e",))


def _applescript(text: str) -> str:
    """Escape ``text`` for an AppleScript string literal."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def spawn_detached(command: Sequence[str]) -> None:
    """Start ``command`` in its own session with no stdio; a daemon thread reaps it."""
    proc = subprocess.Popen(
        list(command), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=sys.platform != "win32",
    )
    # The terminal outlives nothing of ours, but it must not stay a zombie once it exits.
    threading.Thread(target=proc.wait, name="tui-terminal-reaper", daemon=True).start()


class TuiLauncher:
    """Opens ``hitl-desk tui`` for one relay in a terminal window."""

    def __init__(
        self,
        url: str | None,
        *,
        spawn: Spawn = spawn_detached,
        env: Mapping[str, str] | None = None,
        which: Which = shutil.which,
        platform: str = sys.platform,
    ) -> None:
        self.url = url
        self._spawn = spawn
        self._env = env
        self._which = which
        self._platform = platform

    def command(self, request_id: str | None = None) -> list[str]:
        """Return the full command line that opens the TUI (raises ``NoTerminalError``)."""
        return in_terminal(
            tui_command(self.url, self._which, request_id),
            env=self._env, which=self._which, platform=self._platform,
        )

    def launch(self, request_id: str | None = None) -> list[str]:
        """Open the TUI (on ``request_id``); return the command started (raises
        ``NoTerminalError``, ``OSError``)."""
        command = self.command(request_id)
        self._spawn(command)
        return command


def raise_window(window: int) -> bool:
    """Ask the X11 window manager to activate ``window`` (EWMH ``_NET_ACTIVE_WINDOW``).

    Best effort: False where there is no X display to ask; a window manager may still refuse
    (focus-stealing prevention), and the TUI rang its bell, which marks many terminals urgent.
    """
    if not os.environ.get("DISPLAY"):
        return False
    from Xlib import X  # type: ignore[import-untyped]
    from Xlib import display as xdisplay
    from Xlib import error as xerror
    from Xlib.protocol import event as xevent  # type: ignore[import-untyped]

    try:
        conn = xdisplay.Display()
    except (xerror.DisplayError, OSError) as exc:
        log.info("no X display to raise the TUI's window on: %s", exc)
        return False
    try:
        target = conn.create_resource_object("window", window)
        # Source 2: the request comes from a pager-like tool acting for the user (a click), which
        # window managers honour where they would refuse an application's own request.
        message = xevent.ClientMessage(
            window=target, client_type=conn.intern_atom("_NET_ACTIVE_WINDOW"),
            data=(32, [2, X.CurrentTime, 0, 0, 0]),
        )
        conn.screen().root.send_event(
            message, event_mask=X.SubstructureRedirectMask | X.SubstructureNotifyMask)
        conn.sync()
        return True
    except (xerror.XError, xerror.ConnectionClosedError) as exc:
        log.info("could not raise window %#x: %s", window, exc)
        return False
    finally:
        conn.close()
