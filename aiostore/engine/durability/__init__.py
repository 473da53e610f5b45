"""What keeps a file whole across crashes and full disks: the journal of stores
(:mod:`.journal`), its replay when a file is opened (:mod:`.recovery`), the repair of a file
whose writer died before closing it (:mod:`.repair`), and the undo log that takes back a
request that failed part-way (:mod:`.undo`)."""
