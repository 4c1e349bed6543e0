"""A relay that cannot start says why in one line and exits; one that starts keeps its files private."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from hitl_desk.client import RelayClient
from tests.conftest import start_relay
from tests.relay.startup_support import (
    START_DEADLINE,
    Finished,
    free_port,
    run_failing,
    spawn_relay,
    stop_relay,
)

pytestmark = pytest.mark.slow

FRAME = 24 + 4096


def private_home(tmp_path: Path) -> Path:
    """A HITL_HOME that is already 0700, so no permission warning joins the one error line."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    return home


def write_private(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


def assert_one_clear_line(done: Finished, *words: str) -> None:
    assert done.code != 0
    assert done.seconds < START_DEADLINE
    assert "Traceback" not in done.stderr
    assert len(done.lines) == 1, done.stderr
    assert done.lines[0].startswith("hitl-desk: ")
    for word in words:
        assert word in done.lines[0], done.lines[0]


def damaged_secret(home: Path) -> None:
    write_private(home / "relay.secret", b"not hex at all\n")


def secret_as_directory(home: Path) -> None:
    (home / "relay.secret").mkdir(mode=0o700)


def owner_token_as_directory(home: Path) -> None:
    (home / "owner.token").mkdir(mode=0o700)


def corrupt_database(home: Path) -> None:
    write_private(home / "relay.db", b"SQLite format 3\x00" + os.urandom(8192))


def damaged_page_in_database(home: Path) -> None:
    """A database SQLite opens, whose damage only a check finds (a garbled table page)."""
    db = sqlite3.connect(home / "relay.db")
    db.execute("CREATE TABLE kept(x)")
    db.executemany("INSERT INTO kept VALUES (?)", [("x" * 500,)] * 200)
    db.commit()
    db.close()
    with (home / "relay.db").open("r+b") as fh:
        fh.seek(4 * 4096)
        fh.write(os.urandom(4096))
    (home / "relay.db").chmod(0o600)


def database_as_directory(home: Path) -> None:
    (home / "relay.db").mkdir(mode=0o700)


def database_as_dangling_link(home: Path) -> None:
    (home / "relay.db").symlink_to(home / "gone" / "relay.db")


BROKEN_HOMES: dict[str, tuple[Callable[[Path], None], tuple[str, ...]]] = {
    "damaged secret": (damaged_secret, ("relay.secret", "remove it")),
    "secret is a directory": (secret_as_directory, ("relay.secret", "directory")),
    "owner.token is a directory": (owner_token_as_directory, ("owner.token", "directory", "remove it")),
    "corrupt relay.db": (corrupt_database, ("relay.db", "damaged", "backup")),
    "damaged page in relay.db": (damaged_page_in_database, ("relay.db", "damaged", "backup")),
    "relay.db is a directory": (database_as_directory, ("relay.db", "directory")),
    "relay.db cannot be opened": (database_as_dangling_link, ("cannot open the database", "relay.db")),
}


@pytest.mark.parametrize("case", sorted(BROKEN_HOMES))
def test_broken_home_makes_the_relay_exit_with_one_line_saying_how_to_recover(tmp_path: Path, case: str) -> None:
    home = private_home(tmp_path)
    breaks, words = BROKEN_HOMES[case]
    breaks(home)
    assert_one_clear_line(run_failing("relay", "--port", str(free_port()), home=home), *words)


@pytest.mark.parametrize("case", ["damaged secret", "owner.token is a directory"])
def test_embedded_relay_of_the_tui_fails_the_same_way(tmp_path: Path, case: str) -> None:
    home = private_home(tmp_path)
    breaks, words = BROKEN_HOMES[case]
    breaks(home)
    assert_one_clear_line(run_failing("tui", home=home, port=free_port()), *words)


@pytest.mark.parametrize("command", [("relay", "--port", "0"), ("tui",)])
def test_home_that_is_a_file_is_refused_in_one_line(tmp_path: Path, command: tuple[str, ...]) -> None:
    home = tmp_path / "home"
    home.write_text("")
    assert_one_clear_line(run_failing(*command, home=home, port=free_port()), "HITL_HOME")


def test_home_the_user_cannot_write_is_refused_in_one_line(tmp_path: Path) -> None:
    home = private_home(tmp_path)
    if os.geteuid() != 0:
        home.chmod(0o500)
        try:
            done = run_failing("relay", "--port", str(free_port()), home=home)
        finally:
            home.chmod(0o700)
    else:  # root may write anywhere, except on a read-only file system
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m,mode=0700", "tmpfs", str(home)],
                                 capture_output=True)
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount a read-only tmpfs here: {mounted.stderr.decode().strip()}")
        try:
            done = run_failing("relay", "--port", str(free_port()), home=home)
        finally:
            subprocess.run(["umount", str(home)], check=True)
    assert_one_clear_line(done, "HITL_HOME", "not readable and writable")


def test_taken_port_is_refused_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_failing("relay", "--port", str(port), home=private_home(tmp_path))
    assert_one_clear_line(done, "port is in use", "--port")


# -- the write-ahead log ------------------------------------------------------------------------

async def killed_relay_with_rows_in_the_wal(home: Path, rows: int = 20) -> list[str]:
    """Requests acknowledged by a relay that was then SIGKILLed: they live only in the WAL."""
    port = free_port()
    proc = await spawn_relay(home, port)
    async with RelayClient(f"http://127.0.0.1:{port}", (home / "owner.token").read_text()) as client:
        ids = [(await client.create_request(f"question {i}")).id for i in range(rows)]
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    assert (home / "relay.db-wal").stat().st_size > 32 + rows * FRAME // 4
    return ids


def garble_a_middle_frame(wal: Path) -> None:
    with wal.open("r+b") as fh:
        fh.seek(32 + FRAME + 24 + 100)
        fh.write(b"\xff" * 16)


def garble_a_frame_header(wal: Path) -> None:
    with wal.open("r+b") as fh:
        fh.seek(32 + FRAME + 8)  # the second frame's salts: SQLite stops there, before newer commits
        fh.write(os.urandom(8))


def garble_the_header(wal: Path) -> None:
    with wal.open("r+b") as fh:
        fh.write(b"GARBAGE!")


def garble_the_tail(wal: Path) -> None:
    size = wal.stat().st_size
    with wal.open("r+b") as fh:
        fh.seek(size - 2 * FRAME)
        fh.write(os.urandom(2 * FRAME))


@pytest.mark.parametrize("garble", [garble_a_middle_frame, garble_a_frame_header, garble_the_header,
                                    garble_the_tail])
async def test_garbage_in_the_wal_is_refused_instead_of_dropping_acknowledged_rows(
        tmp_path: Path, garble: Callable[[Path], None]) -> None:
    home = private_home(tmp_path)
    await killed_relay_with_rows_in_the_wal(home)
    garble(home / "relay.db-wal")
    before = (home / "relay.db-wal").read_bytes()
    done = run_failing("relay", "--port", str(free_port()), home=home)
    assert_one_clear_line(done, "relay.db-wal is damaged", "move relay.db-wal")
    assert (home / "relay.db-wal").read_bytes() == before  # left as it was, for recovery


async def pending_after_restart(home: Path) -> set[str]:
    """Start the relay on ``home`` and return the ids of the requests it has pending."""
    port = free_port()
    proc = await spawn_relay(home, port)
    try:
        async with RelayClient(f"http://127.0.0.1:{port}", (home / "owner.token").read_text()) as client:
            return {r.id for r in await client.list_requests("pending")}
    finally:
        await stop_relay(proc)


async def test_intact_wal_after_sigkill_starts_with_every_acknowledged_row(tmp_path: Path) -> None:
    home = private_home(tmp_path)
    ids = await killed_relay_with_rows_in_the_wal(home)
    assert set(ids) <= await pending_after_restart(home)


async def test_garbage_appended_after_the_last_commit_drops_nothing_and_the_relay_starts(tmp_path: Path) -> None:
    home = private_home(tmp_path)
    ids = await killed_relay_with_rows_in_the_wal(home)
    with (home / "relay.db-wal").open("ab") as fh:
        fh.write(os.urandom(3 * FRAME + 17))
    assert set(ids) <= await pending_after_restart(home)


async def test_moving_the_damaged_wal_aside_as_told_lets_the_relay_start(tmp_path: Path) -> None:
    home = private_home(tmp_path)
    await killed_relay_with_rows_in_the_wal(home)
    garble_the_header(home / "relay.db-wal")
    assert run_failing("relay", "--port", str(free_port()), home=home).code != 0
    aside = tmp_path / "aside"
    aside.mkdir()
    for name in ("relay.db-wal", "relay.db-shm"):
        shutil.move(home / name, aside / name)
    await stop_relay(await spawn_relay(home, free_port()))


# -- file modes ---------------------------------------------------------------------------------

def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_relay_process_keeps_home_0700_and_database_wal_shm_0600(tmp_path: Path) -> None:
    home = tmp_path / "fresh" / "home"
    port = free_port()
    proc = await spawn_relay(home, port)
    try:
        async with RelayClient(f"http://127.0.0.1:{port}", (home / "owner.token").read_text()) as client:
            await client.create_request("a prompt that is private")
        modes = {p.name: mode(p) for p in home.iterdir()}
    finally:
        await stop_relay(proc)
    assert mode(home) == 0o700
    assert {"relay.db", "relay.db-wal", "relay.db-shm", "relay.secret", "owner.token"} <= set(modes)
    assert all(m == 0o600 for m in modes.values()), modes


async def test_embedded_relay_creates_wal_and_shm_0600_under_a_permissive_umask(tmp_path: Path) -> None:
    home = tmp_path / "home"
    old = os.umask(0o022)  # the embedded relay shares the TUI's process: no umask of its own
    try:
        running = await start_relay(home)
    finally:
        os.umask(old)
    try:
        async with RelayClient(running.url, (home / "owner.token").read_text()) as client:
            await client.create_request("a prompt that is private")
        assert mode(home) == 0o700
        assert {name: mode(home / name) for name in ("relay.db", "relay.db-wal", "relay.db-shm")} == {
            "relay.db": 0o600, "relay.db-wal": 0o600, "relay.db-shm": 0o600}
    finally:
        await running.stop()


async def test_loose_home_and_files_are_tightened_with_one_log_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    await stop_relay(await spawn_relay(home, free_port()))
    home.chmod(0o755)
    for name in ("relay.db", "owner.token"):
        (home / name).chmod(0o644)
    proc = await spawn_relay(home, free_port())
    err = await stop_relay(proc)
    assert mode(home) == 0o700
    assert mode(home / "relay.db") == mode(home / "owner.token") == 0o600
    warnings = [line for line in err.splitlines() if "tightened permissions" in line]
    assert len(warnings) == 1 and "relay.db" in warnings[0] and "owner.token" in warnings[0], err
