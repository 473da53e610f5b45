"""Run colossus's own test suite with aiostore's StorageUser in place of colossus's.

    python tests/colossus_suite.py CACHE_BASE [--original]

colossus keeps its cache under ``CACHE_BASE/.colossus/cache``. The swap replaces the module
attributes ``colossus.utils.storage.StorageUser`` and ``getCacheDir``, through which colossus
makes every storage user (``--original`` keeps colossus's own, for comparison). Prints one JSON
line: tests run, failures, errors, and how many objects the storage users stored to their cache
and loaded from it. Exits non-zero if any test failed.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import unittest
from typing import Any

import colossus.halo.concentration
import colossus.settings
import colossus.tests
from colossus.utils import storage

from aiostore.compat import colossus as shim


class _CountingUser(shim.StorageUser):
    """aiostore's StorageUser, counting what goes to and comes from the cache."""

    stored = 0
    loaded = 0

    def storeObject(self, object_name: str, object_data: Any, persistent: bool = True) -> None:
        if persistent and self.persistence_write:
            _CountingUser.stored += 1
        super().storeObject(object_name, object_data, persistent)

    def resetStorage(self) -> None:
        super().resetStorage()
        _CountingUser.loaded += len(self.storage_pers)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cache_base", type=pathlib.Path)
    parser.add_argument("--original", action="store_true", help="keep colossus's StorageUser")
    args = parser.parse_args()
    colossus.settings.BASE_DIR = str(args.cache_base)
    if not args.original:
        storage.StorageUser = _CountingUser
        storage.getCacheDir = shim.getCacheDir
    colossus.halo.concentration.storageUser = None  # a module global made on first use
    start_dir = pathlib.Path(colossus.tests.__file__).parent
    suite = unittest.TestLoader().discover(str(start_dir), pattern="test_*.py",
                                           top_level_dir=str(start_dir.parent.parent))
    result = unittest.TextTestRunner(stream=sys.stderr, verbosity=1).run(suite)
    print(json.dumps({"run": result.testsRun, "failures": len(result.failures),
                      "errors": len(result.errors), "stored": _CountingUser.stored,
                      "loaded": _CountingUser.loaded}))
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
