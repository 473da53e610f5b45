"""The reader's side: a read the HDF5 thread found locked is asked of the file's live writer.

:func:`forward` is called by the HDF5 thread when a ticket failed with FileLockedError (and
:func:`forward_first` before it tries a file whose writer answered a read lately). If the
ticket only reads one file and a socket is beside that file, the ticket is handed to a thread
of its own that asks the writer and completes the ticket's future with the answer, so the
HDF5 thread goes on at once and the services wait as for any read. What can happen:

- the writer answers: the answer (or the error the read raised there);
- nobody listens at the socket (a killed writer's, or the file's holder does not serve it):
  the FileLockedError the file gave (asked first: the file is tried then);
- the writer closed the file meanwhile: the ticket is read here again, as a new ticket;
- the writer goes away mid-read (killed: its end of the connection closes) or falls silent
  for ``SILENCE_SECONDS``: :class:`~aiostore.errors.WriterGoneError`.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from typing import TYPE_CHECKING, Any

from ...errors import FileLockedError, WriterGoneError
from ..requests import ReadFrame, ReadFrameIndex
from . import framecache, sockets
from .requests import ReadProgress
from .server import is_read, served_here

if TYPE_CHECKING:
    from ..worker import Ticket

__all__ = ["forward"]

log = logging.getLogger("aiostore.live")

# A read is asked of writers at most this many times (a file closed, then held by another).
MAX_ASKS = 3
_NOBODY = (errno.ENOENT, errno.ECONNREFUSED, errno.ENOTSOCK)


# Files whose live writer answered a read lately (when, monotonic): their next reads go to
# it at once, without the failed open that would find the file locked (~10 ms of CPU)
_answered: dict[str, float] = {}
ANSWERED_SECONDS = 10.0


def forward_first(ticket: Ticket) -> bool:
    """Hand ``ticket`` to its file's live writer before trying the file, if that writer
    answered a read lately; False otherwise (the file is tried first)."""
    if not _answered or len(ticket.filenames) != 1:
        return False
    (filename,) = ticket.filenames
    when = _answered.get(filename)
    if when is None or time.monotonic() - when > ANSWERED_SECONDS:
        return False
    return forward(ticket, tried=False)


def forward(ticket: Ticket, tried: bool = True) -> bool:
    """Hand ``ticket``, whose file was found locked (``tried``), to that file's live writer;
    False if it is not a read of one file, or no socket of another process is beside that file
    (its FileLockedError stands)."""
    request = ticket.request
    asked = getattr(ticket, "asked", 0)
    if len(ticket.filenames) != 1 or asked >= MAX_ASKS or not is_read(request):
        return False
    (filename,) = ticket.filenames
    path = sockets.socket_path(filename)
    if path in served_here or not os.path.exists(path):
        return False
    threading.Thread(target=_ask, args=(path, filename, ticket, request, asked + 1, tried),
                     daemon=True, name="aiostore-live-read").start()
    return True


def _ask(path: str, filename: str, ticket: Ticket, request: Any, asked: int,
         tried: bool) -> None:
    future = ticket.future
    try:
        kind, answer = _asked(path, filename, request)
    except FileLockedError as exc:  # nobody answers there
        _answered.pop(filename, None)
        if tried:
            _settle(future, exception=exc)
        else:  # the file may be free now: try it
            _read_again(ticket, request, asked)
        return
    except Exception as exc:  # WriterGoneError; a caller never waits for ever
        _answered.pop(filename, None)
        _settle(future, exception=exc)
        return
    if kind == "answer":
        _answered[filename] = time.monotonic()
        _settle(future, result=answer)
    elif kind == "error":
        _answered[filename] = time.monotonic()
        _settle(future, exception=answer)
    else:  # "unserved": the writer closed the file; read it here
        _answered.pop(filename, None)
        _read_again(ticket, request, asked)


# Reads whose last answers a reader keeps, asking the writer for what changed since: a
# result's runs read before (the new runs), the index of runs and the run table's rows
# (those since the last run known completed)
_KEPT: dict[type, Callable[[str, Any, framecache.Ask], tuple[str, Any]]] = {
    ReadFrame: framecache.read, ReadFrameIndex: framecache.read_index,
    ReadProgress: framecache.read_progress}


def _asked(path: str, filename: str, request: Any) -> tuple[str, Any]:
    kept = _KEPT.get(type(request))
    if kept is not None:
        return kept(path, request, lambda part: _request(path, filename, part))
    kind, answer, _ = _request(path, filename, request)
    return kind, answer


def _request(path: str, filename: str, request: Any) -> tuple[str, Any, Any]:
    try:
        connection = sockets.connect(path)
    except OSError as exc:
        why = "" if exc.errno in _NOBODY else f" ({exc.strerror or exc})"
        raise FileLockedError(
            f"cannot open {filename!r}: another process has it open, and no aiostore writer "
            f"answers at {path!r}{why} (a writer killed earlier left it, or the file's holder "
            "is not aiostore): let that process finish, or close the file there", filename
        ) from exc
    with connection:
        if not sockets.same_user(connection):  # its answers are pickles: trust ours only
            raise FileLockedError(f"cannot open {filename!r}: another process has it open, and "
                                  f"{path!r} is served by another user's process: not read",
                                  filename)
        try:
            connection.settimeout(sockets.SILENCE_SECONDS)
            sockets.send(connection, request)
            reply: tuple[str, Any, Any] = sockets.receive(connection)
        except TimeoutError as exc:
            raise WriterGoneError(filename, f"sent nothing for {sockets.SILENCE_SECONDS:.0f} s "
                                  "(stopped, or hung)") from exc
        except (OSError, EOFError) as exc:
            raise WriterGoneError(filename, "went away (killed, or ended)") from exc
    return reply


def _read_again(ticket: Ticket, request: Any, asked: int) -> None:
    from ..worker import Ticket as NewTicket
    from ..worker import current_worker

    again = NewTicket(request, ticket.durability)
    again.asked = asked  # type: ignore[attr-defined]
    try:
        current_worker().submit(again)
    except Exception as exc:
        _settle(ticket.future, exception=exc)
        return
    again.future.add_done_callback(lambda done: _copy(done, ticket.future))


def _copy(source: Future[Any], target: Future[Any]) -> None:
    error = source.exception()
    if error is None:
        _settle(target, result=source.result())
    else:
        _settle(target, exception=error)


def _settle(future: Future[Any], *, result: Any = None,
            exception: BaseException | None = None) -> None:
    try:
        if exception is not None:
            future.set_exception(exception)
        else:
            future.set_result(result)
    except InvalidStateError:  # cancelled by its caller meanwhile
        log.debug("a live read's caller left before its answer")
