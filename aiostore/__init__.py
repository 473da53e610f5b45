"""aiostore: an asyncio-native HDF5 storage service for simulation results."""

from .codec import TYPE_FLAG_MAPPING
from .errors import (
    AiostoreError,
    DataNotFoundError,
    FileFormatError,
    InvalidArgumentError,
    InvalidNameError,
    ItemExistsError,
    MergeError,
    NoSuchServiceError,
    NotStoredError,
    RemovalError,
    UnsupportedTypeError,
)
from .inline import InlineStorageService
from .messages import Flag, LoadMode, Msg
from .model import Group, ObjectTable, Parameter, Result, RunInfo, SingleRun, Trajectory

__version__ = "0.1.0"

__all__ = [
    "TYPE_FLAG_MAPPING",
    "AiostoreError",
    "DataNotFoundError",
    "FileFormatError",
    "Flag",
    "Group",
    "InlineStorageService",
    "InvalidArgumentError",
    "InvalidNameError",
    "ItemExistsError",
    "LoadMode",
    "MergeError",
    "Msg",
    "NoSuchServiceError",
    "NotStoredError",
    "ObjectTable",
    "Parameter",
    "RemovalError",
    "Result",
    "RunInfo",
    "SingleRun",
    "Trajectory",
    "UnsupportedTypeError",
]
