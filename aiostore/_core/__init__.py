"""The service's core, private: what lies between the faces and the engine.

A face (:mod:`aiostore.service`, :mod:`aiostore.blocking`) hands its options (:mod:`.options`)
to a :class:`~.session.Session`, and turns each call into a planned job (:mod:`.planning`, with
:mod:`.restoring`, :mod:`.framing`, :mod:`.rowpacking`) in the typed requests of
:mod:`.requests`; the session keeps track of its jobs in flight (:mod:`.tracking`,
:mod:`.draining`); the one HDF5 thread (:mod:`.worker`, with :mod:`.heapfreezing`) runs the
requests on the engine, and :mod:`.handoff` gives its answers back to event loops.
:mod:`.names` holds the rules of item and run names. Users import nothing from here; the faces
and shims re-export what they need.
"""
