"""Counts in the command's output, their nouns in the singular or the plural."""

from __future__ import annotations

__all__ = ["plural"]


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 run``, ``0 runs``, ``3 runs`` (``nouns``: a plural that is not ``noun`` + s)."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"
