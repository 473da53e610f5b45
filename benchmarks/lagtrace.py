"""Who held the event loop up: every thread's stack, sampled while the loop is late.

Set ``AIOSTORE_TRACE_LAGS=MS`` in the environment of a benchmark that uses
:class:`faces.LagMeter` (``scale.py``, ``faces.py``): a thread then samples every 2 ms whether
the loop's 1 ms ticker is more than 5 ms late, and if so takes the stack of every other
thread; each late spell whose worst lateness reached MS is printed to stderr at the end.

A sampler runs only when it holds the GIL, so it sees where each thread stands just after the
holder let go: a thread past a long call that held the GIL (a big free, a C loop) shows the line
after it. Spells where every thread stands somewhere different, none past a long call, are
likely the machine's (a virtual CPU stolen from the process).
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections.abc import Iterator

__all__ = ["LagTracer", "from_environment"]

LATE = 0.005  # seconds late before stacks are taken
EVERY = 0.002  # seconds between looks


class LagTracer:
    """Samples stacks while :meth:`beat` has not been called for LATE seconds."""

    def __init__(self, threshold_ms: float) -> None:
        self.threshold_ms = threshold_ms
        self.started = self.last_beat = time.perf_counter()
        self.samples: list[tuple[float, float, str, str]] = []
        self._running = True
        self._thread = threading.Thread(target=self._sample, daemon=True, name="lagtrace")
        self._thread.start()

    def beat(self) -> None:
        self.last_beat = time.perf_counter()

    def _sample(self) -> None:
        me = threading.get_ident()
        while self._running:
            time.sleep(EVERY)
            now = time.perf_counter()
            late = now - self.last_beat
            if late <= LATE:
                continue
            names = {thread.ident: thread.name for thread in threading.enumerate()}
            for ident, frame in sys._current_frames().items():
                if ident != me:
                    self.samples.append((now - self.started, late * 1e3,
                                         names.get(ident, str(ident)), _stack(frame)))

    def close(self) -> None:
        """Stop sampling and print each spell that reached the threshold."""
        self._running = False
        self._thread.join()
        for spell in _spells(self.samples):
            worst = max(sample[1] for sample in spell)
            if worst >= self.threshold_ms:
                print(f"lag spell at {spell[0][0]:.3f} s, {worst:.1f} ms late:", file=sys.stderr)
                for at, late, thread, stack in spell:
                    print(f"  {at:9.3f} {late:6.1f} {thread}: {stack}", file=sys.stderr)


def _stack(frame: object) -> str:
    frames = traceback.extract_stack(frame)[-6:]  # type: ignore[arg-type]
    return " < ".join(f"{entry.filename.rsplit('/', 1)[-1]}:{entry.lineno} {entry.name}"
                      for entry in reversed(frames))


def _spells(samples: list[tuple[float, float, str, str]]
            ) -> Iterator[list[tuple[float, float, str, str]]]:
    spell: list[tuple[float, float, str, str]] = []
    for sample in samples:
        if spell and sample[0] - spell[-1][0] > 3 * EVERY:
            yield spell
            spell = []
        spell.append(sample)
    if spell:
        yield spell


def from_environment() -> LagTracer | None:
    """A tracer if ``AIOSTORE_TRACE_LAGS`` is set (its value: the spells' threshold, in ms)."""
    threshold = os.environ.get("AIOSTORE_TRACE_LAGS")
    return LagTracer(float(threshold)) if threshold else None
