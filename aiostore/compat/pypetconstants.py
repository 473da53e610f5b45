"""pypet's constants, as legacy code imports them (``from ... import pypetconstants``).

The message constants are :class:`~aiostore.Msg` members where aiostore has the message
(they equal pypet's strings). pypet's ``DELETE`` is aiostore's ``REMOVE``; ``OPEN_FILE``,
``CLOSE_FILE`` and ``FLUSH`` are accepted by the shim's ``store``; ``ACCESS_DATA`` and
``DELETE_LINK`` are not supported (the shim raises ``NoSuchServiceError``).
"""

from __future__ import annotations

from ..messages import Flag, Msg

# -- messages ---------------------------------------------------------------------------------
TRAJECTORY = Msg.TRAJECTORY
SINGLE_RUN = Msg.SINGLE_RUN
LEAF = Msg.LEAF
TREE = Msg.TREE
LIST = Msg.LIST
GROUP = Msg.GROUP
MERGE = Msg.MERGE
PREPARE_MERGE = Msg.PREPARE_MERGE
BACKUP = Msg.BACKUP
DELETE = "DELETE"
DELETE_LINK = "DELETE_LINK"
ACCESS_DATA = "ACCESS_DATA"
OPEN_FILE = "OPEN_FILE"
CLOSE_FILE = "CLOSE_FILE"
FLUSH = "FLUSH"
# aiostore's own messages, which pypet 0.6 does not have
REMOVE = Msg.REMOVE
UPDATE_LEAF = Msg.UPDATE_LEAF
REMOVE_INCOMPLETE_RUNS = Msg.REMOVE_INCOMPLETE_RUNS

# -- load and store levels --------------------------------------------------------------------
LOAD_NOTHING = 0
LOAD_SKELETON = 1
LOAD_DATA = 2
OVERWRITE_DATA = 3
UPDATE_SKELETON = 1
UPDATE_DATA = 2
STORE_NOTHING = 0
STORE_DATA_SKIPPING = 1
STORE_DATA = 2

# -- storage flags ----------------------------------------------------------------------------
ARRAY = Flag.ARRAY
CARRAY = Flag.CARRAY
TABLE = Flag.TABLE
DICT = Flag.DICT
FRAME = Flag.FRAME
SERIES = Flag.SERIES
EARRAY = "EARRAY"
VLARRAY = "VLARRAY"
SPLIT_TABLE = "SPLIT_TABLE"
DATATYPE_TABLE = "DATATYPE_TABLE"
SHARED_DATA = "SHARED_DATA_"
NESTED_GROUP = "NESTED_GROUP"

# -- run names --------------------------------------------------------------------------------
FORMAT_ZEROS = 8
RUN_NAME = "run_"
RUN_NAME_DUMMY = "run_ALL"
FORMATTED_RUN_NAME = RUN_NAME + "%0" + str(FORMAT_ZEROS) + "d"
SET_FORMAT_ZEROS = 5
SET_NAME = "run_set_"
SET_NAME_DUMMY = "run_set_ALL"
FORMATTED_SET_NAME = SET_NAME + "%0" + str(SET_FORMAT_ZEROS) + "d"

# -- multiprocessing wrap modes ---------------------------------------------------------------
WRAP_MODE_QUEUE = "QUEUE"
WRAP_MODE_LOCK = "LOCK"
WRAP_MODE_NONE = "NONE"
WRAP_MODE_PIPE = "PIPE"
WRAP_MODE_LOCAL = "LOCAL"
WRAP_MODE_NETLOCK = "NETLOCK"
WRAP_MODE_NETQUEUE = "NETQUEUE"

# -- sizes of pypet's overview-table text columns ---------------------------------------------
HDF5_STRCOL_MAX_NAME_LENGTH = 128
HDF5_STRCOL_MAX_LOCATION_LENGTH = 512
HDF5_STRCOL_MAX_VALUE_LENGTH = 64
HDF5_STRCOL_MAX_COMMENT_LENGTH = 512
HDF5_STRCOL_MAX_RANGE_LENGTH = 1024
HDF5_STRCOL_MAX_RUNTIME_LENGTH = 18
HDF5_MAX_OVERVIEW_TABLE_LENGTH = 1000
