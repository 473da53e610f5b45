"""Run pypet's tests in a subprocess pytest and count the outcomes per file.

    python -m tests.pypet_suite.report [--service pypet|aiostore] [--keep DIR] [files...]

from the repository's root. ``files`` are names of the selection (``unittests.storage_test``,
``integration/pipeline_test.py``, or just ``pipeline_test`` when unambiguous); none means the
whole selection. It prints, per file, the tests passed, failed (failures and errors) and skipped
with the time they took, then the ids of the failing tests (``file::Class::test``). Extra
arguments for pytest go after ``--`` (``-- -k test_store``). The exit status is 0 whatever
the tests did; 2 if pytest itself could not run.

:func:`run_selection` is what ``tests/compat/test_pypet_suite.py`` calls.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from pathlib import Path

from . import SELECTION, SERVICE_VARIABLE, SERVICES

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parent.parent
INI = HERE / "pypet.ini"
PLUGIN = "tests.pypet_suite.swap"


class SuiteError(RuntimeError):
    """pytest did not run the selection (usage error, crash, timeout): no counts to give."""


@dataclasses.dataclass
class FileOutcome:
    """What the tests of one file did."""

    passed: list[str] = dataclasses.field(default_factory=list)
    failed: list[str] = dataclasses.field(default_factory=list)
    skipped: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0


@dataclasses.dataclass
class Outcome:
    """One run of a selection: the outcomes per file, pytest's exit status and output."""

    service: str
    files: dict[str, FileOutcome]
    returncode: int
    seconds: float
    output: str

    def total(self) -> FileOutcome:
        total = FileOutcome()
        for outcome in self.files.values():
            total.passed += outcome.passed
            total.failed += outcome.failed
            total.skipped += outcome.skipped
            total.seconds += outcome.seconds
        return total


def resolve(name: str) -> str:
    """The selection's name for ``name`` (a module name, a path, or a unique file name)."""
    short = name.removesuffix(".py").replace("/", ".").replace(os.sep, ".").removeprefix(
        "pypet.tests.")
    matches = [file for file in SELECTION if file == short or file.split(".")[-1] == short]
    if len(matches) != 1:
        raise ValueError(f"{name!r} names {matches or 'none'} of the selection "
                         f"{', '.join(SELECTION)}")
    return matches[0]


def command(files: Iterable[str], service: str, basetemp: Path, junitxml: Path,
            extra: Sequence[str] = ()) -> list[str]:
    """The pytest command line that runs ``files`` of the selection on ``service``."""
    import pypet  # the root folder: pypet's package's parent, so test ids start at pypet/

    rootdir = Path(pypet.__file__).resolve().parent.parent
    return [sys.executable, "-m", "pytest", "-c", str(INI), "--rootdir", str(rootdir),
            "-p", PLUGIN, "--pypet-service", service, "--basetemp", str(basetemp),
            "--junitxml", str(junitxml), "-q", *extra,
            "--pyargs", *(f"pypet.tests.{file}" for file in files)]


def environment(service: str) -> dict[str, str]:
    """The subprocess's environment: this repository importable, the interpreter's bin/ on PATH."""
    env = dict(os.environ)
    path = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([*path, str(REPOSITORY)])  # a given PYTHONPATH first
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    env[SERVICE_VARIABLE] = service
    return env


def run_selection(files: Iterable[str] = SELECTION, service: str = "aiostore", *,
                  workdir: Path, extra: Sequence[str] = (), timeout: float | None = None
                  ) -> Outcome:
    """Run ``files`` of the selection in a subprocess pytest in ``workdir``; count outcomes.

    Everything the run writes (pytest's base temp folder, pypet's files, the junit XML, anything
    written to the working directory) goes below ``workdir``.
    """
    if service not in SERVICES:
        raise ValueError(f"service {service!r}: choose one of {SERVICES}")
    files = [resolve(file) for file in files]
    workdir.mkdir(parents=True, exist_ok=True)
    junitxml = workdir / "junit.xml"
    junitxml.unlink(missing_ok=True)
    argv = command(files, service, workdir / "basetemp", junitxml, extra)
    started = time.monotonic()
    try:
        done = subprocess.run(argv, cwd=workdir, env=environment(service), capture_output=True,
                              text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise SuiteError(f"pypet's tests took longer than {timeout} s: {' '.join(argv)}") from exc
    seconds = time.monotonic() - started
    output = done.stdout + done.stderr
    if done.returncode not in (0, 1) or not junitxml.exists():
        raise SuiteError(f"pytest exited with {done.returncode}: {' '.join(argv)}\n"
                         f"{output[-4000:]}")
    return Outcome(service, count(junitxml, files), done.returncode, seconds, output)


def count(junitxml: Path, files: Sequence[str]) -> dict[str, FileOutcome]:
    """Outcomes per file from pytest's junit XML (an error in setup or teardown fails a test)."""
    outcomes = {file: FileOutcome() for file in files}
    for case in ET.parse(junitxml).getroot().iter("testcase"):
        classname, name = case.get("classname", ""), case.get("name", "")
        file = next((f for f in files if (classname + ".").startswith(f"pypet.tests.{f}.")), None)
        if file is None:
            raise SuiteError(f"a test outside the selection: {classname} {name}")
        outcome = outcomes[file]
        test_class = classname.removeprefix(f"pypet.tests.{file}").lstrip(".")
        test_id = "::".join(part for part in (file, test_class, name) if part)
        outcome.seconds += float(case.get("time", 0) or 0)
        if case.find("failure") is not None or case.find("error") is not None:
            outcome.failed.append(test_id)
        elif case.find("skipped") is not None:
            outcome.skipped.append(test_id)
        else:
            outcome.passed.append(test_id)
    return outcomes


def table(outcome: Outcome) -> str:
    """A markdown table of the counts per file and the total."""
    rows = ["| file | passed | failed | skipped | seconds |", "|---|---:|---:|---:|---:|"]
    for file, counts in [*outcome.files.items(), ("total", outcome.total())]:
        rows.append(f"| {file} | {len(counts.passed)} | {len(counts.failed)} | "
                    f"{len(counts.skipped)} | {counts.seconds:.0f} |")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.pypet_suite.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--service", choices=SERVICES,
                        default=os.environ.get(SERVICE_VARIABLE, "aiostore"),
                        help=f"aiostore's shim (default, or ${SERVICE_VARIABLE}) or pypet's own")
    parser.add_argument("--keep", type=Path, default=None,
                        help="run in this folder and keep it (default: a temporary folder)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds before giving up")
    parser.add_argument("--output", action="store_true", help="print pytest's output too")
    parser.add_argument("files", nargs="*", help="files of the selection (default: all)")
    argv = list(sys.argv[1:] if argv is None else argv)
    cut = argv.index("--") if "--" in argv else len(argv)
    args, extra = parser.parse_args(argv[:cut]), argv[cut + 1:]
    try:
        files = [resolve(file) for file in args.files] or list(SELECTION)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        if args.keep is not None:
            outcome = run_selection(files, args.service, workdir=args.keep.resolve(), extra=extra,
                                    timeout=args.timeout)
        else:
            with tempfile.TemporaryDirectory(prefix="pypet-suite-") as folder:
                outcome = run_selection(files, args.service, workdir=Path(folder), extra=extra,
                                        timeout=args.timeout)
    except SuiteError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.output:
        print(outcome.output)
    print(f"pypet's tests on the {outcome.service} service ({outcome.seconds:.0f} s):\n")
    print(table(outcome))
    failing = outcome.total().failed
    print(f"\nfailing ({len(failing)}):" if failing else "\nnothing failed")
    for test_id in failing:
        print(f"  {test_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
