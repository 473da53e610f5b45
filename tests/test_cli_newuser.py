"""Issue 19, "What a new user met": the ``aiostore`` command run as a subprocess, as a new user
runs it, on files made in tmp_path."""

from __future__ import annotations

import pathlib

import pytest
from holding import held_by_another_process
from test_cli import aiostore, make_sweep

from aiostore.cli import ExitCode

# ------------------------------------------------------- a file another process holds open

TABLES_HOLDER = "import tables\nh5 = tables.open_file(sys.argv[1], 'a')"
AIOSTORE_HOLDER = ("import aiostore\n"
                   "svc = aiostore.StorageService(sys.argv[1], trajectory_name='held')\n"
                   "svc.store('LEAF', aiostore.Result('results.held', v=1))")


@pytest.mark.parametrize("holder", [TABLES_HOLDER, AIOSTORE_HOLDER], ids=["tables", "aiostore"])
def test_a_file_held_for_writing_is_refused_in_one_line_without_hdf5_diag(
        tmp_path: pathlib.Path, holder: str) -> None:
    path = str(tmp_path / "f.h5")
    make_sweep(path)
    commands = [("ls", path), ("show", path, "sweep"), ("check", path),
                ("export", path, "sweep.response", "-")]
    with held_by_another_process(holder, path):
        done = [aiostore(*args, check=ExitCode.REFUSED) for args in commands]
    for result in done:
        assert "HDF5-DIAG" not in result.stderr
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert result.stderr.startswith(f"aiostore: error: cannot open {path!r}: another process "
                                        "has it open")
        assert result.stdout == ""
