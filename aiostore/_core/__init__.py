"""The service's core, private: what lies between the faces and the engine.

A face (:mod:`aiostore.service`, :mod:`aiostore.blocking`) turns a call into a planned job
(:mod:`.planning`, with :mod:`.restoring`, :mod:`.framing`, :mod:`.rowpacking`), in the typed
requests of :mod:`.requests`; the :class:`~.session.Session` keeps a service's options and the
items of its jobs in flight (:mod:`.tracking`, :mod:`.draining`); the one HDF5 thread
(:mod:`.worker`, with :mod:`.heapfreezing`) runs the requests on the engine, and
:mod:`.handoff` gives its answers back to event loops. :mod:`.names` holds the rules of item
and run names. Nothing here is imported by users; the faces and shims re-export what they need.
"""
