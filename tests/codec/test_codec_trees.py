"""Object trees: any object as native values where the codec can, pickles only where it cannot."""

from __future__ import annotations

import threading
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd
import pytest
from exactness import assert_exact

from aiostore.codec.trees import (
    MappingNode,
    NoneNode,
    PickleNode,
    PickleRefusedError,
    SequenceNode,
    ValueNode,
    decode_tree,
    encode_tree,
)
from aiostore.errors import FileFormatError, UnsupportedTypeError

RAGGED_TABLE = (np.linspace(0.0, 1.0, 5), np.linspace(0.0, 2.0, 7), np.ones((5, 7)))

NATIVE_VALUES: list[Any] = [
    1.5,
    np.float32(2.5),
    "text",
    [2.6, 9.5],
    np.arange(20.0).reshape(2, 10),
    RAGGED_TABLE,
    [np.arange(3), "mixed", 1],
    {"norm": 1.0, "table": RAGGED_TABLE, "nested": {"list": [None, (1, 2)]}},
    None,
    (),
    {},
    pd.DataFrame({"x": [1.0, 2.0]}),
]


@pytest.mark.parametrize("value", NATIVE_VALUES, ids=lambda value: type(value).__name__)
def test_native_values_come_back_exactly_without_pickles(value: Any) -> None:
    tree = encode_tree("v", value)
    assert_exact(decode_tree("v", tree, allow_pickle=False), value)


def test_the_codec_stores_what_it_can_as_one_value() -> None:
    assert isinstance(encode_tree("v", [2.6, 9.5]), ValueNode)
    assert isinstance(encode_tree("v", None), NoneNode)
    ragged = encode_tree("v", RAGGED_TABLE)
    assert isinstance(ragged, SequenceNode)
    assert ragged.kind == "tuple"
    assert all(isinstance(item, ValueNode) for item in ragged.items)
    mapping = encode_tree("v", {"a": RAGGED_TABLE, "b": 1})
    assert isinstance(mapping, MappingNode)
    assert mapping.keys == ("a", "b")


@pytest.mark.parametrize("value", [{1: 2.0}, {1, 2}, Fraction(1, 3), [Fraction(1, 2), 2.0]],
                         ids=repr)
def test_other_objects_are_pickled_and_load_only_if_allowed(value: Any) -> None:
    tree = encode_tree("v", value)
    assert decode_tree("v", tree) == value
    with pytest.raises(PickleRefusedError, match="pickle") as caught:
        decode_tree("v", tree, allow_pickle=False)
    assert isinstance(caught.value, FileFormatError)


def test_only_the_pickled_part_of_a_container_is_a_pickle() -> None:
    tree = encode_tree("v", (np.arange(3.0), {1, 2}))
    assert isinstance(tree, SequenceNode)
    assert isinstance(tree.items[0], ValueNode)
    assert isinstance(tree.items[1], PickleNode)


def test_an_unpicklable_object_is_refused_naming_where_it_is() -> None:
    with pytest.raises(UnsupportedTypeError, match=r"table\[1\]"):
        encode_tree("table", (1.0, threading.Lock()))


def test_the_tree_is_a_snapshot() -> None:
    array = np.zeros(4)
    tree = encode_tree("v", (array, np.ones(2)))
    array[:] = 7.0
    assert_exact(decode_tree("v", tree), (np.zeros(4), np.ones(2)))


def test_nbytes_counts_the_arrays() -> None:
    tree = encode_tree("v", (np.zeros(100), np.zeros((2, 50)), "x"))
    assert tree.nbytes >= 1600
