"""What a node and an attribute cost in PyTables: the measurement behind aiostore's layout.

Creates N run groups, each with one scalar array, with k user attributes on each node, with and
without PyTables' own system attributes (CLASS, VERSION, TITLE). Prints runs per second for each
variant, measured side by side in one process (medians of --repeat runs).

    python benchmarks/node_cost.py [--runs 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import tables


def one_pass(filename: str, runs: int, attributes: int, system_attributes: bool) -> float:
    if os.path.exists(filename):
        os.remove(filename)
    start = time.perf_counter()
    with tables.open_file(filename, "w", pytables_sys_attrs=system_attributes) as h5:
        parent = h5.create_group("/", "runs")
        for index in range(runs):
            group = h5.create_group(parent, f"run_{index:08d}")
            for k in range(attributes):
                group._v_attrs[f"A{k}"] = "x"
            array = h5.create_array(group, "z", np.float64(index))
            for k in range(attributes):
                array._v_attrs[f"A{k}"] = "x"
    return runs / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    filename = os.path.join(tempfile.mkdtemp(), "nodes.h5")
    variants = [(sys_attrs, k) for sys_attrs in (True, False) for k in (0, 1, 3)]
    rates: dict[tuple[bool, int], list[float]] = {variant: [] for variant in variants}
    for _ in range(args.repeat):  # interleaved, so machine noise hits every variant alike
        for sys_attrs, k in variants:
            rates[(sys_attrs, k)].append(one_pass(filename, args.runs, k, sys_attrs))
    base = statistics.median(rates[(True, 0)])
    print(f"{'system attrs':>12} {'user attrs/node':>15} {'runs/s':>8} {'vs default':>10}")
    for (sys_attrs, k), values in rates.items():
        median = statistics.median(values)
        print(f"{sys_attrs!s:>12} {k:>15} {median:8.0f} {median / base:9.2f}x")


if __name__ == "__main__":
    main()
