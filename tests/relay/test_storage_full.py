"""A full disk: writes answer 507 storage_full, /healthz says degraded, nothing acknowledged is lost."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from hitl_desk.client import RelayClient
from hitl_desk.errors import StorageFullError
from tests.conftest import start_relay

pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs of its own (root only; skipped where mounting is not permitted)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(disk)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def fill(disk: Path) -> Path:
    """Write a file until the disk has no space left; return it."""
    filler = disk / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb") as fh:
        while True:
            try:
                fh.write(chunk)
                fh.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
    for size in (4096, 512, 1):  # the last few blocks too
        try:
            with filler.open("ab") as fh:
                while True:
                    fh.write(b"\0" * size)
                    fh.flush()
        except OSError:
            pass  # full at this granularity; try the next smaller one
    return filler


async def health(url: str) -> dict[str, object]:
    async with aiohttp.ClientSession() as session, session.get(url + "/healthz") as resp:
        assert resp.status == 200
        body: dict[str, object] = await resp.json()
        return body


async def test_full_disk_answers_507_reports_degraded_and_loses_nothing_acknowledged(small_disk: Path) -> None:
    home = small_disk / "home"
    relay = await start_relay(home)
    try:
        token = (home / "owner.token").read_text()
        async with RelayClient(relay.url, token) as client:
            acknowledged = [(await client.create_request(f"before {i}")).id for i in range(5)]
            filler = fill(small_disk)

            with pytest.raises(StorageFullError):
                await client.create_request("while the disk is full")
            with pytest.raises(StorageFullError):
                await client.answer(acknowledged[0], "yes")
            async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as raw:
                async with raw.post(relay.url + "/api/v1/hitl/request?wait=false",
                                    json={"prompt": "raw while full"}) as resp:
                    assert resp.status == 507
                    assert (await resp.json())["error"]["code"] == "storage_full"
            degraded = await health(relay.url)
            assert (degraded["status"], degraded["storage"]) == ("degraded", "full")

            os.unlink(filler)
            recovered = await health(relay.url)
            assert (recovered["status"], recovered["storage"]) == ("ok", "ok")
            after = (await client.create_request("after the space returned")).id
            listed = await client.list_requests()
        assert {r.prompt for r in listed} == {*(f"before {i}" for i in range(5)), "after the space returned"}
        assert all(r.status == "pending" for r in listed)
    finally:
        await relay.stop()

    restarted = await start_relay(home)
    try:
        async with RelayClient(restarted.url, token) as client:
            kept = {r.id: r.status for r in await client.list_requests()}
    finally:
        await restarted.stop()
    assert all(kept.get(i) == "pending" for i in [*acknowledged, after])


async def test_relay_stopped_while_the_disk_is_full_keeps_every_acknowledged_request(
        small_disk: Path, caplog: pytest.LogCaptureFixture) -> None:
    home = small_disk / "home"
    relay = await start_relay(home)
    token = (home / "owner.token").read_text()
    try:
        async with RelayClient(relay.url, token) as client:
            acknowledged = [(await client.create_request(f"question {i}")).id for i in range(20)]
        filler = fill(small_disk)
    finally:
        await relay.stop()  # folding the WAL into the database fails here: it must not lose it
    assert "could not fold the WAL" in caplog.text
    os.unlink(filler)
    restarted = await start_relay(home)
    try:
        async with RelayClient(restarted.url, token) as client:
            kept = {r.id for r in await client.list_requests("pending")}
    finally:
        await restarted.stop()
    assert set(acknowledged) <= kept
