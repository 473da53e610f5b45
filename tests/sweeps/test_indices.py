"""A sweep report's run indices: a sequence and a set of ints, held in one buffer."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiostore.sweeps import RunIndexSet, RunIndices

indices = st.lists(st.integers(0, 2**40))


class TestRunIndices:
    @given(indices)
    def test_a_sequence_equal_to_its_tuple(self, values: list[int]) -> None:
        stored = RunIndices(values)
        assert stored == tuple(values)
        assert stored == values
        assert list(stored) == values
        assert len(stored) == len(values)
        assert all(type(index) is int for index in stored)
        assert stored[1:3] == values[1:3]
        assert pickle.loads(pickle.dumps(stored)) == stored

    def test_order_counts(self) -> None:
        assert RunIndices([2, 1]) != (1, 2)
        assert RunIndices([2, 1]) != RunIndices([1, 2])
        assert RunIndices() == ()
        assert not RunIndices()

    def test_from_numpy_and_lookup(self) -> None:
        stored = RunIndices(np.array([7, 3, 9], dtype=np.int32))
        assert stored == (7, 3, 9)
        assert type(stored[0]) is int
        assert 3 in stored
        assert 4 not in stored
        assert stored.index(9) == 2

    def test_repr_is_short(self) -> None:
        assert repr(RunIndices([1, 2])) == "RunIndices([1, 2])"
        assert repr(RunIndices(range(10**6))) == "RunIndices([0, 1, 2, 3, 4, ... 1000000 in all])"


class TestRunIndexSet:
    @given(indices)
    def test_a_set_equal_to_its_frozenset(self, values: list[int]) -> None:
        completed = RunIndexSet(values)
        assert completed == set(values)
        assert completed == frozenset(values)
        assert list(completed) == sorted(set(values))
        assert all(index in completed for index in values)
        assert all(type(index) is int for index in completed)
        assert pickle.loads(pickle.dumps(completed)) == completed
        assert hash(completed) == hash(RunIndexSet(sorted(set(values))))

    @pytest.mark.parametrize("absent", [4, -1, 100, "3", None, 3.5])
    def test_membership(self, absent: object) -> None:
        completed = RunIndexSet(np.array([5, 3, 3, 9]))
        assert 3 in completed
        assert np.int64(9) in completed
        assert absent not in completed

    def test_set_operations(self) -> None:
        completed = RunIndexSet([1, 2, 3])
        assert completed - {2} == {1, 3}
        assert completed | {7} == {1, 2, 3, 7}
        assert not RunIndexSet()
        assert RunIndexSet() == set()
