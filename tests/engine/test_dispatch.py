"""The engine's dispatch: a handler for every request, looked up by the request's type."""

from __future__ import annotations

import typing

import pytest

from aiostore._core.answers import FrameColumns
from aiostore._core.live.requests import LiveRequest
from aiostore._core.requests import CloseFile, Request
from aiostore.engine import Engine


def test_every_request_has_a_handler_and_every_handler_a_request() -> None:
    requests = set(typing.get_args(Request)) | set(typing.get_args(LiveRequest))
    assert set(Engine()._handlers) == requests


def test_what_is_no_request_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match="no handler for FrameColumns"):
        Engine().execute(FrameColumns(None, []))


def test_a_request_is_executed_by_its_handler() -> None:
    engine = Engine()
    closed: list[str] = []
    engine._handlers[CloseFile] = lambda request: closed.append(request.filename)
    assert engine.execute(CloseFile("f.h5")) is None
    assert closed == ["f.h5"]
