"""Checking a SQLite write-ahead log before SQLite opens it.

SQLite trusts its WAL only as far as the checksums hold and says nothing about the rest: a WAL
whose header is damaged is ignored whole, and every frame after a damaged one is dropped.  In
WAL mode those frames are the relay's latest commits (answers it acknowledged), and the first
write after opening resets the WAL over them.  So the relay reads the WAL itself first
(format: https://www.sqlite.org/fileformat2.html#walformat) and refuses to start when SQLite
would drop a committed frame.

What counts as damage:
- a non-empty WAL with a bad header (magic, version, page size or checksum);
- a frame of the current generation (its salts match the header) whose checksum fails;
- a frame of the current generation after a frame SQLite would stop at;
- fewer valid frames than the last writer recorded in the ``-shm`` wal-index (a damaged tail).

Frames with other salts are left over from an earlier generation of the WAL and are normal, as
are trailing frames of a transaction that never committed.  Without a ``-shm`` file (deleted, or
never written) a tail overwritten to the end of the file looks like such leftovers and is not
detected; the relay's own crash leaves the ``-shm`` in place.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

WAL_HEADER = 32
FRAME_HEADER = 24
MAGIC_LE, MAGIC_BE = 0x377F0682, 0x377F0683
WAL_VERSION = 3007000
SHM_HEADER = 48
MASK = 0xFFFFFFFF


class WalDamagedError(Exception):
    """The WAL holds committed frames SQLite would silently drop; ``str()`` says which."""


@dataclass(frozen=True)
class WalSummary:
    """What a sound WAL holds: frames SQLite will replay and the last commit among them."""

    valid_frames: int
    committed_frames: int


def _checksum(data: bytes, big_endian: bool, s0: int = 0, s1: int = 0) -> tuple[int, int]:
    words = struct.unpack(f"{'>' if big_endian else '<'}{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & MASK
        s1 = (s1 + words[i + 1] + s0) & MASK
    return s0, s1


def check_wal(wal: Path, shm: Path | None = None) -> WalSummary:
    """Read ``wal`` as SQLite would and raise ``WalDamagedError`` if committed frames would be lost."""
    # The index first: a writer appends frames before it records them there, never after.
    wal_index = _head(shm, 2 * SHM_HEADER) if shm is not None else b""
    data = wal.read_bytes() if wal.exists() else b""
    if not data:
        return WalSummary(0, 0)
    if len(data) < WAL_HEADER:
        raise WalDamagedError(f"its header is cut short ({len(data)} bytes)")
    magic, version, page_size, _, salt1, salt2, ck1, ck2 = struct.unpack(">8I", data[:WAL_HEADER])
    if magic not in (MAGIC_LE, MAGIC_BE) or version != WAL_VERSION:
        raise WalDamagedError("its header is not a SQLite WAL header")
    big_endian = magic == MAGIC_BE
    if page_size == 1:
        page_size = 65536
    if page_size < 512 or page_size > 65536 or page_size & (page_size - 1):
        raise WalDamagedError(f"its header names an impossible page size ({page_size})")
    sums = _checksum(data[:24], big_endian)
    if sums != (ck1, ck2):
        raise WalDamagedError("its header checksum does not match")
    frame_size = FRAME_HEADER + page_size
    valid = committed = 0
    stopped_at: int | None = None
    for index, offset in enumerate(range(WAL_HEADER, len(data) - frame_size + 1, frame_size), start=1):
        pgno, commit, f_salt1, f_salt2, f_ck1, f_ck2 = struct.unpack(">6I", data[offset:offset + FRAME_HEADER])
        current = (f_salt1, f_salt2) == (salt1, salt2)
        if stopped_at is not None:
            if current:
                raise WalDamagedError(f"frame {stopped_at} is damaged and frames after it hold newer commits")
            continue
        if not current:
            stopped_at = index
            continue
        page = data[offset + FRAME_HEADER:offset + frame_size]
        sums = _checksum(data[offset:offset + 8] + page, big_endian, *sums)
        if pgno == 0 or sums != (f_ck1, f_ck2):
            raise WalDamagedError(f"frame {index} fails its checksum")
        valid = index
        if commit:
            committed = index
    _check_index(wal_index, data[16:24], committed)
    return WalSummary(valid, committed)


def _head(path: Path, size: int) -> bytes:
    try:
        with path.open("rb") as fh:
            return fh.read(size)
    except FileNotFoundError:
        return b""


def _check_index(head: bytes, salts: bytes, committed: int) -> None:
    """Compare with the wal-index the last writer left: it knows how many frames it committed."""
    if len(head) < 2 * SHM_HEADER or head[:SHM_HEADER] != head[SHM_HEADER:]:
        return  # no settled index (a writer died mid-update): nothing to compare with
    # Native byte order, except the salts: copied from the WAL header as they are.
    version, _, _, is_init, _, _, max_frame = struct.unpack("=IIIBBHI", head[:20])
    if version != WAL_VERSION or not is_init or head[32:40] != salts:
        return
    if max_frame > committed:
        raise WalDamagedError(f"the relay committed {max_frame} frames but only {committed} are intact")
