"""Writing a checkpoint path atomically, and removing what killed saves left behind.

A save writes ``.<name>.gpugrad-<pid>-<host>-<random>.tmp`` in the target's folder, fsyncs it
and renames it over the target (``os.replace``), then fsyncs the folder: a reader sees the old
file or the new one, never a part of either, even if the saving process is killed or the
machine loses power. A process killed while writing (SIGKILL, OOM) cannot remove its
temporary file, so each save first removes the temporary files of the same target that such a
process left: those of gpugrad's naming whose process, on this host, is gone and that are older
than the save (a dead process's pid since reused by a live one keeps its file until that one
ends: never a file still being written). Files of any other naming are never touched.
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
import time
import zlib
from collections.abc import Callable
from typing import BinaryIO

_UMASK = os.umask(0)
os.umask(_UMASK)

# the longest target name kept whole in a temporary name (the whole stays under 255 bytes)
_NAME_LIMIT = 200
_fsync = os.fsync  # one place for the benchmark to measure what the fsync costs


def _host() -> str:
    """This machine, as 8 hex digits (a folder may be shared by several machines)."""
    return f"{zlib.crc32(socket.gethostname().encode()):08x}"


def _prefix(path: str) -> str:
    """What every temporary file of ``path`` starts with (pid and host follow)."""
    return "." + os.path.basename(path)[:_NAME_LIMIT] + ".gpugrad-"


# <pid>-<host>-<mkstemp's random letters>.tmp after the prefix
_TAIL = re.compile(r"(\d+)-([0-9a-f]{8})-[a-z0-9_]+\.tmp")


def _process_gone(pid: int) -> bool:
    """True when no process ``pid`` runs here (a zombie, killed but not yet reaped, counts
    as gone: it writes nothing more)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # EPERM: it exists, owned by another user
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split()[0] == b"Z"
    except (OSError, IndexError):
        return False


def stale_temporaries(path: str, before: float) -> list[str]:
    """The temporary files of ``path`` left by killed saves: of gpugrad's naming, made on this
    host by a process that is gone, last written before ``before`` (a ``time.time()``)."""
    if os.name != "posix":  # os.kill(pid, 0) would end the process on Windows
        return []
    folder = os.path.dirname(os.path.abspath(path))
    prefix, host, mine = _prefix(path), _host(), os.getpid()
    found = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        m = _TAIL.fullmatch(entry.name[len(prefix) :])
        if m is None or m.group(2) != host or int(m.group(1)) == mine:
            continue  # another naming, another machine's, or this process's own (a thread's)
        try:
            if not entry.is_file(follow_symlinks=False) or entry.stat().st_mtime >= before:
                continue
        except OSError:
            continue
        if _process_gone(int(m.group(1))):
            found.append(entry.path)
    return found


def write_atomically(path: str, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(fh)`` on a temporary file next to ``path``, then put it in place."""
    started = time.time()
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        # PyTorch's error and text, with the file it was asked to write
        raise RuntimeError(f"Parent directory {folder} does not exist (saving '{path}').")
    for stale in stale_temporaries(path, started):
        try:
            os.unlink(stale)
        except OSError:  # another save removed it first, or it cannot be: not this save's
            pass
    try:
        fd, tmp = tempfile.mkstemp(
            dir=folder, prefix=f"{_prefix(path)}{os.getpid()}-{_host()}-", suffix=".tmp"
        )
    except OSError as e:  # name the target, not the temporary file nobody asked for
        if e.errno is None:
            raise
        raise OSError(e.errno, e.strerror, path) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            _fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError) and e.errno is not None and e.filename in (None, tmp):
            raise OSError(e.errno, e.strerror, path) from e
        raise
    _sync_folder(folder)


def _sync_folder(folder: str) -> None:
    """Make the rename itself durable (a power loss could otherwise undo it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        _fsync(fd)
    except OSError:  # some file systems cannot fsync a folder; the rename is done anyway
        pass
    finally:
        os.close(fd)
