"""The package as a whole: public names, import rules, the example."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import aiostore

PACKAGE = pathlib.Path(aiostore.__file__).parent
ROOT = PACKAGE.parent
SYNC_MODULES = ["engine", "codec", "model.py", "requests.py", "planning.py", "restoring.py",
                "session.py", "blocking.py", "worker.py", "names.py", "messages.py", "errors.py",
                "live"]


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


def test_all_lists_every_public_name() -> None:
    public = {name for name in vars(aiostore) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(aiostore, name)).__name__ == "module"}
    assert set(aiostore.__all__) == public - modules
    for name in aiostore.__all__:
        assert getattr(aiostore, name).__doc__ or name == "TYPE_FLAG_MAPPING", name


def test_sync_core_never_imports_an_event_loop() -> None:
    for entry in SYNC_MODULES:
        target = PACKAGE / entry
        files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
        for path in files:
            assert not _imports(path) & {"asyncio", "anyio", "trio"}, path


def test_only_the_engine_imports_pytables() -> None:
    for path in PACKAGE.rglob("*.py"):
        if "tables" in _imports(path):
            assert path.parent.name == "engine", path


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
