"""aiostore's pypet shim as a drop-in storage service for pypet 0.7's own Environment and Trajectory.

Everything here is pypet user code; the only aiostore line is ``storage_service=Shim``. Where
pypet's own ``HDF5StorageService`` mangles a value, the test shows it beside the shim's exact
round trip, so the test documents the defect.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pypet = pytest.importorskip(
    "pypet", reason="pypet 0.7 is not installed: these tests drive pypet's own Environment and "
                    "Trajectory (pip install --no-deps --ignore-requires-python pypet==0.7.0)")

import tables  # noqa: E402
from pypetting import close_shim_services, quiet_pypet_and_closed_services  # noqa: E402, F401

from aiostore import errors  # noqa: E402
from aiostore.compat.pypet import HDF5StorageService as Shim  # noqa: E402
from aiostore.compat.pypet import pypetconstants  # noqa: E402
from aiostore.testing import assert_exact, differences  # noqa: E402

Environment, Trajectory = pypet.Environment, pypet.Trajectory
SERVICES = {"pypet": pypet.HDF5StorageService, "aiostore": Shim}
# pypet's own service stores frames with pandas' HDFStore.put, which warns about track_times
pytestmark = [pytest.mark.filterwarnings("ignore:The default value of 'track_times'"),
              pytest.mark.usefixtures("quiet_pypet_and_closed_services")]


@pytest.fixture
def path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # whatever pypet writes beside the file stays in tmp_path
    return str(tmp_path / "out.hdf5")


# ------------------------------------------------------------------------------------ helpers


def stored(path: str, service: Any, build: Callable[[Any], Any], name: str = "t") -> Any:
    """A new trajectory of pypet's, built by ``build(traj)`` and stored with ``f_store``."""
    traj = Trajectory(name=name, filename=path, storage_service=service)
    build(traj)
    traj.f_store()
    return traj


def reloaded(path: str, service: Any, name: str = "t", **levels: int) -> Any:
    """A NEW pypet Trajectory loaded from ``path`` (everything, unless ``levels`` say)."""
    traj = Trajectory(filename=path, storage_service=service)
    traj.f_load(name=name, **(levels or {"load_data": pypetconstants.LOAD_DATA}))
    return traj


def closed_bytes(path: str, service: Any) -> bytes:
    """The file's bytes once ``service`` has closed it (pypet's CLOSE_FILE message)."""
    service.store(pypetconstants.CLOSE_FILE, None)
    with open(path, "rb") as file:
        return file.read()


def is_empty_branch(node: Any) -> bool:
    """An empty top group (derived_parameters, results) with nothing of its own: pypet's own
    service leaves it out of a reload, the shim does not (test_a_reload_has_pypets_branches)."""
    return (node.v_depth == 1 and not node.v_is_leaf and not node._children
            and not node._links and not node.v_comment and node.v_annotations.f_is_empty())


def view(traj: Any) -> dict[str, tuple[Any, ...]]:
    """What pypet's Trajectory shows of every node: class, comment, annotations, data (a
    leaf's, or ``<empty>``) or links (a group's); ``config.hdf5`` (each service's own) left
    out. Annotations by value: pypet's own service gives them back as numpy scalars (see
    test_annotations_come_back_exactly)."""
    def notes(node: Any) -> str:
        return repr(sorted((name, value.item() if isinstance(value, np.generic) else value)
                           for name, value in node.v_annotations.f_to_dict().items()))

    def links(group: Any) -> str:
        return repr(sorted((name, target.v_full_name) for name, target in group._links.items()))

    seen: dict[str, tuple[Any, ...]] = {"": ("root", traj.v_comment, notes(traj), links(traj),
                                             len(traj))}
    for node in traj.f_iter_nodes(recursive=True, with_links=False):
        if node.v_full_name.startswith("config.hdf5") or is_empty_branch(node):
            continue
        if not node.v_is_leaf:
            data = links(node)
        elif node.f_is_empty():
            data = "<empty>"
        else:
            data = repr(node.f_get() if node.v_is_parameter else node.f_to_dict())
        seen[node.v_full_name] = (type(node).__name__, node.v_comment, notes(node), data)
    return seen


# ------------------------------------------------------------------- 1. exact round trips

SAME = object()  # pypet's own service keeps the value too

# (kind, data key, value, what pypet's own service gives back, or the exception its store raises)
ROUND_TRIPS = {
    "bytes with a trailing NUL": ("result", "v", b"ab\x00", b"ab"),
    "bytes with a trailing NUL, parameter": ("parameter", "v", b"ab\x00", b"ab"),
    "np.bool_": ("result", "v", np.bool_(True), True),
    "np.bool_ parameter": ("parameter", "v", np.bool_(False), False),
    "np.bool_ in a dict": ("result", "v", {"flag": np.bool_(True)}, {"flag": True}),
    # pypet's own service also sorts a dict's keys
    "numpy scalars in a dict": ("result", "v", {"i": np.int32(4), "f": np.float32(1.5)},
                                {"f": 1.5, "i": 4}),
    "non-ASCII str parameter": ("parameter", "v", "Grüße", UnicodeEncodeError),
    "non-ASCII str result": ("result", "v", "Grüße", SAME),
    "np.str_ result": ("result", "v", np.str_("abc"), TypeError),
    "np.str_ parameter": ("parameter", "v", np.str_("abc"), TypeError),
    "int above int32, parameter": ("parameter", "v", 2**40, OverflowError),
    "int above int32 in a dict": ("result", "v", {"big": 2**40, "small": 1}, OverflowError),
    "int above int32, result": ("result", "v", 2**40, SAME),
    "tuple of np.int64": ("result", "v", (np.int64(1), np.int64(2**40)), SAME),
    "tuple of np.int64, parameter": ("parameter", "v", (np.int64(1), np.int64(2)), SAME),
    "empty tuple": ("result", "v", (), SAME),
    "empty dict": ("result", "v", {}, SAME),
    "DataFrame": ("result", "v", pd.DataFrame({"a": np.arange(3, dtype=np.int32),
                                               "b": ["x", "yy", "Grüße"]}, index=[7, 8, 9]),
                  SAME),
    "nested data key": ("result", "nested0.nested1", 44, SAME),
    "PickleResult": ("PickleResult", "v", {"s": {1, 2}, "o": [1, "a"]}, SAME),
    "PickleParameter": ("PickleParameter", "v", {"s": frozenset({3})}, SAME),
}


def add_item(traj: Any, kind: str, key: str, value: Any) -> None:
    cls = {"parameter": pypet.Parameter, "result": pypet.Result}.get(kind) or getattr(pypet, kind)
    if kind.lower().endswith("parameter"):
        traj.f_add_parameter(cls, "p", value)
    else:
        traj.f_add_result(cls, "r", **{key: value})


def round_trip(path: str, service: Any, kind: str, key: str, value: Any) -> Any:
    """``value`` stored in a parameter or result by pypet's Trajectory, loaded by a new one."""
    stored(path, service, lambda traj: add_item(traj, kind, key, value))
    traj = reloaded(path, service)
    if kind.lower().endswith("parameter"):
        return traj.f_get("parameters.p").f_get()
    return traj.f_get("results.r").f_to_dict()[key]


@pytest.mark.parametrize("case", ROUND_TRIPS)
def test_pypets_trajectory_gets_back_exactly_what_it_stored(case: str, tmp_path: Path) -> None:
    kind, key, value, on_pypet = ROUND_TRIPS[case]
    assert_exact(round_trip(str(tmp_path / "shim.hdf5"), Shim, kind, key, value), value)
    pypets = str(tmp_path / "pypet.hdf5")
    if isinstance(on_pypet, type) and issubclass(on_pypet, Exception):
        with pytest.raises(on_pypet):
            round_trip(pypets, pypet.HDF5StorageService, kind, key, value)
        return
    got = round_trip(pypets, pypet.HDF5StorageService, kind, key, value)
    if on_pypet is SAME:
        assert_exact(got, value)
    else:  # the defect: pypet's own service gives back something else, which the shim does not
        assert_exact(got, on_pypet)
        assert differences(got, value)


# ------------------------------------------------------------------- 2. Environment sweeps


def multiply(traj: Any) -> int:
    """A run: its result, and the value pypet's Environment returns for it."""
    z = traj.x * traj.y
    traj.f_add_result("z", z, trace=np.arange(3.0) * traj.x, comment="the product")
    return int(z)


def check_sweep(path: str, xs: list[int], ys: list[int]) -> None:
    """A new Trajectory loads every run: results, run information, explored ranges."""
    traj = reloaded(path, Shim)
    assert len(traj) == len(xs)
    assert sorted(traj.f_get_explored_parameters()) == ["parameters.x", "parameters.y"]
    assert list(traj.f_get("parameters.x").f_get_range()) == xs
    assert list(traj.f_get("parameters.y").f_get_range()) == ys
    for idx, (x, y) in enumerate(zip(xs, ys, strict=True)):
        info = traj.f_get_run_information(idx)
        assert (info["idx"], info["name"], info["completed"]) == (idx, f"run_{idx:08d}", 1)
        result = traj.f_get(f"results.runs.run_{idx:08d}.z")
        assert_exact(result.f_to_dict(), {"z": x * y, "trace": np.arange(3.0) * x})
        assert result.v_comment == "the product"


@pytest.mark.parametrize(("multiproc", "wrap_mode"),
                         [(False, "LOCK"), (True, "LOCK"), (True, "QUEUE")])
def test_an_environment_sweep_stores_every_run_and_f_expand_continues_it(
        path: str, multiproc: bool, wrap_mode: str) -> None:
    env = Environment(trajectory="t", filename=path, storage_service=Shim, log_config=None,
                      report_progress=False, multiproc=multiproc, ncores=2,
                      wrap_mode=wrap_mode)
    traj = env.trajectory
    traj.f_add_parameter("x", 1, comment="first factor")
    traj.f_add_parameter("y", 10)
    traj.f_explore(pypet.cartesian_product({"x": [1, 2], "y": [10, 20]}))
    assert sorted(env.run(multiply)) == [(0, 10), (1, 20), (2, 20), (3, 40)]
    check_sweep(path, [1, 1, 2, 2], [10, 20, 10, 20])

    traj.f_expand({"x": [3, 4], "y": [30, 40]})
    assert sorted(env.run(multiply)) == [(4, 90), (5, 160)]
    env.disable_logging()
    check_sweep(path, [1, 1, 2, 2, 3, 4], [10, 20, 10, 20, 30, 40])


# ------------------------------------------------------------------------- 3. atomicity


def with_stored_trajectory(path: str) -> Any:
    def build(traj: Any) -> None:
        traj.f_add_parameter("x", 1)
        traj.f_add_result("kept", 1, comment="stored before")
    return stored(path, Shim, build)


def store_a_set(path: str, traj: Any) -> None:
    traj.f_add_result("fine", 2)  # stored with the refused one, or not at all
    traj.f_add_result("refused", d={"s": {1, 2}})
    traj.f_store()


def store_an_object(path: str, traj: Any) -> None:
    traj.f_add_result("refused", [object()])
    traj.f_store_item("refused")


def delete_what_is_not_in_the_file(path: str, traj: Any) -> None:
    traj.f_add_result("never_stored", 3)
    traj.f_delete_item("never_stored")


def store_a_new_trajectory_of_the_same_name(path: str, traj: Any) -> None:
    Trajectory(name="t", filename=path, storage_service=Shim).f_store()


REFUSED_CALLS = {store_a_set: errors.UnsupportedTypeError,
                 store_an_object: errors.UnsupportedTypeError,
                 delete_what_is_not_in_the_file: errors.DataNotFoundError,
                 store_a_new_trajectory_of_the_same_name: errors.ItemExistsError}


@pytest.mark.parametrize("call", REFUSED_CALLS, ids=lambda call: call.__name__)
def test_a_refused_store_or_delete_leaves_the_file_byte_for_byte_unchanged(
        path: str, call: Callable[[str, Any], None]) -> None:
    traj = with_stored_trajectory(path)
    before = closed_bytes(path, traj.v_storage_service)
    with pytest.raises(REFUSED_CALLS[call]):
        call(path, traj)
    assert closed_bytes(path, traj.v_storage_service) == before
    assert "kept" in reloaded(path, Shim).results


def test_a_refused_call_returns_once_its_file_is_closed(path: str) -> None:
    # under durability "close" (pypet's LOCK mode: the next process opens the file at once)
    traj = with_stored_trajectory(path)
    before = closed_bytes(path, traj.v_storage_service)
    for _ in range(20):  # answered first in 64-95% of calls (measured): 20 make it certain
        with pytest.raises(errors.ItemExistsError):
            Trajectory(name="t", filename=path, storage_service=Shim,
                       durability="close").f_store()
        with open(path, "rb") as file:
            assert file.read() == before, "the file is still open after the call returned"


# ------------------------------------------- 4. what pypet's Trajectory sees, as on pypet's service

Scenario = Callable[[str, Any], list[dict[str, tuple[Any, ...]]]]


def annotated_tree(traj: Any) -> None:
    traj.v_comment = "an annotated trajectory"
    traj.v_annotations.f_set(author="me", runs=np.int64(3))
    traj.f_add_parameter("x", 1.5, comment="a parameter")
    traj.f_get("parameters.x").v_annotations.f_set(unit="m", scale=2.5)
    traj.f_add_parameter_group("group", comment="a parameter group")
    traj.f_add_parameter("group.y", "text")
    traj.f_add_result_group("analysis", comment="a result group")
    traj.f_get("results.analysis").v_annotations.f_set(kind="summary")
    traj.f_add_result("analysis.mean", 2.0, trace=np.arange(4.0), comment="a result")
    traj.f_add_result("other", 7)
    traj.f_get("results.other").v_annotations.f_set(source="hand")
    traj.f_add_link("xlink", traj.f_get("parameters.x"))
    traj.f_get("results.analysis").f_add_link("meanlink", traj.f_get("results.analysis.mean"))


def links_annotations_comments(path: str, service: Any) -> list[dict[str, tuple[Any, ...]]]:
    stored(path, service, annotated_tree)
    traj = reloaded(path, service)
    assert traj.f_get("xlink") is traj.f_get("parameters.x")  # a link is the node itself
    assert traj.v_annotations.f_get("author") == "me"
    return [view(traj)]


def delete_and_remove(path: str, service: Any) -> list[dict[str, tuple[Any, ...]]]:
    traj = stored(path, service, annotated_tree)
    traj.f_delete_link("xlink", remove_from_trajectory=True)
    traj.f_delete_item("results.other")  # from the file, not from the trajectory
    traj.f_delete_item("results.analysis.mean", delete_only=["trace"])
    traj.f_remove_items(["parameters.group.y"])  # from the trajectory, not from the file
    after = reloaded(path, service)
    assert "other" not in after.results
    assert "y" in after.parameters.group
    return [view(traj), view(after)]


def skeleton_then_items(path: str, service: Any) -> list[dict[str, tuple[Any, ...]]]:
    stored(path, service, annotated_tree)
    traj = Trajectory(name="t", filename=path, storage_service=service)
    traj.f_load_skeleton()
    skeleton = view(traj)
    assert traj.f_get("results.other").f_is_empty()
    traj.f_load_items(traj.f_to_dict().keys(), only_empties=True)
    return [skeleton, view(traj)]


def load_levels(path: str, service: Any) -> list[dict[str, tuple[Any, ...]]]:
    traj = stored(path, service, annotated_tree)
    seen = [view(reloaded(path, service, load_parameters=level, load_derived_parameters=level,
                          load_results=level, load_other_data=level)) for level in (1, 2, 3)]
    other = traj.f_get("results.other")
    other.f_empty()
    other.f_set(other=8)  # changed in memory: level 2 keeps it, level 3 loads the file's
    traj.f_load(load_parameters=2, load_results=2)
    seen.append(view(traj))
    traj.f_load(load_parameters=2, load_results=3)
    assert traj.f_get("results.other").f_get() == 7
    return [*seen, view(traj)]


SCENARIOS: list[Scenario] = [links_annotations_comments, delete_and_remove,
                             skeleton_then_items, load_levels]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.__name__)
def test_pypets_trajectory_sees_what_it_sees_on_pypets_own_service(
        tmp_path: Path, scenario: Scenario) -> None:
    on_pypet, on_shim = (scenario(str(tmp_path / f"{name}.hdf5"), service)
                         for name, service in SERVICES.items())
    assert len(on_shim) == len(on_pypet)
    for step, (theirs, ours) in enumerate(zip(on_pypet, on_shim, strict=True)):
        assert ours == theirs, f"step {step}"


def test_annotations_come_back_exactly(tmp_path: Path) -> None:
    notes = {"unit": "m", "scale": 2.5, "count": 3, "flag": True, "shape": (2, 3)}

    def annotations(service: Any) -> dict[str, Any]:
        path = str(tmp_path / f"{service.__module__}.hdf5")
        stored(path, service, lambda traj: (traj.f_add_result("r", 1),
                                            traj.f_get("results.r").v_annotations.f_set(**notes)))
        return dict(reloaded(path, service).f_get("results.r").v_annotations.f_to_dict())

    assert_exact(annotations(Shim), notes)
    on_pypet = annotations(pypet.HDF5StorageService)  # HDF5 attributes: numpy scalars
    assert type(on_pypet["unit"]) is np.str_
    assert type(on_pypet["scale"]) is np.float64
    assert differences(on_pypet, notes)


def test_a_reload_has_pypets_branches(tmp_path: Path) -> None:
    def branches(service: Any) -> list[str]:
        path = str(tmp_path / f"{service.__module__}.hdf5")
        stored(path, service, lambda traj: traj.f_add_parameter("x", 1))
        return sorted(reloaded(path, service)._children)

    assert branches(pypet.HDF5StorageService) == ["config", "parameters"]
    assert branches(Shim) == ["config", "parameters"]


# ------------------------------------------------------- 5. trajectories pypet's service wrote


def write_with_pypet(path: str, annotated: bool) -> None:
    """An Environment run on pypet's own service: a few result types, links (annotations)."""
    def job(traj: Any) -> None:
        traj.f_add_result("z", traj.x * 2, comment="double")
        traj.f_add_result("arrays", np.arange(3.0) * traj.x, d={"a": 1, "b": "two"},
                          t=(1, 2), s="text")
        traj.f_add_result("frame", pd.DataFrame({"c": [1.0, 2.0 * traj.x]}))
        traj.f_add_link("xlink", traj.f_get("parameters.x"))

    env = Environment(trajectory="t", filename=path, log_config=None, report_progress=False,
                      comment="written by pypet's own service")
    traj = env.trajectory
    traj.f_add_parameter("x", 1, comment="explored")
    traj.f_add_parameter_group("fixed", comment="not explored")
    traj.f_add_parameter("fixed.name", "a name")
    if annotated:
        traj.f_get("parameters.x").v_annotations.f_set(unit="m")
        traj.v_annotations.f_set(author="me")
    traj.f_explore({"x": [1, 2]})
    env.run(job)
    env.disable_logging()


@pytest.mark.parametrize("annotated", [False, True], ids=["plain", "annotated"])
def test_a_trajectory_pypets_service_wrote_loads_through_the_shim(
        path: str, annotated: bool) -> None:
    write_with_pypet(path, annotated)
    on_pypet = reloaded(path, pypet.HDF5StorageService)
    on_shim = reloaded(path, Shim)
    assert view(on_shim) == view(on_pypet)
    assert on_shim.f_get("results.runs.run_00000001.frame").frame["c"].tolist() == [1.0, 4.0]


@pytest.mark.parametrize("packed", [True, False], ids=["packed", "nodes"])
def test_a_sweep_aiostores_own_api_stored_loads_into_pypets_trajectory(path: str,
                                                                       packed: bool) -> None:
    from aiostore import Msg, StorageService
    from aiostore import Trajectory as NativeTrajectory

    native = NativeTrajectory("t")
    native.add_parameter("x", 0.5)
    native.add_parameter("n", np.int32(3))
    native.explore({"x": [0.1, 0.2, 0.3]})
    with StorageService(path, packed_runs=packed) as svc:
        svc.store(Msg.TRAJECTORY, native)
        for index in range(3):
            run = native.run(index)
            run.add_result("r", z=index * 1.5, arr=np.arange(3) + index,
                           d={"k": np.int16(index)})
            svc.store(Msg.SINGLE_RUN, run)
    traj = reloaded(path, Shim)  # a plain analysis script of pypet's, on aiostore's file
    assert traj.f_get("x").f_get_range() == [0.1, 0.2, 0.3]
    assert_exact(traj.f_get("n").f_get(), np.int32(3))
    assert len(traj) == 3
    for index in range(3):
        result = traj.f_get(f"results.runs.run_{index:08d}.r")
        assert_exact(result.f_to_dict(), {"z": index * 1.5, "arr": np.arange(3) + index,
                                          "d": {"k": np.int16(index)}})


def test_storing_into_a_trajectory_pypets_service_wrote_is_refused(path: str) -> None:
    write_with_pypet(path, annotated=True)
    traj = reloaded(path, pypet.HDF5StorageService)
    shim = traj.v_storage_service = Shim(filename=path)
    before = closed_bytes(path, shim)
    traj.f_add_result("more", 3)
    stores = [traj.f_store, lambda: traj.f_store_item("more"),
              lambda: traj.f_delete_item("results.runs.run_00000000.z"),
              lambda: Trajectory(name="t", filename=path, storage_service=Shim).f_store()]
    for store in stores:
        with pytest.raises(errors.ReadOnlyTrajectoryError, match="written by pypet"):
            store()
        assert closed_bytes(path, shim) == before


# ---------------------------------------------------- 6. files other tools read


def test_the_file_the_shim_writes_is_read_by_pytables_and_pandas(path: str) -> None:
    frame = pd.DataFrame({"a": np.arange(3, dtype=np.int32), "b": ["x", "yy", "Grüße"]},
                         index=[7, 8, 9])
    stored(path, Shim, lambda traj: (traj.f_add_parameter("x", 2.5),
                                     traj.f_add_result("r", frame=frame, trace=np.arange(4.0))))
    close_shim_services()  # the HDF5 thread done with the file before PyTables opens it here
    with tables.open_file(path, "r") as h5:
        leaves = {node._v_pathname: node.read() for node in h5.walk_nodes("/t", "Leaf")}
        assert_exact(leaves["/t/results/r/trace"], np.arange(4.0))
        assert leaves["/t/parameters/x/data"]["data"].tolist() == [2.5]  # a table's column
        assert "/t/results/r/frame" in h5
        assert "/t/overview/runs" in leaves
    pd.testing.assert_frame_equal(pd.read_hdf(path, "/t/results/r/frame"), frame,
                                  check_exact=True)


# ------------------------------------------ 7. aiostore's own async service on the same file


@pytest.mark.anyio
async def test_aiostores_async_service_shares_the_file(path: str) -> None:
    """A trajectory pypet stored through the shim loads in aiostore's async service (values
    exact, pypet's names as stored), which stores its own trajectory beside it; pypet then
    loads its own again, unharmed."""
    from aiostore import AsyncStorageService, Msg
    from aiostore import Trajectory as NativeTrajectory

    pypets = stored(path, Shim, lambda traj: traj.f_add_result("r", z=np.float32(1.5),
                                                                 d={"b": np.bool_(True)}))
    closed_bytes(path, pypets.v_storage_service)
    native = NativeTrajectory("native")
    native.add_parameter("x", 2)
    async with AsyncStorageService(path) as service:
        loaded = await service.load(Msg.TRAJECTORY, None, trajectory_name="t", load_results=2)
        assert_exact(loaded["results.r"].data["z"], np.float32(1.5))
        assert_exact(loaded["results.r"].data["d"], {"b": np.bool_(True)})
        await service.store(Msg.TRAJECTORY, native)
        assert sorted(await service.list_trajectories()) == ["native", "t"]
    again = reloaded(path, Shim)
    assert_exact(again.f_get("results.r").z, np.float32(1.5))


def test_runs_keep_the_file_open_until_the_sweep_ends(path: str) -> None:
    """With multiproc=False a run's store leaves the file open for the next run (the sweep's
    speed); pypet's store at the end of the sweep closes it, as pypet's own service would."""
    from aiostore._core.worker import current_worker

    seen_open: list[bool] = []

    def job(traj: Any) -> None:
        seen_open.append(path in current_worker()._engine.open_files)
        traj.f_add_result("z", traj.x * 2)

    env = Environment(trajectory="t", filename=path, storage_service=Shim, log_config=None,
                      report_progress=False)
    env.traj.f_add_parameter("x", 1)
    env.traj.f_explore({"x": [1, 2, 3]})
    env.run(job)
    assert seen_open == [False, True, True]
    assert path not in current_worker()._engine.open_files
    assert [run.z for run in (reloaded(path, Shim).f_get(f"results.runs.run_0000000{i}")
                              for i in range(3))] == [2, 4, 6]
