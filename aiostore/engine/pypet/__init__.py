"""Reading trajectories that pypet 0.6 wrote, in pypet's own layout (docs/FORMAT.md): how a
file is recognised and its nodes read (:mod:`.files`), its values converted (:mod:`.values`),
its overview tables (:mod:`.overview`), and its tree (:mod:`.tree`)."""
