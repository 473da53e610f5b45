"""The pytest plugin (its fixtures under pytest-asyncio and anyio, asyncio and trio, installed by
its entry point alone) and aiostore.testing's assertions with their diffs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aiostore import AsyncStorageService, Msg, Result, StorageService, Trajectory
from aiostore.compat.pypet import HDF5StorageService
from aiostore.testing import assert_exact, assert_items_equal, differences


def sweep() -> Trajectory:
    traj = Trajectory("sweep")
    traj.add_parameter("x", 1.0, comment="the knob")
    traj.explore({"x": [1.0, 2.0, 3.0]})
    for index in range(3):
        traj.run(index).add_result("z", np.float64(index), trace=np.arange(3.0) * index)
    return traj


@pytest.mark.parametrize("aiostore_in_memory", [False, True], ids=["disk", "memory"])
@pytest.mark.anyio
async def test_the_async_and_the_blocking_fixture_share_one_file(
        aiostore_service: AsyncStorageService, aiostore_sync_service: StorageService,
        aiostore_in_memory: bool, aiostore_path: Path) -> None:
    traj = sweep()
    await aiostore_service.store(Msg.TRAJECTORY, traj)
    for index in range(3):
        run = traj.run(index)
        run.new_items = [item for item in traj.leaves()
                         if item.v_full_name.startswith(f"results.runs.{run.v_name}.")]
        await aiostore_service.store(Msg.SINGLE_RUN, run)
    loaded = aiostore_sync_service.load(Msg.TRAJECTORY, None, trajectory_name="sweep",
                                        load_parameters=2, load_results=2)
    assert_items_equal(traj, loaded)
    assert aiostore_path.exists() is not aiostore_in_memory


@pytest.mark.asyncio
async def test_the_fixtures_under_pytest_asyncio(aiostore_service: AsyncStorageService,
                                                 aiostore_pypet_service: HDF5StorageService) -> None:
    await aiostore_service.store(Msg.TRAJECTORY, sweep())
    assert aiostore_pypet_service.load(Msg.TRAJECTORY, None, trajectory_name="sweep",
                                       load_parameters=2)["parameters.x"].range == [1.0, 2.0, 3.0]


USER_TESTS = '''
    import numpy as np
    import pytest
    from aiostore import Msg, Result
    from aiostore.testing import assert_items_equal

    @pytest.fixture
    def aiostore_in_memory():
        return True

    @pytest.mark.anyio
    @pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
    async def test_on_anyio(aiostore_service, aiostore_path, anyio_backend):
        await aiostore_service.store(Msg.LEAF, Result("results.r", v=np.arange(3)),
                                     trajectory_name="t")
        back = Result("results.r")
        await aiostore_service.load(Msg.LEAF, back, trajectory_name="t")
        assert_items_equal(Result("results.r", v=np.arange(3)), back)
        assert not aiostore_path.exists()

    @pytest.mark.asyncio
    async def test_on_pytest_asyncio(aiostore_service):
        await aiostore_service.store(Msg.LEAF, Result("results.r", v=1), trajectory_name="t")

    @pytest.mark.asyncio
    async def test_a_failed_put_nobody_awaited_fails_the_test(aiostore_service):
        await aiostore_service.put(Msg.LEAF, Result("results.r", v=1), trajectory_name="t")
        await aiostore_service.put(Msg.LEAF, Result("results.r", v=2), trajectory_name="t")

    def test_a_diff(aiostore_sync_service):
        assert_items_equal(Result("results.r", v=np.arange(3.0)), Result("results.r", v=[0.0]))
'''


def test_a_users_suite_gets_the_fixtures_from_the_entry_point_alone(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(textwrap.dedent(USER_TESTS))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-rA", str(tmp_path)], capture_output=True, text=True, cwd=tmp_path,
                          timeout=300, check=False)
    out = done.stdout
    assert "PASSED test_user.py::test_on_anyio[asyncio]" in out, out
    assert "PASSED test_user.py::test_on_anyio[trio]" in out
    assert "PASSED test_user.py::test_on_pytest_asyncio" in out
    assert "ERROR test_user.py::test_a_failed_put_nobody_awaited_fails_the_test" in out
    assert "ItemExistsError" in out
    assert "1 difference between result 'results.r' and result 'results.r':" in out
    assert "results.r['v']: type ndarray != list" in out
    assert "1 failed, 4 passed, 1 error" in out  # the failed put errs at teardown


# ------------------------------------------------------------------------------- assertions


def test_every_difference_of_two_trajectories_is_listed_with_where() -> None:
    first, second = sweep(), sweep()
    second["results.runs.run_00000001.z"].data["trace"] = np.arange(3, dtype=np.float32)
    second["parameters.x"].v_comment = "another"
    second["results.runs.run_00000002"].children.pop("z")
    second.add_result("extra", 1)
    second.runs[1].completed = True
    with pytest.raises(AssertionError) as raised:
        assert_items_equal(first, second)
    assert str(raised.value).splitlines() == [
        "5 differences between trajectory 'sweep' and trajectory 'sweep':",
        "  runs[1].completed: False != True",
        "  parameters.x: comment 'the knob' != 'another'",
        "  results.extra: only in the second",
        "  results.runs.run_00000001.z['trace']: dtype float64 != float32",
        "  results.runs.run_00000002.z: only in the first",
    ]


@pytest.mark.parametrize(("first", "second", "line"), [
    ((1, 2), [1, 2], "value: type tuple != list ((1, 2) vs [1, 2])"),
    (np.int64(1), np.int32(1), "value: type int64 != int32"),
    (np.arange(2), np.arange(2.0), "value: dtype int64 != float64"),
    (0.0, -0.0, "value: 0.0 != -0.0"),
    ({"a": 1, "b": 2}, {"b": 2, "a": 1}, "value: key order ['a', 'b'] != ['b', 'a']"),
    (np.arange(3.0), np.arange(3.0).astype(">f8"), "value: byte order <f8 != >f8"),
    (pd.DataFrame({"a": [1]}), pd.DataFrame({"a": [2]}),
     'value: DataFrame.iloc[:, 0] (column name="a") are different'),
])
def test_values_differ_by_the_codecs_rules(first: object, second: object, line: str) -> None:
    assert differences(first, second)[0].startswith(line)
    with pytest.raises(AssertionError):
        assert_exact(first, second)


def test_equal_values_and_items_pass() -> None:
    assert_exact({"t": (np.int64(1), "a")}, {"t": (np.int64(1), "a")})
    assert_exact(float("nan"), float("nan"))
    assert_items_equal(sweep(), sweep())
    assert differences(Result("r", 1), Result("r", 1)) == []
