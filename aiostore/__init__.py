"""aiostore: an asyncio-native HDF5 storage service for simulation results."""

from ._core.answers import KeyInfo, NodeInfo
from ._core.live.requests import Progress
from ._core.worker import Durability
from .blocking import StorageService
from .codec import TYPE_FLAG_MAPPING
from .errors import (
    AiostoreError,
    DataNotFoundError,
    DiskFullError,
    FailedStoresError,
    FileAccessError,
    FileFormatError,
    FileLockedError,
    InvalidArgumentError,
    InvalidNameError,
    ItemExistsError,
    LocksUnsupportedError,
    MergeError,
    NoSuchServiceError,
    NotStoredError,
    ReadOnlyTrajectoryError,
    RemovalError,
    RunnerError,
    ServiceClosedError,
    StoreAbortedError,
    SweepMismatchError,
    UnsupportedFeatureError,
    UnsupportedTypeError,
    WriterGoneError,
)
from .messages import Flag, LoadMode, Msg
from .model import Group, ObjectTable, Parameter, Result, RunInfo, SingleRun, Trajectory
from .service import AsyncServiceClosedError, AsyncStorageService
from .sweeps import SweepReport, run_sweep
from .sweeps.runners import ProcessRunner
from .wrappers import (
    AsyncLockWrapper,
    AsyncQueueSender,
    AsyncQueueWriter,
    ProcessQueueWriter,
    open_queue,
)

__version__ = "0.1.0"

__all__ = [
    "TYPE_FLAG_MAPPING",
    "AiostoreError",
    "AsyncLockWrapper",
    "AsyncQueueSender",
    "AsyncQueueWriter",
    "AsyncServiceClosedError",
    "AsyncStorageService",
    "DataNotFoundError",
    "DiskFullError",
    "Durability",
    "FailedStoresError",
    "FileAccessError",
    "FileFormatError",
    "FileLockedError",
    "Flag",
    "Group",
    "InvalidArgumentError",
    "InvalidNameError",
    "ItemExistsError",
    "LocksUnsupportedError",
    "KeyInfo",
    "LoadMode",
    "MergeError",
    "Msg",
    "NoSuchServiceError",
    "NodeInfo",
    "NotStoredError",
    "ObjectTable",
    "Parameter",
    "ProcessQueueWriter",
    "ProcessRunner",
    "Progress",
    "ReadOnlyTrajectoryError",
    "RemovalError",
    "Result",
    "RunnerError",
    "ServiceClosedError",
    "StoreAbortedError",
    "SweepMismatchError",
    "SweepReport",
    "RunInfo",
    "SingleRun",
    "StorageService",
    "Trajectory",
    "UnsupportedFeatureError",
    "UnsupportedTypeError",
    "WriterGoneError",
    "open_queue",
    "run_sweep",
]
