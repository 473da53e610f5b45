"""colossus's StorageUser pattern on aiostore: an expensive table computed once, then cached.

A model class owns a storage user, as colossus's cosmology does. Its resonance curve (the
steady-state amplitude of the driven damped oscillator of async_sweep.py, over drive frequency)
is computed by simulation the first time, stored persistently, and turned into spline
interpolators; a second instance with the same damping finds it in the cache; changing the
damping resets the storage (the callback reports it) and recomputes. The same again with the
async twins.

    python examples/cache_user.py [--cache-dir DIR] [--points 60]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from typing import Any

import anyio
import numpy as np
from async_sweep import exact_amplitude, simulate

from aiostore.compat import colossus as storage


class Resonance:
    """The resonance curve of an oscillator with damping ratio ``damping``, cached."""

    def __init__(self, damping: float = 0.2, points: int = 60, user: Any = None) -> None:
        self.damping = damping
        self.points = points
        self.su = user or storage.StorageUser("examples", "rw", self.get_name,
                                              self.get_hashable_string, self.report_changes)

    @classmethod
    async def acreate(cls, damping: float = 0.2, points: int = 60) -> Resonance:
        model = cls.__new__(cls)
        model.damping, model.points = damping, points
        model.su = await storage.StorageUser.acreate("examples", "rw", model.get_name,
                                                     model.get_hashable_string,
                                                     model.report_changes)
        return model

    def get_name(self) -> str:
        return "resonance"

    def get_hashable_string(self) -> str:
        return f"resonance_{self.damping:.6f}_{self.points}"

    def report_changes(self) -> None:
        print("  damping changed: storage reset")

    def compute_table(self) -> np.ndarray:
        frequencies = np.linspace(0.2, 2.0, self.points)
        amplitudes = [simulate(float(w), self.damping)["amplitude"] for w in frequencies]
        return np.array([frequencies, amplitudes])

    def amplitude(self, frequency: float) -> float:
        """The amplitude at ``frequency``, from a spline of the cached table."""
        spline = self.su.getStoredObject("curve", interpolator=True)
        if spline is None:
            self.su.storeObject("curve", self.compute_table())
            spline = self.su.getStoredObject("curve", interpolator=True)
        return float(spline(frequency))

    async def aamplitude(self, frequency: float) -> float:
        spline = await self.su.aget_stored_object("curve", interpolator=True)
        if spline is None:
            table = await anyio.to_thread.run_sync(self.compute_table)
            await self.su.astore_object("curve", table)
            spline = await self.su.aget_stored_object("curve", interpolator=True)
        return float(spline(frequency))


def timed(label: str, make_model: Callable[[], Resonance], frequency: float = 1.3) -> Resonance:
    """Make (or take) a model and ask it for one amplitude; print how long that took."""
    started = time.perf_counter()
    model = make_model()
    value = model.amplitude(frequency)
    exact = float(exact_amplitude(np.array(frequency), np.array(model.damping)))
    print(f"{label:<44} A({frequency}) = {value:.5f} (exact {exact:.5f}) "
          f"in {1e3 * (time.perf_counter() - started):7.1f} ms")
    return model


async def async_part(points: int) -> None:
    model = await Resonance.acreate(damping=0.2, points=points)
    print(f"{'async twins, warm cache:':<44} A(1.3) = {await model.aamplitude(1.3):.5f}")
    model.damping = 0.05
    print(f"{'async twins, new damping (computed):':<44} A(1.3) = {await model.aamplitude(1.3):.5f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", help="base folder of .colossus/cache (default: temporary)")
    parser.add_argument("--points", type=int, default=60, help="frequencies in the table")
    args = parser.parse_args()
    storage.BASE_DIR = args.cache_dir or tempfile.mkdtemp(prefix="aiostore-cache-")

    first = timed("new instance (computes and stores):", lambda: Resonance(points=args.points))
    timed("same instance (spline kept in memory):", lambda: first)
    second = timed("new instance (loads the cache):", lambda: Resonance(points=args.points))
    second.damping = 0.5
    timed("after changing the damping (recomputes):", lambda: second)
    spline = second.su.getStoredObject("curve", interpolator=True)
    print(f"cache file: {second.su.getUniqueFilename()}")
    print(f"table {second.su.getStoredObject('curve').shape} stored natively, interpolated by "
          f"{type(spline).__name__}")
    anyio.run(async_part, args.points)


if __name__ == "__main__":
    main()
