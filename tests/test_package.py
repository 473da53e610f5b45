"""The package as a whole: public names, the layers' import rules, the example."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pathlib
import subprocess
import sys
import types

import pytest

import aiostore

PACKAGE = pathlib.Path(aiostore.__file__).parent
ROOT = PACKAGE.parent
EVENT_LOOPS = {"asyncio", "anyio", "trio", "sniffio"}
# Where users import from (docs/ARCHITECTURE.md); everything else is the package's own business.
PUBLIC_MODULES = ["aiostore", "aiostore.errors", "aiostore.model", "aiostore.messages",
                  "aiostore.service", "aiostore.blocking", "aiostore.wrappers", "aiostore.testing",
                  "aiostore.pytest_plugin", "aiostore.dask", "aiostore.sweeps",
                  "aiostore.compat.pypet", "aiostore.compat.colossus", "aiostore.cli"]
# The names users imported before the layers became folders (issue 20, main at 1312f8b): they
# must keep importing from where they did.
NAMES_USERS_IMPORT = {
    "aiostore": [*aiostore.__all__, "__version__"],
    "aiostore.errors": [
        "AiostoreError", "DataNotFoundError", "DiskFullError", "FailedStoresError",
        "FileAccessError", "FileFormatError", "FileLockedError", "InterpolationError",
        "InvalidArgumentError", "InvalidNameError", "ItemExistsError", "LocksUnsupportedError",
        "MergeError", "MissingDependencyError", "NoSuchServiceError", "NotStoredError",
        "ReadOnlyTrajectoryError", "RemovalError", "RunnerError", "ServiceClosedError",
        "StoreAbortedError", "SweepMismatchError", "UnsupportedFeatureError",
        "UnsupportedTypeError"],
    "aiostore.model": ["Group", "Leaf", "ObjectTable", "Parameter", "Result", "RunInfo",
                       "SingleRun", "Trajectory", "format_time"],
    "aiostore.messages": ["Flag", "LoadMode", "Msg", "to_msg"],
    "aiostore.service": ["AsyncServiceClosedError", "AsyncStorageService"],
    "aiostore.blocking": ["StorageService"],
    "aiostore.wrappers": ["AsyncLockWrapper", "AsyncQueueSender", "AsyncQueueWriter",
                          "ProcessQueueWriter", "open_queue"],
    "aiostore.testing": ["assert_exact", "assert_items_equal", "differences"],
    "aiostore.pytest_plugin": ["aiostore_in_memory", "aiostore_options", "aiostore_path",
                               "aiostore_pypet_service", "aiostore_service",
                               "aiostore_sync_service"],
    "aiostore.dask": ["DaskRunner"],
    "aiostore.sweeps": ["RunAnswer", "SweepReport", "run_sweep", "simulate_runs",
                        # were aiostore.runners'
                        "Finished", "ProcessRunner", "Runner"],
    "aiostore.compat.pypet": ["HDF5StorageService", "LazyStorageService", "LockWrapper",
                              "NoSuchServiceError", "QUEUE_LOAD_REFUSED",
                              "QueueStorageServiceSender", "QueueStorageServiceWriter",
                              "StorageService", "default_filename", "pypetconstants"],
    "aiostore.compat.pypetconstants": [
        "TRAJECTORY", "SINGLE_RUN", "LEAF", "TREE", "LIST", "GROUP", "MERGE", "PREPARE_MERGE",
        "BACKUP", "DELETE", "DELETE_LINK", "ACCESS_DATA", "OPEN_FILE", "CLOSE_FILE", "FLUSH",
        "REMOVE", "UPDATE_LEAF", "REMOVE_INCOMPLETE_RUNS", "LOAD_NOTHING", "LOAD_SKELETON",
        "LOAD_DATA", "OVERWRITE_DATA", "UPDATE_SKELETON", "UPDATE_DATA", "STORE_NOTHING",
        "STORE_DATA_SKIPPING", "STORE_DATA", "ARRAY", "CARRAY", "TABLE", "DICT", "FRAME",
        "SERIES", "EARRAY", "VLARRAY", "SPLIT_TABLE", "DATATYPE_TABLE", "SHARED_DATA",
        "NESTED_GROUP", "FORMAT_ZEROS", "RUN_NAME", "RUN_NAME_DUMMY", "FORMATTED_RUN_NAME",
        "SET_FORMAT_ZEROS", "SET_NAME", "SET_NAME_DUMMY", "FORMATTED_SET_NAME",
        "WRAP_MODE_QUEUE", "WRAP_MODE_LOCK", "WRAP_MODE_NONE", "WRAP_MODE_PIPE",
        "WRAP_MODE_LOCAL", "WRAP_MODE_NETLOCK", "WRAP_MODE_NETQUEUE"],
    "aiostore.compat.colossus": ["BASE_DIR", "LOAD_PICKLES", "PersistenceFlagError",
                                 "StorageUser", "getCacheDir"],
    "aiostore.compat.interpolators": ["make_interpolator"],
    "aiostore.cli": ["ExitCode", "cli", "main"],
}
_NEEDS = {"aiostore.dask": "distributed"}


def _imports(path: pathlib.Path, top_level_only: bool = False) -> set[str]:
    """Modules ``path`` imports; with ``top_level_only``, not those imported inside functions
    (optional ones)."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in (tree.body if top_level_only else ast.walk(tree)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    where = ROOT.joinpath(*name.split("."))
    return where.with_suffix(".py").is_file() or (where / "__init__.py").is_file()


def _own_imports(path: pathlib.Path) -> set[str]:
    """The aiostore modules ``path`` imports, relative imports resolved (``from . import x``
    counts as the module ``x`` when it is one)."""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("aiostore"))
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            if not module.startswith("aiostore"):
                continue
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names
                         if _is_module(f"{module}.{alias.name}"))
    return found


def _files(*entries: str) -> list[pathlib.Path]:
    """The modules of the package's ``entries`` (folders or files)."""
    files: list[pathlib.Path] = []
    for entry in entries:
        target = PACKAGE / entry
        files += sorted(target.rglob("*.py")) if target.is_dir() else [target]
    return files


def test_all_lists_every_public_name() -> None:
    public = {name for name in vars(aiostore) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(aiostore, name)).__name__ == "module"}
    assert set(aiostore.__all__) == public - modules
    for name in aiostore.__all__:
        assert getattr(aiostore, name).__doc__ or name == "TYPE_FLAG_MAPPING", name


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_every_public_module_lists_its_names(name: str) -> None:
    """anyio's rule: ``__all__`` names what the module offers, and everything it offers that is
    defined in it (or, for a package, in its modules) is in ``__all__``."""
    if name in _NEEDS and importlib.util.find_spec(_NEEDS[name]) is None:
        pytest.skip(f"needs {_NEEDS[name]}")
    module = importlib.import_module(name)
    listed = set(module.__all__)
    assert len(listed) == len(module.__all__), f"{name}.__all__ names something twice"
    assert not [item for item in listed if not hasattr(module, item)]
    inside = (name, f"{name}.") if hasattr(module, "__path__") else (name,)
    unlisted = [item for item, value in vars(module).items()
                if not item.startswith("_") and not isinstance(value, types.ModuleType)
                and str(getattr(value, "__module__", "")).startswith(inside)
                and (getattr(value, "__module__", "") == name or hasattr(module, "__path__"))
                and item not in listed]
    assert not unlisted, f"{name} offers {unlisted} without listing them in __all__"


@pytest.mark.parametrize("name", sorted(NAMES_USERS_IMPORT))
def test_the_names_users_import_still_import(name: str) -> None:
    if name in _NEEDS and importlib.util.find_spec(_NEEDS[name]) is None:
        pytest.skip(f"needs {_NEEDS[name]}")
    module = importlib.import_module(name)
    assert not [item for item in NAMES_USERS_IMPORT[name] if not hasattr(module, item)]


def test_the_top_level_holds_the_public_modules_only() -> None:
    """At most 14 public modules at the top (DESIGN.md's layout); the rest live in folders."""
    top = sorted(path.name for path in PACKAGE.glob("*.py") if not path.name.startswith("_"))
    assert len(top) <= 14, top
    assert {f"aiostore.{name.removesuffix('.py')}" for name in top} <= {*NAMES_USERS_IMPORT}


def test_no_module_is_over_600_lines() -> None:
    long = {str(path.relative_to(ROOT)): lines for path in PACKAGE.rglob("*.py")
            if (lines := len(path.read_text().splitlines())) > 600}
    assert not long


def test_the_core_codec_and_engine_import_no_event_loop() -> None:
    """Only the faces, the sweeps and the core's hand-off to event loops know of one."""
    for path in _files("_core", "codec", "engine", "model.py", "messages.py", "errors.py",
                       "blocking.py", "testing.py"):
        if path == PACKAGE / "_core" / "handoff.py":  # hands the HDF5 thread's answers to loops
            continue
        assert not _imports(path) & EVENT_LOOPS, path


def test_only_the_engine_imports_pytables() -> None:
    for path in PACKAGE.rglob("*.py"):
        if "tables" in _imports(path):
            assert path.relative_to(PACKAGE).parts[0] == "engine", path


def test_the_codec_knows_values_only() -> None:
    """The codec takes nothing from the core, the engine or the faces."""
    allowed = ("aiostore.codec", "aiostore.errors", "aiostore.model")
    for path in _files("codec"):
        assert not [name for name in _own_imports(path) if not name.startswith(allowed)], path


def test_the_engine_takes_only_requests_answers_names_and_the_codec() -> None:
    """The engine executes the core's typed requests, answers its typed answers, and knows
    nothing else above it."""
    allowed = ("aiostore.engine", "aiostore.codec", "aiostore.errors", "aiostore.model",
               "aiostore._core.requests", "aiostore._core.answers", "aiostore._core.names",
               "aiostore._core.live.requests")  # live reading's requests (plain data)
    for path in _files("engine"):
        assert not [name for name in _own_imports(path) if not name.startswith(allowed)], path


def test_code_above_the_engine_reaches_it_through_its_package() -> None:
    """The core, the faces and the CLI take from the engine only what its package offers
    (``aiostore.engine.__all__``), never its modules."""
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).parts[0] == "engine":
            continue
        inner = [name for name in _own_imports(path) if name.startswith("aiostore.engine.")]
        assert not inner, path


def test_production_code_does_not_import_the_test_helpers() -> None:
    """aiostore.testing and the pytest plugin are for users' tests: nothing else imports them."""
    for path in PACKAGE.rglob("*.py"):
        if path.name in ("testing.py", "pytest_plugin.py"):
            continue
        imported = _own_imports(path)
        assert "aiostore.testing" not in imported, path
        assert "aiostore.pytest_plugin" not in imported, path


def test_a_script_that_never_closes_its_service_exits(tmp_path: pathlib.Path) -> None:
    """The HDF5 thread is not a daemon, yet it must not keep the interpreter alive at exit."""
    script = (
        "import aiostore\n"
        f"svc = aiostore.StorageService({str(tmp_path / 'f.h5')!r})\n"
        "svc.put('LEAF', aiostore.Result('results.r', 1.0), trajectory_name='t')\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    with aiostore.StorageService(str(tmp_path / "f.h5")) as svc:
        loaded = svc.load("LEAF", aiostore.Result("results.r"), trajectory_name="t")
    assert loaded.data == {"r": 1.0}


def _declared(*extras: str) -> set[str]:
    """The distributions pyproject.toml declares: the dependencies and those of ``extras``."""
    import re
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"],
              *(item for extra in extras for item in project["optional-dependencies"][extra])]
    return {re.split(r"[<>=!~\[; ]", item, maxsplit=1)[0].lower().replace("_", "-")
            for item in wanted}


def test_the_main_job_and_the_package_import_only_what_they_declare() -> None:
    """The README's first command installs ``.[examples]`` in a fresh virtualenv: every module
    the main job and the package import at their top level comes from a distribution declared
    there, not from one that happens to be installed beside it (sniffio once did)."""
    import importlib.metadata

    providers = importlib.metadata.packages_distributions()
    checked = {ROOT / "examples" / "async_sweep.py": _declared("examples")}
    for path in PACKAGE.rglob("*.py"):
        if path.name not in ("dask.py", "pytest_plugin.py") and "compat" not in path.parts:
            checked[path] = _declared()
    for path, declared in checked.items():
        for module in _imports(path, top_level_only=True):
            if module in sys.stdlib_module_names or module in ("aiostore", "__future__"):
                continue
            dists = {name.lower().replace("_", "-") for name in providers.get(module, [])}
            assert dists & declared, f"{path.relative_to(ROOT)} imports {module} ({dists})"
