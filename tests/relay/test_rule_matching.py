"""Always-allow rule patterns: a prefix never reaches a second command, a path never escapes."""

from __future__ import annotations

import pytest

from hitl_desk.action import ToolAction
from hitl_desk.errors import InvalidRequestError
from relay.rules import checked_pattern, matches

INJECTIONS = [
    "git status; rm -rf ~",
    "git status ;rm -rf ~",
    "git status && rm -rf ~",
    "git status & rm -rf ~",
    "git status || rm -rf ~",
    "git status | sh",
    "git status $(rm -rf ~)",
    "git status `rm -rf ~`",
    "git status\nrm -rf ~",
    "git status\rrm -rf ~",
    "git status > ~/.bashrc",
    "git status < /etc/shadow",
    "git status ${IFS}",
    "git status \\; rm",
    "git status\x00rm",
    "git status\u2028rm -rf ~",
    "git status <(rm -rf ~)",
    "(git status)",
]


def bash(command: str, cwd: str | None = None) -> ToolAction:
    """A Bash tool call."""
    return ToolAction(tool="Bash", argument=command, cwd=cwd)


@pytest.mark.parametrize("command", INJECTIONS)
def test_a_prefix_rule_never_allows_a_second_command_substitution_or_redirection(command: str) -> None:
    assert not matches("prefix", "git status", bash(command))


@pytest.mark.parametrize("command", ["git status", "git status -s", "git status\t--short", "  git status"])
def test_a_prefix_rule_allows_its_command_with_more_words(command: str) -> None:
    assert matches("prefix", "git status", bash(command))


@pytest.mark.parametrize("command", ["git statusx", "git stat", "git", "xgit status", "git  status"])
def test_a_prefix_matches_whole_words_only(command: str) -> None:
    assert not matches("prefix", "git status", bash(command))


def test_an_exact_rule_matches_only_the_same_argument() -> None:
    assert matches("exact", "git status; ls", bash("git status; ls"))
    assert not matches("exact", "git status", bash("git status; rm -rf ~"))
    assert not matches("exact", "git status", bash("git status "))


@pytest.mark.parametrize(("path", "cwd"), [
    ("/home/me/project/src/a.py", None),
    ("/home/me/project", None),
    ("src/a.py", "/home/me/project"),
    ("./src/../b.py", "/home/me/project"),
    ("/home/me/project//src/./c.py", None),
    ("b.py", "/home/me/project/src/../lib"),
])
def test_a_path_rule_allows_paths_inside_its_directory(path: str, cwd: str | None) -> None:
    assert matches("path", "/home/me/project", ToolAction(tool="Edit", argument=path, cwd=cwd))


@pytest.mark.parametrize(("path", "cwd"), [
    ("/home/me/project/../.ssh/id_ed25519", None),
    ("/home/me/project-other/a.py", None),
    ("/home/me/projectx", None),
    ("../.bashrc", "/home/me/project"),
    ("src/../../x", "/home/me/project"),
    ("a.py", "/home/me/project/../elsewhere"),
    ("a.py", None),
    ("a.py", "relative/dir"),
    ("~/project/a.py", "/home/me/project"),
    ("", "/home/me/project"),
    ("/home/me/project/a\nb", None),
    ("/home/me", None),
    ("//home/me/project/../../etc/passwd", None),
])
def test_a_path_rule_never_lets_a_path_escape_its_directory(path: str, cwd: str | None) -> None:
    assert not matches("path", "/home/me/project", ToolAction(tool="Edit", argument=path, cwd=cwd))


def test_patterns_are_stored_normalised() -> None:
    assert checked_pattern("prefix", "  git status ") == "git status"
    assert checked_pattern("path", "/home/me/./project/../project/") == "/home/me/project"
    assert checked_pattern("path", "//") == "/"
    assert checked_pattern("exact", " anything; at all ") == " anything; at all "


@pytest.mark.parametrize(("kind", "pattern"), [
    ("prefix", "git status; rm"), ("prefix", "   "), ("prefix", "echo $(id)"), ("prefix", "a\nb"),
    ("path", "relative/dir"), ("path", "~/x"), ("path", "/a\x00b"),
])
def test_an_unusable_pattern_is_refused(kind: str, pattern: str) -> None:
    with pytest.raises(InvalidRequestError):
        checked_pattern(kind, pattern)  # type: ignore[arg-type]
