"""pypet's storage service and multiprocessing wrappers, blocking, on aiostore's HDF5 thread.

Legacy code keeps its imports and calls; pypet's own ``Environment`` and ``Trajectory`` take
the service as ``storage_service=``::

    from aiostore.compat.pypet import HDF5StorageService, LockWrapper, pypetconstants
    svc = HDF5StorageService(filename="out.h5", file_title="Experiment")
    svc.store(pypetconstants.LEAF, result, trajectory_name="sweep")

How pypet's names, annotations and links sit in aiostore's files: :mod:`.keys`.
"""

from __future__ import annotations

from ...blocking import StorageService
from ...errors import NoSuchServiceError
from .. import pypetconstants
from .service import HDF5StorageService, default_filename
from .wrappers import (
    QUEUE_LOAD_REFUSED,
    LazyStorageService,
    LockWrapper,
    QueueStorageServiceSender,
    QueueStorageServiceWriter,
)

__all__ = [
    "QUEUE_LOAD_REFUSED",
    "HDF5StorageService",
    "LazyStorageService",
    "LockWrapper",
    "NoSuchServiceError",
    "QueueStorageServiceSender",
    "QueueStorageServiceWriter",
    "StorageService",
    "default_filename",
    "pypetconstants",
]
