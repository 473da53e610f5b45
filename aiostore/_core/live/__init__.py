"""Reading a file that a live writer holds, from another process: the writer answers.

HDF5 locks a file open for writing, and PyTables has no SWMR, so while a sweep writes its file
no other process may open it. Instead the writer serves reads of its files: while the HDF5
thread of a process holds a file open for writing, a small server thread of that process
listens on a Unix socket beside the file (``<file>.aiostore-sock``, :mod:`.sockets`), and
queues each read it receives as an ordinary job for the HDF5 thread (:mod:`.server`). A reader
whose HDF5 thread finds the file locked asks that socket instead (:mod:`.client`), so every
read of the services (``load``, ``describe``, ``load_frame``, ``load_dataset``,
``list_trajectories``, ``progress``) and of the CLI works on a live file, unchanged.

Why this design (measured with ``benchmarks/watching.py``; figures in the README's *Watching:
readers of a live sweep*):

- **What a reader sees is what was acknowledged.** The read runs first in the HDF5 thread's
  next batch, ahead of the stores still queued (a queue of thousands of runs would otherwise
  hold it up for seconds): the batches before it are written and flushed, their stores
  acknowledged, and none of the stores after it has run. So it sees every store acknowledged
  before it was asked, none that was not yet, and never half a run (a request is atomic on
  the HDF5 thread); and it is answered as soon as it has run. Periodic snapshots (copies
  of the file) would be as old as the last copy, and a consistent copy stops the writer for
  as long as it takes: ~50 ms for W1's 40,000 runs (36 MB), and it grows with the file.
- **The writer stays fast.** A read costs its HDF5 thread the read itself, and a reader that
  polls ``load_frame`` asks only for what changed since its last read (:mod:`.framecache`):
  the run table's rows of the runs it did not know completed, the parameters only if they
  grew, and the result's packed rows after those it read. Pickling the answer (arrays out of band,
  a column of a table's rows copied once) and sending it happen in a server thread; nothing
  else of the writer waits for readers. A reader that goes away costs nothing but the answer
  it never takes.
- **Nothing new to trust.** The socket is made mode 0600 and the server checks each peer's
  user (``SO_PEERCRED``): only the writer's user's processes (and root) may read, and a
reader trusts only a server of its own user (or root). Answers are
  pickles, as the journal's records are: only the same user's processes exchange them.
- **No hang.** A writer killed mid-read closes its end (the reader gets
  :class:`~aiostore.errors.WriterGoneError` at once); a live one sends a heartbeat every
  second while the HDF5 thread works, and a writer silent for ``SILENCE_SECONDS`` is given up
  on. A stale socket of a killed writer refuses connections: the reader then tells the file's
  real state (free, or locked by a process that does not serve it: FileLockedError).

``aiostore watch`` and the services' ``progress()`` read a trajectory's run table the same way
(:class:`~aiostore._core.live.requests.Progress`), and the failures a ``run_sweep`` of the writer's
process reports (:mod:`.status`).

Limits: a read costs the writer what it reads; a poll of ``load_frame`` reads the run table's
``completed`` column after the last run it knew completed, and the rows of the runs before it
that were not (more than 256 of those: from the first of them on), and ``progress`` the
same rows (three columns), but of those after the last run it knew completed only up to the
last row written since its last poll (``engine/written.py``: in a sweep, about the runs
completed since; runs completed far out of order make it more); a ``load_frame`` that is
not a repeat with more runs (other keys, a ``where`` that drops runs), or after a change in
place (a removal, an update, a merge, a run's row written back to not completed: a store of
the trajectory; a completed run stored again), is read whole (``progress`` too), and so are the
packed rows when a new run's row is not after those read (its result stored before the run
completed, or stored with nodes); writes stay the writer's (FileLockedError); with file locks off
(``HDF5_USE_FILE_LOCKING=FALSE``) a reader's HDF5 thread does not find the file locked and
reads it itself, as before; a reader whose local read of a free file keeps it open (any
service's read) still keeps a later writer out until it closes.
"""
