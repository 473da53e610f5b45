"""The collection kinds: a spec's ``coll``, which says how the codec rebuilds a value.

pypet's kinds (pypet records them in ``SRVC_DATA_COLL_TYPE``, and aiostore reads pypet's files by
them), then aiostore's own for tables, frames and their columns.

They are plain strings, not an enum (the storage flags, :class:`~aiostore.codec.flags.Flag`, are a
``StrEnum``): every encoded value's spec holds one, and the journal pickles the specs of every
store. A ``StrEnum`` member in a spec pickles as its class and value: the specs of six values
(W1's, and a list, a tuple, a str) pickled in 4.6 us instead of 1.5, 358 bytes instead of 310,
and reading ``member.value`` instead costs about 0.2 us a value encoded. The specs are JSON in the file,
where a kind is a string all the same.
"""

from __future__ import annotations

from typing import Final

__all__ = ["COLL_COLUMN", "COLL_DATAFRAME", "COLL_DICT", "COLL_EMPTY", "COLL_EMPTY_DICT",
           "COLL_LIST", "COLL_MATRIX", "COLL_NDARRAY", "COLL_OBJECT_TABLE", "COLL_SCALAR",
           "COLL_SERIES", "COLL_TUPLE"]

# pypet's
COLL_SCALAR: Final = "COLL_SCALAR"  # a python or numpy scalar, a str, bytes
COLL_LIST: Final = "COLL_LIST"  # a list, of the scalars or arrays its spec's ``type`` says
COLL_TUPLE: Final = "COLL_TUPLE"  # a tuple, as a list
COLL_NDARRAY: Final = "COLL_NDARRAY"  # a numpy array
COLL_MATRIX: Final = "COLL_MATRIX"  # a numpy matrix
COLL_DICT: Final = "COLL_DICT"  # a dict, as a one-row table of its keys
COLL_EMPTY_DICT: Final = "COLL_EMPTY_DICT"  # {} (a table cannot have no columns)
# aiostore's
COLL_OBJECT_TABLE: Final = "COLL_OBJECT_TABLE"  # an ObjectTable (pypet's table of objects)
COLL_DATAFRAME: Final = "COLL_DATAFRAME"  # a pandas DataFrame
COLL_SERIES: Final = "COLL_SERIES"  # a pandas Series
COLL_COLUMN: Final = "COLL_COLUMN"  # a table's whole column, of one numpy dtype
COLL_EMPTY: Final = "COLL_EMPTY"  # a frame's column without rows (its pandas dtype kept)

