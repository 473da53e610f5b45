"""The Session, without a face: a service's options checked and turned into planning defaults,
its close tickets, and the note on what else failed."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiostore import FailedStoresError, InvalidArgumentError, NotStoredError, UnsupportedTypeError
from aiostore._core.options import Options
from aiostore._core.requests import CloseFile
from aiostore._core.session import Session
from aiostore._core.tracking import closing_note
from aiostore._core.worker import Durability


def test_options_become_the_planning_defaults(tmp_path: Path) -> None:
    path = str(tmp_path / "f.h5")
    session = Session(Options(path, "Title", "sweep", "close", "zlib", 3, packed_runs=False,
                              journal=False))
    try:
        assert session.durability is Durability.CLOSE
        defaults = session.defaults
        assert (defaults.filename, defaults.file_title, defaults.trajectory_name) == (
            path, "Title", "sweep")
        assert defaults.compression == ("zlib", 3)
        assert (defaults.packed_runs, defaults.journal, defaults.in_memory) == (False, False, False)
        ticket = session.close_ticket()
        assert ticket is not None
        assert ticket.request == CloseFile(path)
        assert session.closed
        assert session.close_ticket() is None  # once
    finally:
        session.detach()


def test_no_compression_is_none_whatever_the_level() -> None:
    assert Options(compression=None, compression_level=9).codec is None
    assert Options(compression="blosc:lz4").codec == ("blosc:lz4", 5)


def test_a_file_in_memory_has_a_name_and_no_journal() -> None:
    session = Session(Options(in_memory=True, journal=True))
    try:
        assert session.defaults.filename is not None
        assert session.defaults.in_memory
        assert not session.defaults.journal  # nothing on disk to recover
        assert session.close_file_ticket() is None  # it lives as long as its sessions
        ticket = session.last_close_ticket()
        assert ticket is not None
        assert ticket.request == CloseFile(session.defaults.filename)
    finally:
        session.detach()


@pytest.mark.parametrize(("options", "says"), [
    (Options(compression="no-such-library"), "compression"),
    (Options(in_memory=True, durability="close"), "durability='close'"),
    (Options("f.h5", save_on_close=True), "save_on_close"),
])
def test_bad_options_are_refused_before_any_job(options: Options, says: str) -> None:
    with pytest.raises(InvalidArgumentError, match=says):
        Session(options)


def test_the_closing_note_counts_the_failures_by_kind() -> None:
    failed = FailedStoresError("2 stores failed", [
        UnsupportedTypeError("x", "no"), UnsupportedTypeError("y", "no"), NotStoredError("z")])
    assert closing_note(failed) == ("(and 3 stores queued when the service closed failed: "
                                    "2 UnsupportedTypeError, 1 NotStoredError)")
