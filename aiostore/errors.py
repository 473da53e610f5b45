"""The exceptions aiostore raises.

Every exception is an :class:`AiostoreError`, and also the builtin a pypet user
would catch for the same mistake::

    AiostoreError
    ├── NoSuchServiceError      (TypeError)   unknown message, or an item the message cannot take
    ├── UnsupportedTypeError    (TypeError)   a value the codec cannot store exactly; names the key
    ├── InvalidNameError        (ValueError)  a name that is not a valid item or data name
    ├── DataNotFoundError       (ValueError, KeyError)  loading or removing what is not in the file
    ├── ItemExistsError         (ValueError)  storing data that is already in the file
    ├── NotStoredError          (ValueError)  an operation that needs its trajectory stored first
    ├── InvalidArgumentError    (ValueError)  arguments a message does not take, or that contradict
    ├── RemovalError            (ValueError)  a REMOVE that would take more than asked, or what stays
    ├── MergeError              (ValueError)  trajectories that cannot be merged
    ├── SweepMismatchError      (ValueError)  resuming a sweep in a file holding another sweep
    ├── RunnerError             (RuntimeError) a sweep's runner whose workers cannot start
    ├── InterpolationError      (ValueError)  a cached table no interpolator can be made of
    ├── MissingDependencyError  (ImportError) a feature whose optional dependency is not installed;
    │                                         names the extra that installs it (aiostore[xarray])
    ├── FileFormatError         (OSError)     a file that is not HDF5, or not readable as aiostore data
    │   ├── UnsupportedFeatureError            a node (of a pypet file) using a feature aiostore
    │   │                                      does not read; names the node and the feature
    │   └── ReadOnlyTrajectoryError            a store into a trajectory pypet wrote (read-only)
    ├── FileLockedError         (OSError)     a file another process holds open (HDF5 locks it)
    ├── WriterGoneError         (ConnectionError) the live writer of a file, which a reader asked
    │                                         instead of opening the file, went away mid-read
    ├── LocksUnsupportedError   (OSError)     a file system on which locks fail (NFS, Lustre without
    │                                         locks): names the cause and the way forward
    ├── FileAccessError         (OSError)     a path that cannot be opened or created: permission
    │                                         denied, a read-only file system, a parent that is a file
    ├── DiskFullError           (OSError)     no space left, a quota or a file-size limit reached
    │                                         while writing; names the file and the errno
    ├── ServiceClosedError      (RuntimeError) a call on a closed service, or after interpreter exit
    │   ├── AsyncServiceClosedError (anyio.ClosedResourceError), raised by the async service,
    │   │                                      defined in aiostore.service
    │   └── StoreAbortedError                  a queued store withdrawn by ``abort()``, unwritten
    └── FailedStoresError       (ExceptionGroup) the errors of stores nobody awaited (``put``)

Errors about user input are raised before anything is written: the file is left
as it was.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "AiostoreError",
    "DataNotFoundError",
    "DiskFullError",
    "FileAccessError",
    "FailedStoresError",
    "FileFormatError",
    "FileLockedError",
    "InterpolationError",
    "InvalidArgumentError",
    "InvalidNameError",
    "LocksUnsupportedError",
    "MissingDependencyError",
    "ItemExistsError",
    "ReadOnlyTrajectoryError",
    "NoSuchServiceError",
    "MergeError",
    "NotStoredError",
    "RemovalError",
    "RunnerError",
    "ServiceClosedError",
    "StoreAbortedError",
    "SweepMismatchError",
    "UnsupportedFeatureError",
    "UnsupportedTypeError",
    "WriterGoneError",
]


class AiostoreError(Exception):
    """Base class of every exception raised by aiostore."""


class NoSuchServiceError(AiostoreError, TypeError):
    """The message is unknown, or the item is not one the message can take (pypet's name)."""


class UnsupportedTypeError(AiostoreError, TypeError):
    """A value cannot be stored with an exact round trip.

    ``key`` is the data key (``"item.key"`` inside an item) that holds the value.
    """

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"cannot store {key!r}: {reason}")


class InvalidNameError(AiostoreError, ValueError):
    """A name is not usable as an item name, a data key or a trajectory name."""

    def __init__(self, name: object, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"invalid name {name!r}: {reason}")


class DataNotFoundError(AiostoreError, ValueError, KeyError):
    """What was asked for is not in the file."""

    def __init__(self, what: str, missing: Iterable[str] = ()) -> None:
        self.missing = tuple(missing)
        message = what if not self.missing else f"{what}: {', '.join(self.missing)}"
        self.args = (message,)
        super().__init__(message)

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class ItemExistsError(AiostoreError, ValueError):
    """Data already in the file is never overwritten by a store ("set in stone").

    ``item`` is what is there (an item's full name, or a trajectory's name), ``keys`` its data
    the store would write again; ``filename`` and ``trajectory`` say where (the engine fills them
    in from the request where the raiser did not), ``kind`` what the node is when that is the
    clash (``"a group"``), and ``remedy`` what to do instead. ``str()`` says all of it::

        'parameters.x' is already stored in trajectory 'sweep' of '/data/out.h5' (keys data,
        explored_data); stored data is not overwritten: store into another file or under another
        trajectory name, or delete the file first (an explored parameter is not removed)
    """

    def __init__(self, item: str, keys: Iterable[str] = (), filename: str = "",
                 trajectory: str = "", kind: str = "", remedy: str = "") -> None:
        self.item = item
        self.keys = tuple(keys)
        self.filename = filename
        self.trajectory = trajectory
        self.kind = kind
        self.remedy = remedy
        super().__init__(self._message())

    def locate(self, filename: str, trajectory: str) -> None:
        """Say where the item is, unless the raiser did (which names the file when it does)."""
        if not self.filename:
            self.filename = filename
            self.trajectory = self.trajectory or trajectory
            self.args = (self._message(),)

    def _message(self) -> str:
        text = f"{self.item!r} is already stored"
        if self.kind:
            text += f" as {self.kind}"
        if self.trajectory:
            text += f" in trajectory {self.trajectory!r}"
        if self.filename:
            text += f" of {self.filename!r}" if self.trajectory else f" in {self.filename!r}"
        if self.keys:
            text += f" (keys {', '.join(self.keys)})"
        return f"{text}; stored data is not overwritten: {self.remedy or self._default_remedy()}"

    def _default_remedy(self) -> str:
        elsewhere = "store into another file or under another trajectory name"
        if "explored_data" in self.keys:
            return f"{elsewhere}, or delete the file first (an explored parameter is not removed)"
        return f"{elsewhere}, remove it first (Msg.REMOVE), or rewrite its values (Msg.UPDATE_LEAF)"

    def __reduce__(self) -> tuple[Any, ...]:  # crosses process boundaries (queue writers)
        return type(self), (self.item, self.keys, self.filename, self.trajectory, self.kind,
                            self.remedy)


class NotStoredError(AiostoreError, ValueError):
    """The operation needs its trajectory to be stored first."""


class InvalidArgumentError(AiostoreError, ValueError):
    """Arguments a message does not take, or that contradict each other."""


class RemovalError(AiostoreError, ValueError):
    """A REMOVE of a non-empty group without ``recursive``, or of an explored parameter."""


class MergeError(AiostoreError, ValueError):
    """Two trajectories that cannot be merged (different parameters, missing trajectory...)."""


class SweepMismatchError(AiostoreError, ValueError):
    """The file already holds a trajectory of that name whose parameters or runs differ."""


class RunnerError(AiostoreError, RuntimeError):
    """A sweep's runner cannot compute at all: its workers cannot start or its cluster is gone."""


class InterpolationError(AiostoreError, ValueError):
    """A cached table cannot give the interpolator asked for (shape, order of values)."""


class MissingDependencyError(AiostoreError, ImportError):
    """A feature that needs an optional package which is not installed."""

    def __init__(self, feature: str, package: str, extra: str) -> None:
        super().__init__(f"{feature} needs {package}, which is not installed: "
                         f"pip install aiostore[{extra}]", name=package)


class FileFormatError(AiostoreError, OSError):
    """The file is not an HDF5 file, or holds something aiostore cannot read."""


class UnsupportedFeatureError(FileFormatError):
    """A node of the file uses a feature aiostore does not read (yet): pickled or sparse data of
    a pypet file, a leaf class whose own code rebuilds it... ``node`` and ``feature`` say which."""

    def __init__(self, node: str, feature: str) -> None:
        self.node = node
        self.feature = feature
        super().__init__(f"{node}: {feature} is not supported (yet)")


class ReadOnlyTrajectoryError(FileFormatError):
    """A store, removal or merge that would change a trajectory written by pypet: aiostore only
    reads pypet's layout. Raised before anything is written."""


class FileLockedError(AiostoreError, OSError):
    """Another process has the file open, and HDF5's lock keeps this one out (nothing changed).

    ``errno`` is ``EAGAIN`` (the lock is held) and ``filename`` the user's file, as on the
    ``OSError`` of a refused lock; ``str()`` says who holds it, where aiostore can tell.
    """

    def __init__(self, message: str, filename: str | None = None) -> None:
        super().__init__(errno.EAGAIN, message, filename)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.message, self.filename)


class WriterGoneError(AiostoreError, ConnectionError):
    """A read of a file that a live writer holds, which that writer was answering
    (:mod:`aiostore._core.live`), ended without its answer: the writer's process was killed or ended,
    or stopped answering for :data:`~aiostore._core.live.sockets.SILENCE_SECONDS`. Nothing was read;
    reading again reads the file itself once its writer is gone (recovering it from its
    journal if the writer was killed)."""

    def __init__(self, filename: str, why: str) -> None:
        self.message = (f"the process writing {filename!r} {why}, before answering this read: "
                        "nothing was read. Read again (the file is recovered from its journal "
                        "if its writer was killed)")
        super().__init__(self.message)
        self.filename = filename
        self.why = why

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.filename, self.why)


class _FileSystemError(AiostoreError, OSError):
    """An error of the operating system about ``filename``, told in aiostore's words.

    ``errno``, ``strerror`` and ``filename`` are the operating system's, as on any OSError;
    ``str()`` is aiostore's message, which names the user's file and the way forward.
    """

    def __init__(self, error_number: int, filename: str, message: str) -> None:
        super().__init__(error_number, os.strerror(error_number), filename)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:  # crosses process boundaries (queue writers)
        return type(self), (self.errno, self.filename, self.message)


class LocksUnsupportedError(_FileSystemError):
    """Locking a file failed because its file system does not support locks (``ENOLCK``,
    ``ENOSYS``, ``EOPNOTSUPP``): not because anybody else holds it."""


class FileAccessError(_FileSystemError):
    """The file, or the folder it is to be made in, cannot be opened or created: permission
    denied, a read-only file system, a parent that is a regular file, a missing folder."""


class DiskFullError(_FileSystemError):
    """Writing failed for want of space: the file system is full (``ENOSPC``), a quota is
    reached (``EDQUOT``), or the file would pass the process's size limit (``EFBIG``).

    ``filename`` is the file that could not be written (the HDF5 file, its journal, a backup,
    an export...). A store that raised it was not acknowledged; stores acknowledged before are
    in the file or its journal, and come back when the file is opened with space to spare.
    """


class ServiceClosedError(AiostoreError, RuntimeError):
    """The service is closed, or the HDF5 thread has shut down because the interpreter exits."""


class StoreAbortedError(ServiceClosedError):
    """A store that was queued and not yet written when its service was aborted: never written."""


class FailedStoresError(AiostoreError, ExceptionGroup):
    """The errors of stores that were queued without waiting for them (``put``), reported once.

    Each exception carries a note naming the item and the message that failed.
    """

    def derive(self, excs: Sequence[Exception]) -> FailedStoresError:  # type: ignore[override]
        return FailedStoresError(self.message, excs)
