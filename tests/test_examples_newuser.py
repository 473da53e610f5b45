"""What a new user met in the examples (issue 19), each kept fixed by a test.

A results file is never thrown away silently; failed runs are reported with their reasons and
the summary is of the runs that completed; Ctrl-C ends with one line saying what was kept and
how to resume, on every backend and while plotting; the main job finds the resonance peaks; every
option is explained, and every python snippet of the README runs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator

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


def assert_says(output: str, lines: list[str]) -> None:
    """``lines`` are in ``output``, one after the other (asyncio may log a line of its own)."""
    said = output.splitlines()
    starts = [at for at, line in enumerate(said) if line == lines[0]]
    assert starts, output
    assert said[starts[0]:starts[0] + len(lines)] == lines, output


def peak_rows(stdout: str) -> list[str]:
    """The rows of the peak table: damping, frequency, amplitude, exact w, exact peak, ..."""
    after = stdout.split("for each damping ratio (from the file")[1].splitlines()[2:]
    return [row for row in after if row.strip() and not row.startswith(("(", "plot"))]


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


# --------------------------------------------------------- 2. failed runs reported

FAILING_SWEEP = """
    import sys
    sys.path.insert(0, {examples!r})
    import async_sweep


    def simulate(frequency, damping, **options):
        # fails for the strongest damping, and for the highest frequency
        if damping > 0.5:
            raise ValueError("no answer at this damping")
        if frequency > 1.9:
            raise FloatingPointError("diverged")
        return async_sweep.simulate(frequency, damping, **options)


    if __name__ == "__main__":
        async_sweep.simulate = simulate
        async_sweep.main()
"""


def test_failed_runs_are_listed_and_the_summary_is_of_the_completed_ones(
        tmp_path: pathlib.Path) -> None:
    script, out = tmp_path / "failing_sweep.py", tmp_path / "sweep.h5"
    script.write_text(textwrap.dedent(FAILING_SWEEP).format(examples=str(EXAMPLES)))
    done = run(str(script), *SMALL, "--out", str(out))
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stdout + done.stderr
    # 5 frequencies x 3 dampings (0.05, 0.2, 0.8): damping 0.8 fails 5 runs, frequency 2.0 two
    assert_says(done.stderr, [
        f"7 of 15 runs failed; they stay incomplete in {out}:",
        "  5 runs (run 2 first): ValueError: no answer at this damping",
        "  2 runs (run 12 first): FloatingPointError: diverged",
        f"--out {out} --resume computes only the missing runs again"])
    assert "every run completed: False (8 of 15)" in done.stdout
    assert "NOT refined to 1%: runs failed" in done.stdout
    dampings = [float(row.split()[0]) for row in peak_rows(done.stdout)]
    assert dampings == [0.05, 0.2]
    assert sum(run_table(out)["completed"]) == 8


def test_failures_are_grouped_by_reason(capsys: pytest.CaptureFixture[str]) -> None:
    sys.path.insert(0, str(EXAMPLES))
    try:
        import async_sweep
    finally:
        sys.path.remove(str(EXAMPLES))
    chained = ("Traceback (most recent call last):\n  File \"x.py\", line 1\n    f()\n"
               "KeyError: 'a'\n\nDuring handling of the above exception, another exception "
               "occurred:\n\nTraceback (most recent call last):\n  File \"x.py\", line 3\n"
               "    g()\nValueError: bad value\n")
    assert async_sweep.reason(chained) == "ValueError: bad value"
    assert async_sweep.reason("its task failed: RuntimeError: Error during deserialization\n"
                              "of the task graph.") == ("its task failed: RuntimeError: Error "
                                                        "during deserialization of the task graph.")
    failed = {index: f"its task failed: OSError: disk {index % 5}" for index in range(20)}
    failed[3] = "its task failed: OSError: disk 0"
    async_sweep.print_failures(failed, 40, "f.h5")
    assert capsys.readouterr().err.splitlines() == [
        "20 of 40 runs failed; they stay incomplete in f.h5:",
        "  5 runs (run 0 first): its task failed: OSError: disk 0",
        "  4 runs (run 1 first): its task failed: OSError: disk 1",
        "  4 runs (run 2 first): its task failed: OSError: disk 2",
        "  and 2 other reasons",
        "--out f.h5 --resume computes only the missing runs again"]


@pytest.mark.skipif(importlib.util.find_spec("distributed") is None, reason="needs aiostore[dask]")
def test_a_scheduler_that_cannot_import_the_example_fails_the_runs_with_a_reason(
        tmp_path: pathlib.Path) -> None:
    """The issue's case: a Dask scheduler (here without workers: the runs fail before they
    reach one) that cannot unpickle async_sweep.simulate."""
    address_file = tmp_path / "scheduler.json"
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--port", "0",
         "--no-dashboard", "--scheduler-file", str(address_file)],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(address_file.exists, 60, "the scheduler did not start")
        time.sleep(0.2)  # the file is written whole, but give it its moment
        address = json.loads(address_file.read_text())["address"]
        out = tmp_path / "dask.h5"
        done = run(example("dask_sweep.py"), "--frequencies", "3", "--dampings", "2", "--quiet",
                   "--scheduler", address, "--out", str(out))
    finally:
        scheduler.terminate()
        scheduler.wait(30)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stdout + done.stderr
    assert "every run completed: False (0 of 6)" in done.stdout
    errors = done.stderr.strip().splitlines()
    assert errors[0] == f"6 of 6 runs failed; they stay incomplete in {out}:"
    assert errors[1].startswith("  6 runs (run 0 first): its task failed: RuntimeError: Error "
                                "during deserialization of the task graph.")
    assert errors[2].startswith("with --scheduler, an import or deserialization error means")
    assert errors[-1] == f"--out {out} --resume computes only the missing runs again"


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


Start = Callable[..., tuple[subprocess.Popen[bytes], Output]]


@pytest.fixture
def start() -> Iterator[Start]:
    """Starts a python process in a process group of its own, which Ctrl-C in a terminal
    signals whole (the workers included); kills the group if the test leaves it running."""
    processes: list[subprocess.Popen[bytes]] = []

    def starting(*args: str) -> tuple[subprocess.Popen[bytes], Output]:
        process = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, start_new_session=True,
                                   preexec_fn=ctrl_c_enabled,  # noqa: PLW1509  # no threads to fork with
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
        processes.append(process)
        return process, Output(process)

    yield starting
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def ctrl_c(process: subprocess.Popen[bytes], output: Output) -> tuple[int, str]:
    os.killpg(process.pid, signal.SIGINT)
    try:
        code = process.wait(120)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running 120 s after Ctrl-C: {output['stderr'][-3000:]}")
    output.join()
    return code, output["stdout"] + output["stderr"]


def runs_done(output: Output) -> int:
    counts = re.findall(r"(\d+)/\d+ \[", output["stderr"])  # the progress bar
    return int(counts[-1]) if counts else 0


@pytest.mark.parametrize("how", ["asyncio", "trio", "dask"])
def test_ctrl_c_ends_with_one_line_and_the_sweep_resumes(tmp_path: pathlib.Path, start: Start,
                                                         how: str) -> None:
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
        tmp_path: pathlib.Path, start: Start) -> None:
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


# ---------------------------------------------------------- 7. the resonance peaks


def test_the_main_job_finds_each_resonance_peak(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "sweep.h5"
    done = run(example("async_sweep.py"), *SMALL, "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resonance peak for each damping ratio" in done.stdout
    rows = [[float(value.rstrip("%")) for value in row.split()] for row in peak_rows(done.stdout)]
    assert [row[0] for row in rows] == [0.05, 0.2, 0.8]
    for damping, frequency, amplitude, *_ in rows:
        if damping < 1 / np.sqrt(2):  # the resonance
            exact = 1 / (2 * damping * np.sqrt(1 - damping**2))
            assert frequency == pytest.approx(np.sqrt(1 - 2 * damping**2), abs=0.02)
        else:  # no resonance: the highest amplitude is the static response, at frequency 0
            exact = 1.0
        assert amplitude == pytest.approx(exact, rel=0.03), (damping, done.stdout)
    # the refining runs are runs of the same trajectory, after the grid's 15
    runs = run_table(out)
    stored = int(done.stdout.split(" runs computed and stored")[0].split()[-1])
    assert len(runs) == stored > 15
    assert runs["completed"].all()


# ------------------------------------------------------ 8. help texts, the README


def option_entries(help_text: str) -> dict[str, str]:
    """argparse's options section: each option's invocation and the help text beside or below."""
    section = help_text.split("options:\n")[1]
    entries: dict[str, str] = {}
    current = ""
    for line in section.splitlines():
        if line.startswith("  -"):
            invocation, _, text = line.strip().partition("  ")
            current = invocation
            entries[current] = text.strip()
        elif line.startswith("    ") and current:
            entries[current] = (entries[current] + " " + line.strip()).strip()
    return entries


@pytest.mark.parametrize("name", ["async_sweep.py", "dask_sweep.py", "legacy_sync.py",
                                  "store_and_load.py", "cache_user.py"])
def test_every_option_of_every_example_is_explained(name: str) -> None:
    if name == "legacy_sync.py" and importlib.util.find_spec("pypet") is None:
        pytest.skip("pypet is not installed")
    if name == "dask_sweep.py" and importlib.util.find_spec("distributed") is None:
        pytest.skip("needs aiostore[dask]")
    done = run(example(name), "--help")
    assert done.returncode == 0, done.stderr
    entries = option_entries(done.stdout)
    assert len(entries) > 1
    assert all(entries.values()), entries
    if name == "store_and_load.py":
        assert "main job" not in done.stdout.split("options:")[0]


def readme_snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)


def snippet(containing: str) -> str:
    [found] = [text for text in readme_snippets() if containing in text]
    return found


def test_every_readme_snippet_compiles() -> None:
    for text in readme_snippets():
        compile(text, "README.md", "exec", flags=0x2000)  # PyCF_ALLOW_TOP_LEVEL_AWAIT


def test_the_readmes_use_snippet_runs_and_prints_what_it_says(tmp_path: pathlib.Path) -> None:
    first = snippet('file_title="Experiment"')
    script = tmp_path / "use.py"
    script.write_text(first)
    done = run(str(script), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    printed = done.stdout.splitlines()
    assert printed == ["40.0", "[1.0, 2.0, 3.0]", "[0. 1. 2.] ['trace']"]
    for line in printed:  # each print's comment in the README says what it prints
        assert f"# {line}:" in first

    # the load_frame snippet, on the file the first one wrote
    frames = snippet("frame = await svc.load_frame")
    script.write_text("import anyio\nfrom aiostore import AsyncStorageService\n\n"
                      "async def main():\n    async with AsyncStorageService('out.h5') as svc:\n"
                      + textwrap.indent(frames, " " * 8)
                      + "        print(frame.to_string())\n        print(len(hot))\n\n"
                      "anyio.run(main)\n")
    done = run(str(script), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    *table, hot = done.stdout.splitlines()
    shown = [line[2:] for line in frames.splitlines() if line.startswith("# ")]
    assert [line.split() for line in table] == [line.split() for line in shown]
    assert hot == "1"


def test_the_readmes_run_sweep_snippet_runs_and_reports_what_it_says(
        tmp_path: pathlib.Path) -> None:
    # the trajectory of the first snippet, at the top level of the script (workers import it)
    first = snippet('file_title="Experiment"')
    traj = [line.strip() for line in first.splitlines() if line.strip().startswith("traj")
            and "svc" not in line]
    sweep = snippet("runner=ProcessRunner(4)")
    script = tmp_path / "sweep.py"
    script.write_text("import anyio\nimport numpy as np\nfrom aiostore import Trajectory\n"
                      + "\n".join(traj) + "\n" + sweep
                      + "\nif __name__ == '__main__':\n    anyio.run(main)\n")
    done = run(str(script), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    said = re.search(r"print\(report\)\s+# (.*)", sweep)
    assert said is not None
    seconds = r"in [0-9.]+ s"
    assert re.sub(seconds, "", done.stdout.strip()) == re.sub(seconds, "", said.group(1))


def test_the_readmes_dataset_snippet_runs(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("xarray")
    grid = snippet('Trajectory("grid")')
    script = tmp_path / "grid.py"
    script.write_text(grid)
    done = run(str(script), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "2.0"
    assert "# 2.0" in grid


@pytest.mark.parametrize(("needs", "containing"), [("pypet", "from pypet import Environment"),
                                                   ("colossus", "from colossus.utils import")])
def test_the_readmes_shim_snippets_run(tmp_path: pathlib.Path, needs: str, containing: str) -> None:
    pytest.importorskip(needs)
    script = tmp_path / "shim.py"
    script.write_text(snippet(containing))
    done = run(str(script), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
