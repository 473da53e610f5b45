"""What a new user met in the examples (issue 19), each kept fixed by a test.

A results file is never thrown away silently.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

import numpy as np
import tables

ROOT = pathlib.Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"
SMALL = ["--frequencies", "5", "--dampings", "3", "--workers", "2", "--quiet"]


def run(*args: str, cwd: pathlib.Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300,
                          check=False, cwd=cwd)


def example(name: str) -> str:
    return str(EXAMPLES / name)


def run_table(path: pathlib.Path) -> np.ndarray:
    with tables.open_file(str(path)) as h5:
        rows: np.ndarray = h5.get_node("/resonance/overview/runs").read()
    return rows


# ------------------------------------------------------- 1. results files are kept


def test_a_second_run_of_the_readme_command_keeps_the_first_file(tmp_path: pathlib.Path) -> None:
    first = run(example("async_sweep.py"), *SMALL, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "exists" not in first.stdout
    kept = (tmp_path / "resonance.h5").read_bytes()
    assert (tmp_path / "resonance.png").exists()

    second = run(example("async_sweep.py"), *SMALL, cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resonance.h5 exists: this sweep writes resonance-2.h5" in second.stdout
    assert "were already in resonance-2.h5" in second.stdout
    assert (tmp_path / "resonance.h5").read_bytes() == kept
    assert (tmp_path / "resonance-2.png").exists()


def test_an_existing_out_file_is_refused_unless_resume_or_overwrite(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "mine.h5"
    out.write_bytes(b"results of last week")
    refused = run(example("async_sweep.py"), *SMALL, "--out", str(out))
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        f"async_sweep.py: {out} exists: add --resume to compute only the runs it lacks, or "
        "--overwrite to replace it (nothing was changed)"]
    assert out.read_bytes() == b"results of last week"

    replaced = run(example("async_sweep.py"), *SMALL, "--out", str(out), "--overwrite")
    assert replaced.returncode == 0, replaced.stderr[-3000:]
    assert "0 were already in" in replaced.stdout
    assert run_table(out)["completed"].all()

    no_file = run(example("async_sweep.py"), *SMALL, "--resume")
    assert no_file.returncode == 2
    assert "--resume needs --out FILE" in no_file.stderr
