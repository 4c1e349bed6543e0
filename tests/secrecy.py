"""The one check that the relay kept no plaintext: not in relay.db, its -wal and -shm, nor in the logs."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from tests.conftest import LiveRelay


async def assert_relay_kept_none_of(relay: LiveRelay, *secrets: str | bytes,
                                    logs: pytest.LogCaptureFixture | None = None,
                                    loggers: Iterable[str] | None = None) -> None:
    """Stop the relay, then fail if any secret is in its database files or in the captured logs.

    Stopping first flushes everything to the files, the WAL included, before their bytes are read.
    ``loggers`` narrows the log check to records of those top-level loggers (the tray hands the
    decrypted text to the notification service on purpose, and that library may log it); by
    default every captured line is searched.
    """
    assert secrets
    await relay.running.stop()
    files = sorted(relay.home.glob("relay.db*"))
    assert files, f"no database files in {relay.home}"
    for path in files:
        data = path.read_bytes()
        for secret in secrets:
            needle = secret if isinstance(secret, bytes) else secret.encode()
            assert needle not in data, f"{secret!r} found in {path.name}"
    if logs is None:
        return
    if loggers is None:
        text = logs.text
    else:
        ours = set(loggers)
        text = "\n".join(r.getMessage() for r in logs.records if r.name.split(".")[0] in ours)
    for secret in secrets:
        needle_text = secret if isinstance(secret, str) else secret.decode(errors="replace")
        assert needle_text not in text, f"{secret!r} logged"
