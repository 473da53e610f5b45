"""Fixtures of the core's tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from aiostore._core.live import client, framecache


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """The requests this process's reads asked of writers."""
    requests: list[Any] = []
    ask = client._request

    def recording(path: str, filename: str, request: Any) -> tuple[str, Any, Any]:
        requests.append(request)
        return ask(path, filename, request)

    monkeypatch.setattr(client, "_request", recording)
    yield requests
    framecache._kept.clear()
