"""Writers SIGKILLed at random moments lose nothing they acknowledged (tests/crashing.py).

A handful of trials run by default; ``pytest -m slow tests/robustness/test_crash.py`` runs 50 per durability.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from crashing import TrialReport, check_file, run_trial

DURABILITIES = ["flush", "close"]


def _assert_nothing_lost(report: TrialReport) -> None:
    assert not report.error, report.error
    assert not report.lost, f"acknowledged runs missing: {report.lost[:20]}"
    assert not report.wrong, report.wrong[:5]
    assert report.present >= report.acknowledged


@pytest.mark.parametrize("durability", DURABILITIES)
@pytest.mark.parametrize("seed", [1, 2])
def test_a_killed_writer_loses_no_acknowledged_run(tmp_path: Path, durability: str,
                                                   seed: int) -> None:
    report = run_trial(tmp_path, durability, seed, max_delay=1.5)
    _assert_nothing_lost(report)
    assert report.acknowledged > 0  # the kill came after runs were stored


@pytest.mark.slow
@pytest.mark.parametrize("durability", DURABILITIES)
@pytest.mark.parametrize("seed", range(100, 150))
def test_many_killed_writers_lose_nothing(tmp_path: Path, durability: str, seed: int) -> None:
    _assert_nothing_lost(run_trial(tmp_path, durability, seed))


def test_the_checker_sees_a_lost_and_a_changed_run(tmp_path: Path) -> None:
    """The harness can fail: a run taken out of the file, or changed, is reported."""
    report = run_trial(tmp_path, "flush", 3, max_delay=0.5)
    _assert_nothing_lost(report)
    filename, acks = tmp_path / "trial-flush-3.h5", tmp_path / "trial-flush-3.acks"
    import tables
    with tables.open_file(filename, "a") as h5:
        runs = h5.get_node("/crash/results/runs/run_set_00000")
        names = sorted(runs._v_groups)
        h5.remove_node(runs, names[0], recursive=True)
        h5.get_node(runs, f"{names[1]}/r/z")[...] = -1.0
    again = check_file(str(filename), str(acks), TrialReport(killed_after=0))
    assert again.lost == [int(names[0].removeprefix("run_"))]
    assert any("run " in wrong for wrong in again.wrong)
