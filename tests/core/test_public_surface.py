"""``__all__`` says what a module exports, no more and no less (as httpx checks its own)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import hitl_desk

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("hitl_desk", "relay", "tui", "tray")
# Dunder names that are part of the surface on purpose, as httpx lists its __version__.
PUBLIC_DUNDERS = {"__version__"}
# Imports from these bind helpers for the module itself, never exports.
NOT_REEXPORTED = {"__future__", "typing", "collections.abc"}


def declares_all(path: Path) -> bool:
    """Whether the module assigns ``__all__`` at its top level."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(isinstance(node, ast.Assign | ast.AnnAssign) and "__all__" in bound_names(node)
               for node in tree.body)


def bound_names(node: ast.stmt) -> set[str]:
    """The names one top-level statement binds, with ``if TYPE_CHECKING:`` imports included."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.Assign):
        return {t.id for t in node.targets if isinstance(t, ast.Name)}
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return {node.target.id}
    if isinstance(node, ast.ImportFrom) and node.module not in NOT_REEXPORTED:
        return {alias.asname or alias.name for alias in node.names}
    if isinstance(node, ast.Import):
        return {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    if isinstance(node, ast.If):
        return {name for child in node.body + node.orelse for name in bound_names(child)}
    return set()


def module_name(path: Path) -> str:
    """``relay/mcp/__init__.py`` → ``relay.mcp``."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES_WITH_ALL = sorted(module_name(path) for package in PACKAGES
                          for path in (ROOT / package).rglob("*.py") if declares_all(path))


def test_modules_with_all_are_found() -> None:
    assert {"hitl_desk", "hitl_desk.errors"} <= set(MODULES_WITH_ALL)


@pytest.mark.parametrize("name", MODULES_WITH_ALL)
def test_every_name_in_all_exists(name: str) -> None:
    module = importlib.import_module(name)
    exported: list[str] = module.__all__
    assert len(exported) == len(set(exported)), f"{name}.__all__ repeats a name"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what it does not define: {missing}"


def test_hitl_desk_exports_exactly_its_public_names() -> None:
    tree = ast.parse((ROOT / "hitl_desk" / "__init__.py").read_text(encoding="utf-8"))
    defined = {name for node in tree.body for name in bound_names(node)}
    public = {name for name in defined if not name.startswith("_") or name in PUBLIC_DUNDERS}
    assert sorted(public) == sorted(hitl_desk.__all__)
    for name in hitl_desk.__all__:
        assert getattr(hitl_desk, name) is not None
