"""``assert_exact`` for aiostore's own tests: the one users get, from :mod:`aiostore.testing`."""

from aiostore.testing import assert_exact

__all__ = ["assert_exact"]
