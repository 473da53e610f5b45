"""The contract every face keeps (DESIGN.md, "Public contract"), run on each of them: the async
service, the blocking one and the pypet shim, on a file on disk and on one held in memory.

:class:`FaceContract` holds the tests (zarr's ``StoreTests`` is the model); each class below
runs them on one face, through the fixtures of aiostore's pytest plugin. A face is called
through :class:`Face`, which awaits what the async service returns.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest

from aiostore import (
    DataNotFoundError,
    InvalidArgumentError,
    LoadMode,
    Msg,
    NoSuchServiceError,
    Parameter,
    Result,
    Trajectory,
)
from aiostore.testing import assert_exact

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the async face on trio is tested in faces/test_service.py


class Face:
    """One face's ``store`` and ``load``, awaited whether or not they are coroutines."""

    def __init__(self, service: Any) -> None:
        self.service = service

    async def store(self, *args: Any, **kwargs: Any) -> Any:
        return await _awaited(self.service.store(*args, **kwargs))

    async def load(self, *args: Any, **kwargs: Any) -> Any:
        return await _awaited(self.service.load(*args, **kwargs))


async def _awaited(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _result() -> Result:
    return Result("results.z", z=1.5, n=np.int64(3), arr=np.arange(4, dtype=np.int32),
                  pair=(np.int64(1), np.int64(2)), text="é")


class FaceContract:
    """The tests; a subclass gives the ``face`` fixture."""

    async def test_a_leaf_comes_back_exactly(self, face: Face) -> None:
        stored = _result()
        await face.store(Msg.LEAF, stored, trajectory_name="sweep")
        loaded = await face.load(Msg.LEAF, Result("results.z"), trajectory_name="sweep")
        assert_exact(loaded.data, stored.data)

    async def test_load_only_loads_those_keys(self, face: Face) -> None:
        await face.store(Msg.LEAF, _result(), trajectory_name="sweep")
        loaded = await face.load(Msg.LEAF, Result("results.z"), trajectory_name="sweep",
                                 load_only=["arr"])
        assert list(loaded.data) == ["arr"]
        assert_exact(loaded["arr"], np.arange(4, dtype=np.int32))

    async def test_a_trajectory_and_its_runs_come_back(self, face: Face) -> None:
        traj = Trajectory("sweep")
        traj.add_parameter("x", 1.0)
        traj.explore({"x": [1.0, 2.0, 3.0]})
        await face.store(Msg.TRAJECTORY, traj)
        for index in range(len(traj)):
            run = traj.run(index)
            run.add_result("r", value=np.float64(index))
            await face.store(Msg.SINGLE_RUN, run)
        loaded = await face.load(Msg.TRAJECTORY, None, trajectory_name="sweep",
                                 load_parameters=LoadMode.DATA, load_results=LoadMode.DATA)
        assert len(loaded) == 3
        assert isinstance(loaded["parameters.x"], Parameter)
        assert loaded["parameters.x"].range == [1.0, 2.0, 3.0]
        assert [run.completed for run in loaded.runs] == [1, 1, 1]
        assert_exact(loaded["results.runs.run_00000002.r"]["value"], np.float64(2))

    async def test_an_unknown_message_is_refused(self, face: Face) -> None:
        await face.store(Msg.LEAF, _result(), trajectory_name="sweep")
        with pytest.raises(NoSuchServiceError):
            await face.store("NO_SUCH_MESSAGE", _result(), trajectory_name="sweep")

    async def test_an_unsupported_value_is_refused_by_key_before_the_file_changes(
            self, face: Face) -> None:
        await face.store(Msg.LEAF, _result(), trajectory_name="sweep")
        with pytest.raises(TypeError, match="bad"):
            await face.store(Msg.LEAF, Result("results.w", bad=object()),
                             trajectory_name="sweep")
        with pytest.raises(DataNotFoundError):  # not stored
            await face.load(Msg.LEAF, Result("results.w"), trajectory_name="sweep")
        loaded = await face.load(Msg.LEAF, Result("results.z"), trajectory_name="sweep")
        assert_exact(loaded.data, _result().data)

    async def test_a_missing_load_only_name_is_a_value_error(self, face: Face) -> None:
        await face.store(Msg.LEAF, _result(), trajectory_name="sweep")
        with pytest.raises(ValueError, match="nothing"):
            await face.load(Msg.LEAF, Result("results.z"), trajectory_name="sweep",
                            load_only=["nothing"])

    async def test_a_bad_name_is_refused(self, face: Face) -> None:
        with pytest.raises((InvalidArgumentError, ValueError)):
            await face.store(Msg.LEAF, Result("results.not a name", v=1), trajectory_name="sweep")


class TestAsyncService(FaceContract):
    @pytest.fixture
    def face(self, aiostore_service: Any) -> Face:
        return Face(aiostore_service)


class TestBlockingService(FaceContract):
    @pytest.fixture
    def face(self, aiostore_sync_service: Any) -> Face:
        return Face(aiostore_sync_service)


class TestPypetShim(FaceContract):
    @pytest.fixture
    def face(self, aiostore_pypet_service: Any) -> Face:
        return Face(aiostore_pypet_service)
