"""The ``aiostore`` command, run as a subprocess on files aiostore made in tmp_path."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pathlib
import pty
import struct
import subprocess
import sys
import termios
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tables

from aiostore import Msg, NodeInfo, StorageService, Trajectory
from aiostore.cli import ExitCode
from aiostore.cli.checking import check_trajectory

XS = [1.0, 2.0, 3.0, 4.0]
YS = [10, 20, 30, 40]
INCOMPLETE = 3  # the run that is never stored


def aiostore(*args: str, check: int | None = 0) -> subprocess.CompletedProcess[str]:
    """``python -m aiostore ARGS``; asserts the exit status ``check`` (unless None)."""
    done = subprocess.run([sys.executable, "-m", "aiostore", *args], capture_output=True,
                          text=True, timeout=60, check=False)
    if check is not None:
        assert done.returncode == check, (done.stdout, done.stderr)
    return done


def make_sweep(path: str, name: str = "sweep", packed: bool = False,
               skip: tuple[int, ...] = (INCOMPLETE,)) -> None:
    traj = Trajectory(name)
    traj.add_parameter("x", XS[0])
    traj.add_parameter("y", YS[0])
    traj.add_parameter("label", "fixed")
    traj.explore({"x": XS, "y": YS})
    traj.add_result("summary", note="all runs", weights=np.linspace(0.0, 1.0, 50))
    with StorageService(path, packed_runs=packed) as svc:
        svc.store(Msg.TRAJECTORY, traj)
        for index in range(len(traj)):
            if index in skip:
                continue
            run = traj.run(index)
            run.add_result("response", amp=run["x"] * run["y"], trace=np.arange(5.0) + index,
                           stats={"mean": float(index), "n": index}, code=b"ok")
            svc.store(Msg.SINGLE_RUN, run)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("cli")
    made = {"nodes": str(folder / "nodes.h5"), "packed": str(folder / "packed.h5")}
    make_sweep(made["nodes"])
    make_sweep(made["packed"], packed=True)
    return made


LAYOUTS = pytest.mark.parametrize("layout", ["nodes", "packed"])


# ---------------------------------------------------------------------------------------- ls


@LAYOUTS
def test_ls_shows_the_tree_with_types_shapes_and_sizes(files: dict[str, str], layout: str) -> None:
    out = aiostore("ls", files[layout], "--bytes").stdout
    lines = out.splitlines()
    assert lines[0] == "sweep/  [trajectory, 4 runs, 3 completed]"
    assert "    x  [parameter, explored: 4 values]  40 B" in lines
    assert any(line.split() == ["-", "explored_data", "list[float]", "(4,)", "<f8", "32", "B"]
               for line in lines)
    assert any(line.split() == ["-", "weights", "ndarray", "(50,)", "<f8", "400", "B"]
               for line in lines)
    packed = ", packed" if layout == "packed" else ""
    assert f"        response  [result{packed}]  66 B" in lines
    assert "      run_00000002/" in lines
    assert "      run_00000003/" not in lines
    assert any(line.split()[:4] == ["-", "stats", "dict", "(2,)"] for line in lines)


@LAYOUTS
def test_ls_narrows_to_a_path(files: dict[str, str], layout: str) -> None:
    out = aiostore("ls", files[layout], "sweep.results.runs.run_00000001").stdout
    assert out.splitlines()[:2] == ["run_00000001/", "  response  [result" +
                                    (", packed" if layout == "packed" else "") + "]  66 B"]
    shallow = aiostore("ls", files[layout], "sweep", "--depth", "1").stdout.splitlines()
    assert shallow[1:] == ["  config/", "  derived_parameters/", "  parameters/", "  results/"]


def test_unknown_paths_missing_and_foreign_files_exit_with_their_codes(
        files: dict[str, str], tmp_path: pathlib.Path) -> None:
    missing = aiostore("ls", str(tmp_path / "nothing.h5"), check=ExitCode.NO_FILE)
    assert missing.stderr.strip() == f"aiostore: error: no such file: {tmp_path / 'nothing.h5'}"
    assert not (tmp_path / "nothing.h5").exists()
    unknown = aiostore("show", files["nodes"], "sweep.results.nothing", check=ExitCode.NOT_FOUND)
    assert "no item 'results.nothing'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    aiostore("ls", files["nodes"], "other", check=ExitCode.NOT_FOUND)
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5 at all\n")
    foreign = aiostore("ls", str(text), check=ExitCode.NOT_HDF5)
    assert foreign.stderr.count("\n") == 1
    assert "not an HDF5 file" in foreign.stderr
    usage = aiostore("show", files["nodes"], check=ExitCode.USAGE)
    assert "Missing argument 'PATH'" in usage.stderr


# -------------------------------------------------------------------------------------- show


@LAYOUTS
def test_show_gives_a_leafs_values(files: dict[str, str], layout: str) -> None:
    out = aiostore("show", files[layout], "sweep.results.runs.run_00000002.response").stdout
    lines = out.splitlines()
    assert "amp: 90.0" in lines
    assert "trace: [2. 3. 4. 5. 6.]" in lines
    assert "stats: {'mean': 2.0, 'n': 2}" in lines
    assert "code: b'ok'" in lines


def test_show_abbreviates_arrays_and_gives_a_parameters_range(files: dict[str, str]) -> None:
    summary = aiostore("show", files["nodes"], "sweep.results.summary").stdout
    assert "note: 'all runs'" in summary
    assert "..." in summary
    assert "(float64, shape (50,))" in summary
    x = aiostore("show", files["nodes"], "sweep.parameters.x").stdout.splitlines()
    assert x[1:] == ["value: 1.0", "explored range (4 runs): [1.0, 2.0, 3.0, 4.0]"]


def test_show_of_a_trajectory_is_its_run_table(files: dict[str, str]) -> None:
    lines = aiostore("show", files["nodes"], "sweep.runs").stdout.splitlines()
    assert lines[0] == "sweep: 4 runs, 3 completed"
    assert lines[1].split() == ["index", "name", "completed", "started", "runtime", "parameters"]
    assert lines[3].split()[:3] == ["1", "run_00000001", "yes"]
    assert lines[3].endswith("x: 2.0, y: 20")
    assert lines[5].split()[:5] == ["3", "run_00000003", "no", "-", "-"]
    assert aiostore("show", files["nodes"], "sweep").stdout.splitlines() == lines


# ------------------------------------------------------------------------------------ export


@LAYOUTS
def test_export_csv_has_a_row_per_run(files: dict[str, str], layout: str,
                                      tmp_path: pathlib.Path) -> None:
    out = tmp_path / "response.csv"
    done = aiostore("export", files[layout], "sweep.response", str(out))
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["run", "x", "y", "amp", "stats.mean", "stats.n", "code"]
    assert frame["run"].tolist() == [0, 1, 2]
    assert frame["amp"].tolist() == [x * y for x, y in zip(XS[:3], YS[:3], strict=True)]
    assert frame["stats.n"].tolist() == [0, 1, 2]
    assert "left out values that are not scalars: trace" in done.stderr
    assert "1 run without the result left out" in done.stderr


def test_export_parquet_and_npz_read_back_equal(files: dict[str, str],
                                                tmp_path: pathlib.Path) -> None:
    aiostore("export", files["packed"], "sweep.results.runs.*.response", str(tmp_path / "r.pq"),
             "--to", "parquet")
    frame = pd.read_parquet(tmp_path / "r.pq")
    assert frame["x"].tolist() == XS[:3]
    assert frame["amp"].tolist() == [10.0, 40.0, 90.0]
    aiostore("-q", "export", files["nodes"], "sweep.response", str(tmp_path / "r.npz"),
             "--arrays")
    with np.load(tmp_path / "r.npz") as npz:
        assert np.array_equal(npz["y"], YS[:3])
        assert np.array_equal(npz["amp"], [10.0, 40.0, 90.0])
        assert np.array_equal(npz["trace"], np.arange(5.0) + np.arange(3)[:, None])


def test_export_without_pyarrow_says_what_to_install(files: dict[str, str],
                                                     tmp_path: pathlib.Path) -> None:
    script = ("import sys; sys.modules['pyarrow'] = None; sys.argv[0] = 'aiostore'; "
              "from aiostore.cli import main; main()")
    done = subprocess.run([sys.executable, "-c", script, "export", files["nodes"],
                           "sweep.response", str(tmp_path / "r.parquet")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == ExitCode.MISSING_DEPENDENCY
    assert "pip install aiostore[parquet]" in done.stderr
    assert not (tmp_path / "r.parquet").exists()


def test_export_of_an_unknown_result_or_bad_syntax(files: dict[str, str]) -> None:
    aiostore("export", files["nodes"], "sweep.nothing", "-", check=ExitCode.NOT_FOUND)
    aiostore("export", files["nodes"], "sweep.results.*.z", "-", check=ExitCode.USAGE)


# ------------------------------------------------------------------------------------- check


@LAYOUTS
def test_check_of_a_sound_file_warns_of_the_incomplete_run(files: dict[str, str],
                                                           layout: str) -> None:
    lines = aiostore("check", files[layout]).stdout.splitlines()
    assert lines == ["sweep.runs.run_00000003: warning: run not completed",
                     "sweep: 0 errors, 1 warning"]


def test_check_finds_garbage_data_and_missing_results(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "damaged.h5")
    make_sweep(path)
    with tables.open_file(path, "a") as h5:
        run1 = "/sweep/results/runs/run_set_00000/run_00000001/response"
        h5.remove_node(run1, "amp")
        h5.create_array(run1, "amp", obj=np.array([b"garbage", b"more"]))
        h5.remove_node("/sweep/results/runs/run_set_00000/run_00000002", recursive=True)
    done = aiostore("check", path, check=ExitCode.PROBLEMS)
    lines = done.stdout.splitlines()
    assert lines[0].startswith("sweep.results.runs.run_00000001.response: error: cannot read "
                               "/sweep/results/runs/run_set_00000/run_00000001/response/amp")
    assert lines[1] == ("sweep.runs.run_00000002: error: completed in the run table, but "
                        "missing results.response (every other completed run has them)")
    assert lines[-1] == "sweep: 2 errors, 1 warning"


def test_check_of_a_non_hdf5_file_fails(tmp_path: pathlib.Path) -> None:
    text = tmp_path / "plain.h5"
    text.write_bytes(b"\x89HDF-but-not-really" * 10)
    done = aiostore("check", str(text), check=ExitCode.NOT_HDF5)
    assert done.stderr.startswith("aiostore: error:")


# ---------------------------------------------------------------------------- backup, merge


def load_values(path: str, name: str) -> tuple[Trajectory, dict[int, float]]:
    with StorageService(path) as svc:
        traj = svc.load(Msg.TRAJECTORY, None, trajectory_name=name, load_parameters=2,
                        load_results=2)
    amps = {run.idx: traj[f"results.runs.{run.name}.response"]["amp"]
            for run in traj.runs if f"results.runs.{run.name}.response" in traj}
    return traj, amps


def test_backup_makes_a_loadable_copy(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "f.h5")
    make_sweep(path)
    script = pathlib.Path(sys.executable).with_name("aiostore")  # the installed console script
    done = subprocess.run([str(script), "backup", path, str(tmp_path / "copy.h5")],
                          capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == f"sweep -> {tmp_path / 'copy.h5'}"
    assert load_values(str(tmp_path / "copy.h5"), "sweep")[1] == load_values(path, "sweep")[1]
    default = aiostore("backup", path).stdout.strip()
    assert default == f"sweep -> {tmp_path / 'backup_sweep.hdf5'}"
    assert os.path.exists(tmp_path / "backup_sweep.hdf5")


def test_merge_appends_the_other_trajectorys_runs(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "f.h5")
    make_sweep(path, "a", skip=())
    make_sweep(path, "b", skip=(0,))
    _, amps_a = load_values(path, "a")
    done = aiostore("merge", path, "a", "b", "--delete-other")
    assert done.stdout.splitlines() == [f"a -> {tmp_path / 'backup_a.hdf5'}",
                                        "merged b into a: 4 + 4 runs = 8", "deleted b"]
    merged, amps = load_values(path, "a")
    assert len(merged) == 8
    assert merged["parameters.x"].range == XS + XS
    assert amps == {**amps_a, **{4 + i: XS[i] * YS[i] for i in (1, 2, 3)}}
    assert [run.completed for run in merged.runs] == [True] * 4 + [False, True, True, True]
    assert load_values(str(tmp_path / "backup_a.hdf5"), "a")[1] == amps_a
    with StorageService(path) as svc:
        assert svc.list_trajectories() == ["a"]
    refused = aiostore("merge", path, "a", "b", "--no-backup", check=ExitCode.NOT_FOUND)
    assert "no trajectory 'b'" in refused.stderr


def test_merge_refuses_trajectories_that_differ(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "f.h5")
    make_sweep(path, "a")
    other = Trajectory("b")
    other.add_parameter("z", 1)
    other.explore({"z": [1, 2]})
    with StorageService(path) as svc:
        svc.store(Msg.TRAJECTORY, other)
    done = aiostore("merge", path, "a", "b", "--no-backup", check=ExitCode.REFUSED)
    assert "explore different parameters" in done.stderr
    assert len(load_values(path, "a")[0]) == 4


def test_help_lists_the_exit_codes() -> None:
    out = aiostore("--help").stdout
    for command in ("ls", "show", "export", "check", "backup", "merge"):
        assert command in out
    assert "3 no such file" in out
    assert "TRAJ.results.runs.*.NAME" in aiostore("export", "--help").stdout


def test_check_looks_up_what_a_damaged_listing_hides(tmp_path: pathlib.Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A torn group index lists fewer children, with no error (DESIGN.md): check finds them by
    name. The listing is made to hide a run's result here, in process."""
    path = str(tmp_path / "f.h5")
    make_sweep(path)
    listing = StorageService.describe

    def torn(self: StorageService, trajectory_name: str | None = None, path: str | None = None,
             **kwargs: Any) -> list[NodeInfo]:
        found = listing(self, trajectory_name, path, **kwargs)
        if path is None:
            return [info for info in found if "run_00000001" not in info.path]
        return found

    monkeypatch.setattr(StorageService, "describe", torn)
    with StorageService(path) as svc:
        problems = [str(problem) for problem in check_trajectory(svc, "sweep")]
    assert problems == [
        "sweep.runs.run_00000001: error: its group's listing hides "
        "results.runs.run_00000001.response (a damaged group index: copy what reads into a "
        "new file)",
        "sweep.runs.run_00000003: warning: run not completed"]


def _stderr_on_a_terminal(*args: str) -> str:
    """What ``aiostore ARGS`` writes to a stderr that is a 100-column terminal."""
    main, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    with subprocess.Popen([sys.executable, "-m", "aiostore", *args], stdout=subprocess.DEVNULL,
                          stderr=terminal):
        os.close(terminal)
        written = b""
        with contextlib.suppress(OSError):  # EIO once the process is gone
            while chunk := os.read(main, 4096):
                written += chunk
    os.close(main)
    return written.decode("utf-8", "replace")


def test_progress_bars_go_to_a_terminal_unless_quiet(files: dict[str, str]) -> None:
    assert "check sweep:   0%|" in _stderr_on_a_terminal("check", files["nodes"])
    assert "check sweep" not in _stderr_on_a_terminal("-q", "check", files["nodes"])
