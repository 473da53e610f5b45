"""Issue 19, "What a new user met": the ``aiostore`` command run as a subprocess, as a new user
runs it, on files made in tmp_path."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest
import tables
from holding import held_by_another_process
from test_cli import aiostore, make_sweep

from aiostore import Msg, StorageService, Trajectory
from aiostore.cli import ExitCode
from aiostore.cli.checking import _not_completed
from aiostore.model import RunInfo

# ------------------------------------------------------- a file another process holds open

TABLES_HOLDER = "import tables\nh5 = tables.open_file(sys.argv[1], 'a')"
AIOSTORE_HOLDER = ("import aiostore\n"
                   "svc = aiostore.StorageService(sys.argv[1], trajectory_name='held')\n"
                   "svc.store('LEAF', aiostore.Result('results.held', v=1))")


def test_a_file_held_for_writing_is_refused_in_one_line_without_hdf5_diag(
        tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "f.h5")
    make_sweep(path)
    commands = [("ls", path), ("show", path, "sweep"), ("check", path),
                ("export", path, "sweep.response", "-")]
    with held_by_another_process(TABLES_HOLDER, path):
        done = [aiostore(*args, check=ExitCode.REFUSED) for args in commands]
    for result in done:
        assert "HDF5-DIAG" not in result.stderr
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert result.stderr.startswith(f"aiostore: error: cannot open {path!r}: another process "
                                        "has it open")
        assert result.stdout == ""


def test_a_file_an_aiostore_writer_holds_is_read_through_it(tmp_path: pathlib.Path) -> None:
    """Issue 21: the writer answers the commands' reads; they print what they print once it
    has closed the file (its trajectory 'held' aside)."""
    path = str(tmp_path / "f.h5")
    make_sweep(path)
    commands = [("show", path, "sweep"), ("export", path, "sweep.response", "-"),
                ("ls", path, "sweep")]
    with held_by_another_process(AIOSTORE_HOLDER, path):
        live = [aiostore(*args, check=ExitCode.OK) for args in commands]
        checked = aiostore("check", path, check=None)
    for args, result in zip(commands, live, strict=True):
        assert result.stdout == aiostore(*args, check=ExitCode.OK).stdout
        assert "HDF5-DIAG" not in result.stderr
    assert checked.stdout == aiostore("check", path, check=None).stdout


# ----------------------------------------------------- a reader of stdout that stops early


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A trajectory whose ls (1,500 parameters) and run table (2,000 runs) are longer than a
    pipe holds (64 KiB), so that the command is still writing when its reader goes."""
    path = str(tmp_path_factory.mktemp("wide") / "wide.h5")
    traj = Trajectory("wide")
    for index in range(1500):
        traj.add_parameter(f"p{index:04d}", float(index))
    traj.explore({"p0000": [float(index) for index in range(2000)]})
    with StorageService(path) as svc:
        svc.store(Msg.TRAJECTORY, traj)
    return path


def _reader_leaves(args: tuple[str, ...], lines: int) -> tuple[int, list[str], str]:
    """``aiostore ARGS | head -LINES``: the exit status, the lines read and stderr."""
    with subprocess.Popen([sys.executable, "-m", "aiostore", *args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        read = [process.stdout.readline() for _ in range(lines)]
        process.stdout.close()
        stderr = process.stderr.read()
        return process.wait(timeout=60), read, stderr


def test_a_reader_that_stops_early_is_no_failure(wide: str, tmp_path: pathlib.Path) -> None:
    status, read, stderr = _reader_leaves(("ls", wide), 1)
    assert (status, stderr) == (ExitCode.OK, "")
    assert read == ["wide/  [trajectory, 2000 runs, 0 completed]\n"]
    status, read, stderr = _reader_leaves(("show", wide, "wide"), 2)
    assert (status, stderr) == (ExitCode.OK, "")
    assert read[1].split() == ["index", "name", "completed", "started", "runtime", "parameters"]
    path = str(tmp_path / "f.h5")
    make_sweep(path)
    status, read, stderr = _reader_leaves(("-q", "export", path, "sweep.response", "-"), 0)
    assert (status, stderr) == (ExitCode.OK, "")  # even a reader that reads nothing
    status, read, stderr = _reader_leaves(("--help",), 0)
    assert (status, stderr) == (ExitCode.OK, "")


# -------------------------------------------------------------------------------- merge


def test_merging_a_trajectory_into_itself_is_refused_before_any_backup(
        tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "f.h5")
    make_sweep(path)
    before = sorted(tmp_path.iterdir())
    done = aiostore("merge", path, "sweep", "sweep", check=ExitCode.USAGE)
    assert done.stderr == ("aiostore: error: cannot merge trajectory 'sweep' into itself: "
                           "TRAJ_B must be another trajectory of the file\n")
    assert done.stdout == ""
    assert sorted(tmp_path.iterdir()) == before  # no backup_sweep.hdf5


# ----------------------------------------------------------------------------- plurals


def test_counts_of_one_are_in_the_singular(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "f.h5")
    traj = Trajectory("solo")
    traj.add_parameter("x", 1.0)
    traj.explore({"x": [2.0]})
    with StorageService(path) as svc:
        svc.store(Msg.TRAJECTORY, traj)
        run = traj.run(0)
        run.add_result("z", v=1.0)
        svc.store(Msg.SINGLE_RUN, run)
    listing = aiostore("ls", path).stdout.splitlines()
    assert listing[0] == "solo/  [trajectory, 1 run, 1 completed]"
    assert "    x  [parameter, explored: 1 value]  16 B" in listing
    assert aiostore("show", path, "solo").stdout.splitlines()[0] == "solo: 1 run, 1 completed"
    shown = aiostore("show", path, "solo.parameters.x").stdout.splitlines()
    assert shown[1:] == ["value: 1.0", "explored range (1 run): [2.0]"]
    assert aiostore("check", path).stdout.splitlines() == ["solo: 0 errors, 0 warnings"]
    for output in (listing, shown):
        assert not any("(s)" in line or " 1 runs" in line for line in output)


# -------------------------------------------------------------------------------- check


def test_check_tells_of_the_runs_not_completed_in_one_line(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "f.h5")
    traj = Trajectory("cut")
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(40))})
    with StorageService(path) as svc:
        svc.store(Msg.TRAJECTORY, traj)
        for index in (*range(5), 10, 12, 39):
            run = traj.run(index)
            run.add_result("z", v=index)
            svc.store(Msg.SINGLE_RUN, run)
    lines = aiostore("check", path).stdout.splitlines()
    assert lines == ["cut.runs: warning: 32 runs not completed (run 5-9, 11, 13-38)",
                     "cut: 0 errors, 1 warning"]


def test_runs_not_completed_name_at_most_ten_ranges() -> None:
    every_other = [RunInfo(index) for index in range(0, 50, 2)]
    (problem,) = _not_completed("t", every_other)
    assert str(problem) == ("t.runs: warning: 25 runs not completed (run 0, 2, 4, 6, 8, 10, 12, "
                            "14, 16, 18 and 15 more ranges)")
    (single,) = _not_completed("t", [RunInfo(7)])
    assert str(single) == "t.runs.run_00000007: warning: run not completed"
    assert list(_not_completed("t", [])) == []


# ------------------------------------------------------------ a file without aiostore data


@pytest.mark.parametrize("command", ["ls", "check", "backup"])
def test_an_hdf5_file_without_trajectories_is_said_to_be_so(tmp_path: pathlib.Path,
                                                             command: str) -> None:
    path = tmp_path / "plain.h5"
    with tables.open_file(path, "w") as h5:
        h5.create_array("/", "x", obj=[1, 2, 3])
    done = aiostore(command, str(path), check=ExitCode.NOT_HDF5)
    assert done.stderr == f"aiostore: error: no aiostore trajectories in {path}\n"
    assert done.stdout == ""
    assert sorted(tmp_path.iterdir()) == [path]
    assert "4 not an HDF5 file (or not aiostore data, or no aiostore trajectory in it)" in (
        aiostore(command, "--help").stdout.replace("\n", " "))


# ---------------------------------------------------------------------------------- show


def test_show_takes_a_result_of_every_run_as_export_does(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "f.h5")
    make_sweep(path)
    lines = aiostore("show", path, "sweep.response").stdout.splitlines()
    assert lines[0] == "sweep.results.runs.*.response  [3 runs; 1 run without it]"
    assert lines[1].split() == ["run", "x", "y", "amp", "trace", "stats.mean", "stats.n", "code"]
    assert lines[3].split() == ["1", "2.0", "20", "40.0", "[1.", "2.", "3.", "4.", "5.]", "1.0",
                                "1", "b'ok'"]
    assert len(lines) == 5
    written_out = aiostore("show", path, "sweep.results.runs.*.response").stdout.splitlines()
    assert written_out == lines


def test_show_of_a_result_of_many_runs_gives_the_first_and_last(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "f.h5")
    traj = Trajectory("many")
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(30))})
    with StorageService(path) as svc:
        svc.store(Msg.TRAJECTORY, traj)
        for index in range(30):
            run = traj.run(index)
            run.add_result("z", v=index * 10)
            svc.store(Msg.SINGLE_RUN, run)
    lines = aiostore("show", path, "many.z").stdout.splitlines()
    assert lines[0] == "many.results.runs.*.z  [30 runs]"
    assert [line.split() for line in lines[2:4]] == [["0", "0", "0"], ["1", "1", "10"]]
    assert lines[-2].split() == ["29", "29", "290"]
    assert lines[-1] == "(30 rows: aiostore export writes every one)"
    assert len(lines) == 1 + 1 + 20 + 1 + 1  # header, columns, 20 rows, '...', the note


# -------------------------------------------------------------------------------- backup


def test_a_backup_into_the_file_itself_or_over_a_trajectory_is_refused_in_plain_words(
        tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f.h5"
    make_sweep(str(path))
    (tmp_path / "link.h5").symlink_to(path)
    for dest in (str(path), str(tmp_path / "." / "f.h5"), str(tmp_path / "link.h5")):
        done = aiostore("backup", str(path), dest, check=ExitCode.USAGE)
        assert done.stderr == (f"aiostore: error: cannot back up {path} into itself: DEST must "
                               "be another file\n")
    merged = aiostore("merge", str(path), "sweep", "other", "--backup-file", str(path),
                      check=ExitCode.USAGE)
    assert "--backup-file must be another file" in merged.stderr
    copy = tmp_path / "copy.h5"
    aiostore("backup", str(path), str(copy))
    again = aiostore("backup", str(path), str(copy), check=ExitCode.REFUSED)
    assert again.stderr == (f"aiostore: error: {copy} already holds a trajectory 'sweep', which "
                            "a backup does not overwrite: name another DEST\n")


# ------------------------------------------------------------------ a trajectory not there


def test_a_missing_trajectory_is_named_with_those_the_file_holds(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "f.h5")
    make_sweep(path, "a")
    make_sweep(path, "b")
    commands = [("ls", path, "nosuch"), ("ls", path, "nosuch.parameters"),
                ("show", path, "nosuch"), ("show", path, "nosuch.z"),
                ("export", path, "nosuch.z", "-"), ("backup", path, "-t", "nosuch"),
                ("merge", path, "a", "nosuch"), ("merge", path, "nosuch", "b")]
    for args in commands:
        done = aiostore(*args, check=ExitCode.NOT_FOUND)
        assert done.stderr == f"aiostore: error: no trajectory 'nosuch' in {path}; it holds: a, b\n"
    assert sorted(tmp_path.iterdir()) == [tmp_path / "f.h5"]  # merge made no backup


# ------------------------------------------------------------- a name that finds nothing


def test_a_name_that_finds_nothing_is_told_of_with_the_names_meant(
        tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "f.h5")
    make_sweep(path)
    cases = {("show", "sweep.x"): ("no completed run of trajectory 'sweep' holds "
                                   "results.runs.*.x", "; did you mean sweep.parameters.x?"),
             ("ls", "sweep.x"): ("no item 'x' in trajectory 'sweep'",
                                 "; did you mean sweep.parameters.x?"),
             ("show", "sweep.results.response"): ("no item 'results.response' in trajectory "
                                                  "'sweep'", "; did you mean sweep.response?"),
             ("show", "sweep.summary"): ("no completed run of trajectory 'sweep' holds "
                                         "results.runs.*.summary",
                                         "; did you mean sweep.results.summary?")}
    for (command, name), (start, end) in cases.items():
        done = aiostore(command, path, name, check=ExitCode.NOT_FOUND)
        assert done.stderr.startswith(f"aiostore: error: {start}")
        assert done.stderr.endswith(f"{end}\n")
        assert done.stderr.count("\n") == 1
    nothing = aiostore("show", path, "sweep.nothing", check=ExitCode.NOT_FOUND)
    assert "did you mean" not in nothing.stderr
    exported = aiostore("export", path, "sweep.label", "-", check=ExitCode.NOT_FOUND)
    assert exported.stderr.endswith("; did you mean sweep.parameters.label?\n")


# ---------------------------------------------------------------------------------- help


@pytest.mark.parametrize("command", ["", "ls", "show", "export", "check", "backup", "merge"])
def test_each_help_fits_80_columns_with_an_exit_status_a_line(command: str) -> None:
    done = subprocess.run([sys.executable, "-m", "aiostore", *command.split(), "--help"],
                          capture_output=True, text=True, timeout=60, check=True,
                          env={**os.environ, "COLUMNS": "80"})
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, done.stdout
    status = lines.index("  Exit status:")
    assert lines[status + 1:status + 4] == ["    0 success", "    1 check found problems",
                                            "    2 bad usage"]
    assert lines[-1] == "      no file locks)"
