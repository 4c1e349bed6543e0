"""The package boundaries of DESIGN.md hold, and the public surface is what it says."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold() -> None:
    lint = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    result = subprocess.run([lint, "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower() or "0 broken" in result.stdout.lower()


def loaded_from(statement: str, roots: set[str]) -> list[str]:
    """The modules under ``roots`` that a fresh interpreter holds after running ``statement``."""
    code = (f"import json, sys; {statement}; "
            f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(roots)!r})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded: list[str] = json.loads(done.stdout)
    return loaded


def test_cli_starts_without_importing_servers_or_uis() -> None:
    statement = "import hitl_desk.cli; hitl_desk.cli.build_parser(with_plugins=False)"
    assert loaded_from(statement, {"relay", "tui", "tray", "textual", "aiohttp", "mcp", "pystray"}) == []


def test_the_approver_core_imports_no_ui_toolkit() -> None:
    statement = "import hitl_desk.approver, hitl_desk.approve_cli"
    assert loaded_from(statement, {"tui", "tray", "textual", "pystray", "desktop_notifier", "dbus_fast"}) == []


def test_code_passes_ruff_with_the_projects_rules() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise",
                             "hitl_desk", "relay", "tui", "tray", "tests", "bench"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow  # a cold strict run over every package: about 10 s
def test_packages_type_check_strictly() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                             "hitl_desk", "relay", "tui", "tray"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def _import_cycles(package: str) -> list[tuple[str, str]]:
    graph = grimp.build_graph(package)  # function-level and TYPE_CHECKING imports count too
    modules = sorted(graph.modules)
    return [(a, b) for i, a in enumerate(modules) for b in modules[i + 1:]
            if graph.chain_exists(importer=a, imported=b) and graph.chain_exists(importer=b, imported=a)]


def test_core_has_no_import_cycles() -> None:
    assert _import_cycles("hitl_desk") == []


def test_tui_has_no_import_cycles() -> None:
    # Screens see the app through tui.desk.DeskApp, never tui.app, which imports every screen.
    assert _import_cycles("tui") == []


def test_no_module_exceeds_400_lines() -> None:
    # STYLE.md: a module does one job; past 400 lines it is doing several (cli.py was 480).
    long = {str(path.relative_to(ROOT)): n for package in ("hitl_desk", "relay", "tui", "tray")
            for path in (ROOT / package).rglob("*.py")
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > 400}
    assert long == {}
