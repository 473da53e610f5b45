"""Blocking shims with the names and signatures of the libraries aiostore replaces.

- :mod:`aiostore.compat.pypet`: pypet's storage service and its multiprocessing wrappers.
"""
