"""pypet 0.7.0's own test suite, run with aiostore's pypet shim in place of pypet's service.

- :mod:`.swap`: the pytest plugin that swaps the service (``-p tests.pypet_suite.swap``).
- :mod:`.report`: runs a selection in a subprocess pytest and counts the outcomes per file;
  ``python -m tests.pypet_suite.report [--service pypet|aiostore] [files...]``.
- ``pypet.ini``: the subprocess's pytest configuration (not aiostore's: no ``-m 'not slow'``,
  no warnings turned into errors, no cache written into site-packages).

See docs/PYPET_SUITE.md. Nothing here is collected as aiostore tests (no ``test_*.py``);
``tests/compat/test_pypet_suite.py`` runs it.
"""

from __future__ import annotations

# pypet's test modules of the selection, under ``pypet.tests``, in the order they run.
SELECTION: tuple[str, ...] = (
    "unittests.storage_test",
    "unittests.link_test",
    "unittests.shared_data_test",
    "unittests.annotations_test",
    "unittests.parameter_test",
    "integration.environment_test",
    "integration.merge_test",
    "integration.link_test",
    "integration.removal_and_continue_test",
    "integration.shared_data_test",
    "integration.pipeline_test",
)

# The environment variable (and the plugin's --pypet-service option) choosing the service.
SERVICE_VARIABLE = "AIOSTORE_PYPET_SERVICE"
SERVICES = ("aiostore", "pypet")
