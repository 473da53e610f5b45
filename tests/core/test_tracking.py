"""The Tracker, without a service or a thread: tickets nobody awaits, finished or failed."""

from __future__ import annotations

from typing import Any

from aiostore import FailedStoresError, NotStoredError, StoreAbortedError
from aiostore._core.planning import Job
from aiostore._core.requests import CloseFile
from aiostore._core.tracking import Tracker
from aiostore._core.worker import Ticket


def _ticket() -> Ticket:
    return Ticket(CloseFile("f.h5"))


def test_a_done_ticket_finishes_its_job_and_drains() -> None:
    tracker, ticket, finished = Tracker(), _ticket(), []
    tracker.track(ticket, Job(None, finished.append), "store LEAF a")
    drained = tracker.drained()
    assert not drained.done()
    ticket.future.set_result("answer")
    assert finished == ["answer"]
    assert drained.done()
    assert tracker.take_errors() is None


def test_errors_are_kept_with_their_call_and_taken_once() -> None:
    tracker = Tracker()
    failing, aborted = _ticket(), _ticket()
    tracker.track(failing, Job(None), "store LEAF a")
    tracker.track(aborted, Job(None), "store LEAF b")
    failing.future.set_exception(NotStoredError("nothing there"))
    aborted.future.set_exception(StoreAbortedError("aborted"))  # abort() tells of it
    assert tracker.has_errors
    errors = tracker.take_errors()
    assert isinstance(errors, FailedStoresError)
    [error] = errors.exceptions
    assert isinstance(error, NotStoredError)
    assert error.__notes__ == ["in store LEAF a"]
    assert tracker.take_errors() is None


def test_unwritten_stores_are_named_and_their_errors_not_raised_again() -> None:
    tracker = Tracker()
    failing, aborted = _ticket(), _ticket()
    tracker.track(failing, Job(None), "store LEAF a")
    tracker.track(aborted, Job(None), "store LEAF b")
    failing.future.set_exception(NotStoredError("nothing there"))
    aborted.future.set_exception(StoreAbortedError("aborted"))
    assert tracker.take_unwritten() == ["store LEAF a", "store LEAF b"]
    assert tracker.take_errors() is None


def test_a_job_whose_finish_raises_is_a_failed_store() -> None:
    tracker, ticket = Tracker(), _ticket()

    def finish(answer: Any) -> None:
        raise NotStoredError(f"cannot finish with {answer!r}")

    tracker.track(ticket, Job(None, finish), "load LEAF a")
    ticket.future.set_result(1)
    errors = tracker.take_errors()
    assert errors is not None
    assert [str(error) for error in errors.exceptions] == ["cannot finish with 1"]
