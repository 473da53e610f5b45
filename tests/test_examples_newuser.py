"""What a new user met in the examples (issue 19), each kept fixed by a test.

A results file is never thrown away silently; Ctrl-C ends with one line saying what was kept and
how to resume, on every backend and while plotting.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest
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


def wait_until(condition: Callable[[], bool], seconds: float, failure: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.05)


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


# ------------------------------------------------------------------------ 3. Ctrl-C


class Output:
    """A process's stdout and stderr, read as they come by a thread each."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.text = {"stdout": b"", "stderr": b""}
        self.readers = [threading.Thread(target=self._read, args=(name, getattr(process, name)),
                                         daemon=True) for name in self.text]
        for reader in self.readers:
            reader.start()

    def _read(self, name: str, stream: object) -> None:
        while chunk := os.read(stream.fileno(), 65536):  # type: ignore[attr-defined]
            self.text[name] += chunk

    def __getitem__(self, name: str) -> str:
        return self.text[name].decode(errors="replace")

    def join(self) -> None:
        for reader in self.readers:
            reader.join(60)


def ctrl_c_enabled() -> None:
    # Ctrl-C as a shell starts a program, whatever pytest's process does with SIGINT: an
    # ignored SIGINT is inherited, and python then raises no KeyboardInterrupt
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(*args: str) -> tuple[subprocess.Popen[bytes], Output]:
    # its own process group, which Ctrl-C in a terminal signals whole (the workers included)
    process = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True,
                               preexec_fn=ctrl_c_enabled,  # noqa: PLW1509  # no threads to fork with
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return process, Output(process)


def ctrl_c(process: subprocess.Popen[bytes], output: Output) -> tuple[int, str]:
    os.killpg(process.pid, signal.SIGINT)
    code = process.wait(120)
    output.join()
    return code, output["stdout"] + output["stderr"]


def runs_done(output: Output) -> int:
    counts = re.findall(r"(\d+)/\d+ \[", output["stderr"])  # the progress bar
    return int(counts[-1]) if counts else 0


@pytest.mark.parametrize("how", ["asyncio", "trio", "dask"])
def test_ctrl_c_ends_with_one_line_and_the_sweep_resumes(tmp_path: pathlib.Path, how: str) -> None:
    if how == "dask" and importlib.util.find_spec("distributed") is None:
        pytest.skip("needs aiostore[dask]")
    out = tmp_path / "sweep.h5"
    sizes = ["--frequencies", "10", "--dampings", "4", "--out", str(out)]
    script, options = ((example("dask_sweep.py"), ["--runs-per-task", "1"]) if how == "dask"
                       else (example("async_sweep.py"), ["--workers", "2", "--backend", how]))
    process, output = start(script, *sizes, *options)
    wait_until(lambda: runs_done(output) >= 3 or process.poll() is not None, 120,
               "the sweep did not start")
    code, said = ctrl_c(process, output)
    assert code == 130, said[-3000:]
    assert "Traceback" not in said
    assert "Exception ignored" not in said
    assert output["stderr"].strip().splitlines()[-1] == (
        f"interrupted: the runs stored so far are kept in {out}; add --out {out} --resume "
        "to compute only the rest")

    if how == "dask":
        return  # resuming is the same code on every backend; Dask starts slowly: tested on two
    resumed = run(script, *sizes, *options, "--resume", "--quiet")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    already = int(resumed.stdout.split(" were already in")[0].split()[-1])
    assert already >= 3
    assert "every run completed: True" in resumed.stdout


def test_ctrl_c_while_the_summary_and_plot_are_made_ends_with_one_line(
        tmp_path: pathlib.Path) -> None:
    out, image = tmp_path / "sweep.h5", tmp_path / "sweep.png"
    process, output = start(example("async_sweep.py"), *SMALL, "--out", str(out),
                            "--plot", str(image))
    wait_until(lambda: "runs computed and stored" in output["stdout"] or
               process.poll() is not None, 120, "the sweep did not end")
    code, said = ctrl_c(process, output)  # the summary is printed; the plot comes next
    assert code == 130, said[-3000:]
    assert "Traceback" not in said
    assert output["stderr"].strip().splitlines() == [
        f"interrupted: every run is in {out}; --out {out} --resume prints the summary and the "
        "plot again without computing"]
    assert not list(tmp_path.glob("*.partial"))
    assert run_table(out)["completed"].all()
