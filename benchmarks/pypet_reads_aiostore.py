"""Does pypet 0.6.1 load a file aiostore wrote? A measurement for docs/FORMAT.md (issue 9).

Writes a small trajectory with aiostore (explored parameters, a derived parameter, results of
several kinds, every run stored), then asks pypet 0.6.1, in the python of a side virtualenv
(``bash benchmarks/make_pypet_env.sh DIR``), to list, load and read it, step by step, and prints
what each step did::

    python benchmarks/pypet_reads_aiostore.py --pypet-python DIR/bin/python [--packed]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import tempfile

import numpy as np

from aiostore import Msg, StorageService, Trajectory

# Run in pypet's environment: each step's outcome, as one JSON line.
PYPET_SIDE = r"""
import json, logging, sys, traceback
logging.disable(logging.CRITICAL)
import pypet
path, name = sys.argv[1], sys.argv[2]
steps = []
def step(what, call):
    try:
        outcome = call()
        steps.append({"step": what, "ok": True, "outcome": outcome})
    except Exception as exc:
        steps.append({"step": what, "ok": False,
                      "error": f"{type(exc).__name__}: {str(exc)[:300]}",
                      "where": traceback.extract_tb(exc.__traceback__)[-1].name})
traj = pypet.Trajectory(name, add_time=False)
step("f_load(load_all=0): metadata only",
     lambda: traj.f_load(filename=path, load_parameters=0, load_derived_parameters=0,
                         load_results=0, load_other_data=0) or len(traj))
step("f_load(load_all=1): skeleton",
     lambda: (traj.f_load(filename=path, load_parameters=1, load_derived_parameters=1,
                          load_results=1, load_other_data=1, force=True),
              sorted(leaf.v_full_name for leaf in traj.f_iter_leaves()))[1])
traj2 = pypet.Trajectory(name, add_time=False)
step("f_load(load_all=2): data",
     lambda: traj2.f_load(filename=path, load_parameters=2, load_derived_parameters=2,
                          load_results=2, load_other_data=2, force=True) or len(traj2))
step("a parameter's value",
     lambda: repr(traj2.f_get("parameters.x").f_get()))
step("a result's values",
     lambda: repr(traj2.f_get("results.runs.run_00000000.z").f_to_dict()))
print(json.dumps(steps))
"""


def write(path: str, packed: bool) -> None:
    traj = Trajectory("made_by_aiostore", comment="written by aiostore")
    traj.add_parameter("x", 1.0, comment="explored")
    traj.add_parameter("n", 3)
    traj.add_parameter("label", "a")
    traj.explore({"x": [1.0, 2.0, 3.0]})
    traj.add_derived_parameter("ratio", 0.5)
    with StorageService(path, packed_runs=packed) as svc:
        svc.store(Msg.TRAJECTORY, traj)
        for index in range(len(traj)):
            run = traj.run(index)
            run.add_result("z", run["x"] * 2, trace=np.arange(4.0), info={"a": 1, "b": 2.0})
            svc.store(Msg.SINGLE_RUN, run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pypet-python", required=True)
    parser.add_argument("--packed", action="store_true", help="packed_runs=True")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = str(pathlib.Path(folder) / "aiostore.h5")
        write(path, args.packed)
        done = subprocess.run([args.pypet_python, "-c", PYPET_SIDE, path, "made_by_aiostore"],
                              capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        print(done.stderr)
        raise SystemExit(done.returncode)
    for entry in json.loads(done.stdout.splitlines()[-1]):
        detail = entry["outcome"] if entry["ok"] else f"{entry['error']} (in {entry['where']})"
        print(f"{'ok ' if entry['ok'] else 'FAIL'}  {entry['step']}: {detail}")


if __name__ == "__main__":
    main()
