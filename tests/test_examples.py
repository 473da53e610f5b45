"""Every example runs, at small sizes, and does what it says (so none of them can rot)."""

from __future__ import annotations

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
    assert "15 runs computed and stored" in stdout
    assert "every run completed: True" in stdout
    error = float(stdout.split("against the exact one: ")[1].split()[0])
    assert error < 1e-2  # the model is right, and so is what came back from the file
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    runs = run_table(out, "resonance")
    assert len(runs) == 15
    assert runs["completed"].all()
    again = run_example("async_sweep.py", "--frequencies", "5", "--dampings", "3", "--quiet",
                        "--out", str(out), "--resume", "--backend", backend, *layout)
    assert "0 runs computed and stored" in again
    assert "15 were already in" in again


def test_the_dask_sweep(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "dask.h5"
    stdout = run_example("dask_sweep.py", "--frequencies", "4", "--dampings", "3", "--quiet",
                         "--workers", "2", "--runs-per-task", "5", "--out", str(out))
    assert "12 runs computed and stored" in stdout
    assert "every run completed: True" in stdout
    assert float(stdout.split("against the exact one: ")[1].split()[0]) < 1e-2
    assert run_table(out, "resonance")["completed"].all()


def test_the_legacy_queue_sweep(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "legacy.h5"
    stdout = run_example("legacy_sync.py", "--frequencies", "3", "--dampings", "2",
                         "--workers", "2", "--out", str(out))
    assert "6 runs computed and stored" in stdout
    assert "every run completed: True" in stdout
    assert run_table(out, "resonance")["completed"].all()


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
