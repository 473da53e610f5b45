"""``held_by_another_process``: a file held (opened, its journal locked) by another process."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def held_by_another_process(code: str, path: object) -> Iterator[None]:
    """While a python process runs ``code`` (``sys.argv[1]`` is ``path``) and then sleeps:
    ``code`` takes hold of the file (opens it, locks its journal); the process is killed after."""
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import sys, time\n{code}\nprint('held', flush=True)\n"
         "time.sleep(60)", str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.kill()
        holder.wait()
