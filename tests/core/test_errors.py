"""The one error catalog: every error crosses the wire and comes back as itself."""

from __future__ import annotations

import json
import re

import pytest

from hitl_desk import crypto, errors
from hitl_desk.errors import HitlError, error_from_payload
from hitl_desk.models import ErrorBody, ErrorResponse, ResultFrame


def catalog(cls: type[HitlError] = HitlError) -> list[type[HitlError]]:
    """Every class of the catalog, the base included."""
    found = [cls]
    for sub in cls.__subclasses__():
        found.extend(catalog(sub))
    return found


CATALOG = catalog()


def test_every_code_is_snake_case_and_names_one_class() -> None:
    codes = [cls.code for cls in CATALOG]
    assert len(codes) == len(set(codes)), sorted(c for c in codes if codes.count(c) > 1)
    assert all(re.fullmatch(r"[a-z][a-z_]*", code) for code in codes)


def test_every_catalog_class_lives_in_errors_and_is_exported() -> None:
    for cls in CATALOG:
        assert cls.__module__ == "hitl_desk.errors", cls
        assert cls.__name__ in errors.__all__ or cls is HitlError


def test_the_tree_in_the_catalog_docstring_names_every_class_and_code() -> None:
    doc = errors.__doc__ or ""
    missing = [cls.__name__ for cls in CATALOG[1:] if not re.search(rf"{cls.__name__}\s+\S+ {cls.code}\b", doc)]
    assert missing == []


def test_crypto_errors_are_catalog_errors() -> None:
    for name in ("DecryptionError", "BindingError", "KeyChangedError", "AgentNameConflictError"):
        assert getattr(crypto, name) is getattr(errors, name)
        assert issubclass(getattr(errors, name), HitlError)


@pytest.mark.parametrize("cls", CATALOG, ids=lambda cls: cls.__name__)
def test_http_error_body_comes_back_as_the_same_error(cls: type[HitlError]) -> None:
    sent = cls("what went wrong", details=[{"loc": ["prompt"], "msg": "must not be empty"}])
    body = json.loads(ErrorResponse.of(sent).model_dump_json())
    assert body["detail"] == "what went wrong"
    back = error_from_payload(cls.status, body)
    assert (type(back), back.code, back.message, back.details) == (cls, sent.code, sent.message, sent.details)


@pytest.mark.parametrize("cls", CATALOG, ids=lambda cls: cls.__name__)
def test_websocket_error_result_comes_back_as_the_same_error(cls: type[HitlError]) -> None:
    sent = cls()
    frame = json.loads(ResultFrame(id=1, ok=False, error=ErrorBody.of(sent)).model_dump_json())
    assert "details" not in frame["error"]  # nothing said is left out, nothing unsaid is sent
    back = error_from_payload(cls.status, frame)
    assert (type(back), back.code, back.message) == (cls, sent.code, sent.default_message)
