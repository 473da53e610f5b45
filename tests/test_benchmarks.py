"""The benchmarks run, at tiny sizes, and print their tables (so they cannot rot)."""

from __future__ import annotations

import importlib.util
import pathlib
import subprocess
import sys

import pytest

BENCHMARKS = pathlib.Path(__file__).parent.parent / "benchmarks"


def run_benchmark(name: str, *args: str, cwd: pathlib.Path) -> str:
    done = subprocess.run([sys.executable, str(BENCHMARKS / name), *args], capture_output=True,
                          text=True, timeout=600, check=False, cwd=cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_comparison_prints_every_workload_and_target(tmp_path: pathlib.Path) -> None:
    stdout = run_benchmark("compare.py", "--runs", "30", "--big", "2", "--repeat", "1",
                           cwd=tmp_path)
    for line in ("W1: store 30 small results", "W2: store 2 results of 8 MB",
                 "W3: load back everything of W1", "aiostore async, packed_runs",
                 "aiostore async, journal=False", "aiostore async, in_memory",
                 "plain file write + fsync", "W1 event-loop worst lag"):
        assert line in stdout
    assert "pypet 0.6.1 is not measured" in stdout
    assert list(tmp_path.iterdir()) == []  # its scratch files are gone


def test_the_colossus_cache_benchmark(tmp_path: pathlib.Path) -> None:
    stdout = run_benchmark("colossus_cache.py", "--tables", "5", "--points", "100",
                           "--repeat", "1", cwd=tmp_path)
    assert "store (s)" in stdout
    assert "warm start, 5 tables (s)" in stdout


def test_the_sweep_benchmark(tmp_path: pathlib.Path) -> None:
    stdout = run_benchmark("sweeps.py", "--runs", "20", "--periods", "2", "--batch", "5",
                           "--repeat", "1", cwd=tmp_path)
    for line in ("ceiling: 2 workers computing only", "process pool (2 workers), 1 run per task",
                 "Dask LocalCluster (2 workers), 5 runs per task"):
        assert line in stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(importlib.util.find_spec("pypet") is None,
                    reason="pypet is not installed: this benchmark runs pypet 0.7's Environment")
def test_pypet_environment_on_pypet_and_on_the_shim(tmp_path: pathlib.Path) -> None:
    stdout = run_benchmark("pypet_faces.py", "versus", "--runs", "20", "--repeat", "1",
                           cwd=tmp_path)
    assert "W1: pypet 0.7's Environment stores 20 runs" in stdout
    for face in ("pypet 0.7 Environment on pypet's own service",
                 "pypet 0.7 Environment on aiostore's shim",
                 "pypet 0.7 Environment on aiostore's shim, durability='flush'",
                 "pypet 0.7 Environment on pypet's own service, QUEUE",
                 "pypet 0.7 Environment on aiostore's shim, QUEUE",
                 "pypet 0.7 Environment storing nothing (the ceiling)"):
        assert face in stdout
    assert "FAILED" not in stdout
    assert "Target: W1 pypet's Environment on aiostore's shim >= 5x" in stdout
    assert list(tmp_path.iterdir()) == []


def test_the_frames_benchmark(tmp_path: pathlib.Path) -> None:
    stdout = run_benchmark("frames.py", "--runs", "30", "--repeat", "1", cwd=tmp_path)
    for row in ("load_frame", "load(load_results=2)", "raw PyTables Table.read"):
        assert row in stdout
    assert "nodes: stored" in stdout
    assert "packed: stored" in stdout


def test_the_w1_profile(tmp_path: pathlib.Path) -> None:
    stdout = run_benchmark("profile_w1.py", "--runs", "40", "--small", "20", "--repeats", "1",
                           "--timed-repeats", "1", "--micro", "20", "--top", "3", "--layout",
                           "packed", "--faces", "store", "--dir", str(tmp_path / "w1"),
                           cwd=tmp_path)
    for part in ("1. Throughput", "2. Where the time goes", "3. cProfile",
                 "Table.append a batch's rows at once"):
        assert part in stdout


def test_the_compression_benchmark(tmp_path: pathlib.Path) -> None:
    stdout = run_benchmark("compression.py", "--runs", "20", "--rounds", "1", "--big", "1",
                           "--packed-rows", "100", "--codecs", "none,blosc2:lz4/5",
                           "--dir", str(tmp_path / "c"), cwd=tmp_path)
    assert "Large arrays: 1 x 8 MB, smooth" in stdout
    assert "Readability of a file written with each codec" in stdout
    assert "blosc2:lz4/5" in stdout


def test_the_scale_benchmark(tmp_path: pathlib.Path) -> None:
    import json

    stdout = run_benchmark("scale.py", "--runs", "300", "--repeats", "1", "--dir",
                           str(tmp_path / "s"), "--json", str(tmp_path / "scale.json"),
                           cwd=tmp_path)
    for part in ("bare loop", "put + join", "run_sweep", "await store",
                 "raw PyTables Table.read", "load_frame", "load_dataset", "Must hold"):
        assert part in stdout
    assert "PASS" in stdout or "FAIL" in stdout
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert {row["face"] for row in summary["faces"]} == {"bare", "put", "sweep", "store"}
    assert all(row["exact"] == "yes" for row in summary["faces"] if row["face"] != "bare")
    assert json.loads((tmp_path / "scale.json").read_text())["measurements"]
    assert list((tmp_path / "s").iterdir()) == []  # its scratch files are gone
