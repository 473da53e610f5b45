"""A pytest plugin that runs pypet's own tests on aiostore's pypet shim.

Use it on pypet's test modules (installed with pypet, under ``pypet.tests``)::

    python -m pytest -c tests/pypet_suite/pypet.ini -p tests.pypet_suite.swap \\
        --pyargs pypet.tests.unittests.storage_test

(from the repository's root, or with it on ``PYTHONPATH``). ``--pypet-service pypet``, or the
environment variable ``AIOSTORE_PYPET_SERVICE=pypet``, keeps pypet's own service: the baseline,
run by the same harness. ``python -m tests.pypet_suite.report`` does all this in a subprocess
and counts the outcomes.

In ``pytest_configure``, before pypet's test modules are imported, the plugin:

- swaps the service (unless ``pypet``): every service pypet creates goes through
  ``pypet.utils.storagefactory.storage_factory``, imported by name into ``pypet.trajectory`` and
  ``pypet.environment``. Both names (and the factory's own) are bound to a wrapper that turns
  whatever pypet's factory would make into its ``HDF5StorageService`` (that class; a string
  naming it; ``storage_service=None`` with an HDF5 ``filename``) into
  ``aiostore.compat.pypet.HDF5StorageService``, then calls pypet's factory. ``pypet.HDF5StorageService``
  and ``pypet.storageservice.HDF5StorageService`` are rebound too, for tests that construct the
  class directly (environment_test imports it from ``pypet.storageservice``).
- puts the folder of ``sys.executable`` first on ``PATH``, for ``ptrepack`` (``test_compacting``).
- points pypet's test folder (``pypet.tests.testutils.ioutils``, which would otherwise use
  ``<tempfile.gettempdir()>/tmp_pypet_tests``, shared by every run) below pytest's base temp
  folder: ``<basetemp>/pypet/tmp_pypet_tests``, and changes the working directory to
  ``<basetemp>/pypet`` (an Environment without a log folder writes ``logs/`` there), back when
  pytest ends.
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from . import SERVICE_VARIABLE, SERVICES

HDF5_EXTENSIONS = (".hdf", ".h4", ".hdf4", ".he2", ".h5", ".hdf5", ".he5")  # as pypet's factory

_service_key = pytest.StashKey[str]()
_folder_key = pytest.StashKey[Path]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pypet_suite", "pypet's tests on aiostore's shim")
    group.addoption(
        "--pypet-service", choices=SERVICES, default=None,
        help=f"the storage service pypet's tests run on: aiostore's shim (default) or pypet's own "
             f"(the baseline); default from ${SERVICE_VARIABLE}, else aiostore")


def chosen_service(config: pytest.Config) -> str:
    """The service the run uses: the option, else the environment variable, else aiostore."""
    service = config.getoption("pypet_service") or os.environ.get(SERVICE_VARIABLE) or "aiostore"
    if service not in SERVICES:
        raise pytest.UsageError(f"{SERVICE_VARIABLE}={service!r}: choose one of {SERVICES}")
    return service


@pytest.hookimpl(trylast=True)  # after the tmp_path plugin has made its factory
def pytest_configure(config: pytest.Config) -> None:
    service = chosen_service(config)
    config.stash[_service_key] = service
    bin_folder = os.path.dirname(sys.executable)
    os.environ["PATH"] = os.pathsep.join([bin_folder, os.environ.get("PATH", "")])
    base = _pypet_base(config)
    config.stash[_folder_key] = use_test_folder(base)
    os.chdir(base)  # some tests write into the working directory (Environment's logs/)
    if service == "aiostore":
        from aiostore.compat.pypet import HDF5StorageService

        swap_in(HDF5StorageService)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _folder_key in config.stash:
        os.chdir(config.invocation_params.dir)


def pytest_report_header(config: pytest.Config) -> list[str]:
    service = config.stash.get(_service_key, "?")
    name = ("aiostore.compat.pypet.HDF5StorageService" if service == "aiostore"
            else "pypet.storageservice.HDF5StorageService")
    return [f"pypet service: {service} ({name}); pypet's files in {config.stash.get(_folder_key, '?')}"]


def _pypet_base(config: pytest.Config) -> Path:
    factory = getattr(config, "_tmp_path_factory", None)  # set by pytest's tmp_path plugin
    if factory is None:
        return Path(tempfile.mkdtemp(prefix="pypet-suite-"))
    return Path(factory.mktemp("pypet", numbered=False))


def use_test_folder(base: Path) -> Path:
    """Point pypet's test folder below ``base``; returns that folder.

    ``ioutils`` sets up logging into its folder when first imported, and falls back to
    ``<tempfile.gettempdir()>/tmp_pypet_tests`` when no folder was given (as under pytest), so
    it is imported here with ``tempfile.tempdir`` set to ``base``.
    """
    saved = tempfile.tempdir
    tempfile.tempdir = str(base)
    try:
        from pypet.tests.testutils import ioutils
    finally:
        tempfile.tempdir = saved
    folder = base / ioutils.testParams["tempdir"]
    if ioutils.testParams["actual_tempdir"] != str(folder):  # imported before: set it up again
        folder.mkdir(parents=True, exist_ok=True)
        ioutils.testParams["actual_tempdir"] = str(folder)
        ioutils.testParams["log_config"] = "test"
        ioutils.generic_log_folder = None
        ioutils.prepare_log_config()
    ioutils.testParams["user_tempdir"] = str(folder)
    return folder


def swap_in(substitute: type) -> None:
    """Make pypet create ``substitute`` wherever it would create its own HDF5StorageService."""
    import pypet
    import pypet.environment
    import pypet.storageservice
    import pypet.trajectory
    from pypet.utils import storagefactory
    from pypet.utils.dynamicimports import create_class

    own = storagefactory.HDF5StorageService
    original = storagefactory.storage_factory
    if getattr(original, "substitute", None) is not None:  # swapped already
        return

    def mapped(storage_service: Any, kwargs: dict[str, Any]) -> Any:
        """What pypet's factory would make its own service of, as ``substitute``."""
        if storage_service is None and "filename" in kwargs:
            _, extension = os.path.splitext(kwargs["filename"])
            return substitute if extension in HDF5_EXTENSIONS else None  # None: pypet raises
        if isinstance(storage_service, str):
            storage_service = create_class(storage_service.split(".")[-1], [storage_service, own])
        return substitute if storage_service is own else storage_service

    @functools.wraps(original)
    def storage_factory(storage_service: Any, trajectory: Any = None, **kwargs: Any) -> Any:
        return original(mapped(storage_service, kwargs), trajectory, **kwargs)

    storage_factory.substitute = substitute  # type: ignore[attr-defined]
    storage_factory.original = original  # type: ignore[attr-defined]
    for module in (pypet.trajectory, pypet.environment, storagefactory):
        module.storage_factory = storage_factory  # type: ignore[attr-defined]
    pypet.HDF5StorageService = substitute  # type: ignore[attr-defined,misc]
    pypet.storageservice.HDF5StorageService = substitute  # type: ignore[attr-defined,misc]
