"""Every example runs, at small sizes, and does what it says (so none of them can rot)."""

from __future__ import annotations

import importlib.util
import pathlib
import subprocess
import sys

import pandas as pd
import pytest
import tables

EXAMPLES = pathlib.Path(__file__).parent.parent / "examples"


def run_example(name: str, *args: str) -> str:
    done = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def run_table(path: pathlib.Path, trajectory: str) -> pd.DataFrame:
    """The run table, read with plain PyTables."""
    with tables.open_file(str(path)) as h5:
        return pd.DataFrame(h5.get_node(f"/{trajectory}/overview/runs").read())


@pytest.mark.parametrize(("backend", "layout"), [("asyncio", []), ("trio", ["--packed"])])
def test_the_async_sweep(tmp_path: pathlib.Path, backend: str, layout: list[str]) -> None:
    out, image = tmp_path / "sub" / "sweep.h5", tmp_path / "sweep.png"
    stdout = run_example("async_sweep.py", "--frequencies", "5", "--dampings", "3", "--quiet",
                         "--workers", "2", "--backend", backend, "--out", str(out),
                         "--plot", str(image), *layout)
    stored = int(stdout.split(" runs computed and stored")[0].split()[-1])
    assert stored > 15  # the grid's, and the runs refining its peaks
    assert "15 runs on the grid" in stdout
    assert "every run completed: True" in stdout
    error = float(stdout.split("against the exact one: ")[1].split()[0])
    assert error < 1e-2  # the model is right, and so is what came back from the file
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    runs = run_table(out, "resonance")
    assert len(runs) == stored
    assert runs["completed"].all()
    again = run_example("async_sweep.py", "--frequencies", "5", "--dampings", "3", "--quiet",
                        "--out", str(out), "--resume", "--backend", backend, *layout)
    assert "0 runs computed and stored" in again
    assert f"{stored} were already in" in again


def test_the_dask_sweep(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "dask.h5"
    stdout = run_example("dask_sweep.py", "--frequencies", "4", "--dampings", "3", "--quiet",
                         "--workers", "2", "--runs-per-task", "5", "--out", str(out))
    stored = int(stdout.split(" runs computed and stored")[0].split()[-1])
    assert stored > 12  # the grid's, and the runs refining its peaks
    assert "12 runs on the grid" in stdout
    assert "every run completed: True" in stdout
    assert float(stdout.split("against the exact one: ")[1].split()[0]) < 1e-2
    runs = run_table(out, "resonance")
    assert len(runs) == stored
    assert runs["completed"].all()


@pytest.mark.skipif(importlib.util.find_spec("pypet") is None,
                    reason="pypet is not installed: examples/legacy_sync.py is pypet 0.7 code")
@pytest.mark.parametrize("service", ["aiostore", "pypet"])
def test_the_legacy_pypet_sweep(tmp_path: pathlib.Path, service: str) -> None:
    """pypet's own Environment runs the sweep on the chosen HDF5StorageService (aiostore's shim,
    or pypet's own for comparison) and its Trajectory loads it back."""
    out = tmp_path / "legacy.h5"
    sweep = ["legacy_sync.py", "--frequencies", "5", "--dampings", "2", "--ncores", "2",
             "--wrap-mode", "QUEUE", "--service", service, "--out", str(out)]
    stdout = run_example(*sweep)
    assert "10 runs computed and stored" in stdout
    assert "runs loaded back: 10" in stdout
    assert "every run completed: True" in stdout
    assert float(stdout.split("against the exact one: ")[1].split()[0]) < 1e-2
    # the peaks, as the example read them from the file: damping, frequency of the peak
    table = stdout.split("not refined around the peaks):")[1].strip().splitlines()[1:3]
    assert [(float(d), float(w)) for d, w, *_ in map(str.split, table)] == [(0.05, 1.1), (0.8, 0.2)]
    runs = run_table(out, "resonance")
    assert len(runs) == 10
    assert runs["completed"].all()
    with tables.open_file(str(out)) as h5:  # a group per run, in run sets (run_set_00000) or not
        groups = h5.walk_groups("/resonance/results/runs")
        assert sum(group._v_name.startswith("run_0") for group in groups) == 10

    # an existing file is never deleted silently: refused (and left as it was) without --overwrite
    before = out.read_bytes()
    done = subprocess.run([sys.executable, str(EXAMPLES / sweep[0]), *sweep[1:]],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode != 0
    assert "add --overwrite" in done.stderr
    assert out.read_bytes() == before
    again = run_example(*sweep, "--overwrite")
    assert "10 runs computed and stored" in again
    assert len(run_table(out, "resonance")) == 10


def test_the_cache_user(tmp_path: pathlib.Path) -> None:
    stdout = run_example("cache_user.py", "--cache-dir", str(tmp_path), "--points", "24")
    lines = stdout.splitlines()
    assert lines[0].startswith("new instance (computes and stores)")
    assert lines[3] == "  damping changed: storage reset"
    for line in lines[:5]:
        if "A(1.3)" in line:  # a spline of a coarse table: within 1%
            measured, exact = line.split("A(1.3) = ")[1].split(" (exact ")
            assert float(measured) == pytest.approx(float(exact.split(")")[0]), rel=1e-2)
    assert len(list(tmp_path.rglob("resonance_*.h5"))) == 3  # damping 0.2, 0.5, 0.05


def test_the_blocking_example(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "sweep.h5"
    stdout = run_example("store_and_load.py", "--out", str(out), "--points", "2")
    assert "stored and loaded 4 runs" in stdout
    assert "every loaded array equals the stored one: True" in stdout

    # an existing file is never deleted silently: refused (and left as it was) without --overwrite
    before = out.read_bytes()
    done = subprocess.run([sys.executable, str(EXAMPLES / "store_and_load.py"), "--out", str(out),
                           "--points", "2"], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        f"store_and_load.py: {out} exists: add --overwrite to replace it (nothing was changed)"]
    assert out.read_bytes() == before
    again = run_example("store_and_load.py", "--out", str(out), "--points", "2", "--overwrite")
    assert "stored and loaded 4 runs" in again
