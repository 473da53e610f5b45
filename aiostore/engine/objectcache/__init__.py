"""The object cache behind :mod:`aiostore.compat.colossus`: its segment files and their
folding (:mod:`.cache`), and how an object's tree is written as nodes (:mod:`.files`)."""
