"""Rewriting a file someone else owns (an agent client's settings): back it up, then replace it whole."""

from __future__ import annotations

import shutil
import time
from pathlib import Path


def save_text(path: Path, text: str) -> Path | None:
    """Write ``text`` to ``path`` in one rename, after copying the previous file beside it;
    the backup's path, or None when there was no file.  A symbolic link (a dotfiles checkout) is
    followed: its target is rewritten, the link stays."""
    if path.is_symlink():
        path = path.resolve()
    backup = None
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        stem = f"{path.name}.hitl-desk-backup-{time.strftime('%Y%m%dT%H%M%S')}"
        backup, n = path.with_name(stem), 1
        while backup.exists():  # two changes within a second keep both backups
            backup, n = path.with_name(f"{stem}-{n}"), n + 1
        shutil.copy2(path, backup)
    temporary = path.with_name(f".{path.name}.hitl-desk-new")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)
    return backup
