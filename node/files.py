"""The node's files on disk are its owner's alone (issue 12 §5).

The data folder holds the whole graph (the database, its -wal and -shm files, backups), the password hash and
the web session key (in the database), the owner token, keys, uploads waiting to be imported and the config.
Everything in it is created readable by the owner only (folders 0700, files 0600) where it is made
(Database.open and backup, uploads in node/http.py, the token and keys, the config), and ``tighten`` puts right
what an older Kith or another tool left readable by others, each time the node's files are opened.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["tighten", "write_private"]

_OTHERS = stat.S_IRWXG | stat.S_IRWXO  # 0o077: what anyone but the owner may do


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (UTF-8), readable and writable by the owner only, even if it existed."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        os.fchmod(fd, 0o600)
        fh.write(text)


def tighten(folder: Path) -> list[Path]:
    """Take every permission of group and others off ``folder`` and everything under it (links are not
    followed, files of another owner are left alone). Returns what was changed."""
    changed: list[Path] = []
    if not folder.is_dir():
        return changed
    paths = [folder]
    for root, dirs, files in os.walk(folder):  # os.walk does not descend into linked folders
        paths.extend(Path(root) / name for name in (*dirs, *files))
    for path in paths:
        try:
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode) or not st.st_mode & _OTHERS:
                continue
            os.chmod(path, stat.S_IMODE(st.st_mode) & ~_OTHERS)
        except OSError:  # gone meanwhile, or not ours: nothing this process may change
            continue
        changed.append(path)
    return changed
