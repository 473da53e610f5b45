"""Run a sweep's simulations on Dask distributed (``pip install aiostore[dask]``): see
:mod:`aiostore.sweeps.dask`."""

from .sweeps.dask import DaskRunner

__all__ = ["DaskRunner"]
