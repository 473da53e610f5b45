"""Pickling frozen dataclasses as their class and field values.

The journal pickles every store's request, and a dataclass's own pickling support asks
``dataclasses.fields`` for its fields on every instance: about half of what pickling a run's
request cost. Instances pickled this way unpickle through ``__init__``; records pickled before
(with the dataclass's ``__getstate__``) still unpickle, through its ``__setstate__``.
"""

from __future__ import annotations

import dataclasses
import operator
from typing import Any, TypeVar

__all__ = ["pickled_by_fields"]

T = TypeVar("T")


def pickled_by_fields(cls: type[T]) -> type[T]:
    """Give the dataclass ``cls`` a ``__reduce__`` that returns its field values in order."""
    names = tuple(field.name for field in dataclasses.fields(cls))  # type: ignore[arg-type]
    values = operator.attrgetter(*names)
    if len(names) == 1:
        def reduce(self: Any) -> tuple[Any, ...]:
            return cls, (values(self),)
    else:
        def reduce(self: Any) -> tuple[Any, ...]:
            return cls, values(self)
    cls.__reduce__ = reduce  # type: ignore[method-assign]
    return cls
