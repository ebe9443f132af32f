"""File modes of what ilvb keeps on disk: the data directory 0700, its files 0600.

The SQLite database holds every app's secret; the admin key file holds the admin key. SQLite
creates its ``-wal``/``-shm`` files with the mode of the database file, so creating that file
0600 first keeps all three private; files of an older install are tightened when opened.
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
SQLITE_SIDE_SUFFIXES = ("-wal", "-shm", "-journal")


def secure_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if missing and make it 0700; returns the expanded path."""
    path = path.expanduser()
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)
    return path


def secure_sqlite_file(database: Path) -> None:
    """Create the database file 0600 if missing (its parent 0700 if missing); tighten it and
    its side files (``-wal``, ``-shm``, ``-journal``) to 0600 if they exist."""
    database = database.expanduser()
    database.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.close(os.open(database, os.O_CREAT | os.O_RDWR, FILE_MODE))
    for path in (database, *(database.with_name(database.name + s) for s in SQLITE_SIDE_SUFFIXES)):
        if path.exists():
            os.chmod(path, FILE_MODE)


def write_private_file(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` readable by its owner only (0600, also if it existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)
    return path
