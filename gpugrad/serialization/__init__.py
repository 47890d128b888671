"""gpugrad.save / gpugrad.load, and PyTorch's ``torch.serialization`` allowlist API.

``save`` writes state dicts (tensors and plain data in dicts, lists and tuples) as safetensors
files, with no pickle in them; anything else (a whole model, an optimizer object) is pickled
in PyTorch's own zip format, so real ``torch.load(f, weights_only=False)`` reads it back with
torch's classes. ``load`` reads both, and what ``torch.save`` writes (the zip format and the
legacy one), without torch: ``weights_only=True`` (PyTorch's default) through a restricted
unpickler that builds only tensors and plain data, ``weights_only=False`` through pickle, only
when asked.
"""

from __future__ import annotations

import io
import os
import warnings
from typing import Any, BinaryIO

from .. import _warn
from . import legacy_format, safetensors_format, zip_format
from .atomic_write import write_atomically
from .errors import CheckpointError, WeightsOnlyError
from .safe_globals import add_safe_globals, clear_safe_globals, get_safe_globals, safe_globals
from .unpickling import CheckpointUnpickler
from .weights_only import UNSAFE_MESSAGE, python3_name

__all__ = [
    "CheckpointError",
    "WeightsOnlyError",
    "add_safe_globals",
    "clear_safe_globals",
    "get_safe_globals",
    "get_unsafe_globals_in_checkpoint",
    "load",
    "safe_globals",
    "save",
]

FileLike = str | os.PathLike | BinaryIO
DEFAULT_PROTOCOL = 2


def save(
    obj: Any,
    f: FileLike,
    pickle_module: Any = None,
    pickle_protocol: int = DEFAULT_PROTOCOL,
    _use_new_zipfile_serialization: bool = True,
    _disable_byteorder_record: bool = False,
    *,
    format: str | None = None,
) -> None:
    """Write ``obj`` to ``f`` (a path or a binary file object).

    Tensors and plain data (numbers, strings, None, dtypes, devices, numpy arrays, in dicts,
    lists and tuples) are written as a safetensors file; any other object as PyTorch's zip
    checkpoint (``torch.load`` reads it; tensors come back as torch tensors, gpugrad classes
    as the torch classes of the same names). ``format="pt"`` writes PyTorch's format for a
    state dict too; ``_use_new_zipfile_serialization=False`` writes PyTorch's legacy format
    (for such objects) as torch does. A path is written atomically (a temporary file in the
    same folder, fsynced, then ``os.replace``), so a failed or killed save leaves the old file
    as it was; a save also removes the temporary files that killed saves of the same path left.
    Tensors are streamed to the file one at a time (no copy of the whole payload in memory).
    ``pickle_module`` is accepted and ignored: gpugrad pickles with its own pickler (it names
    gpugrad's classes by PyTorch's paths).
    """
    if format not in (None, "safetensors", "pt"):
        raise ValueError(f"format must be None, 'safetensors' or 'pt', not {format!r}")
    plan = None
    if format != "pt":
        try:
            plan = safetensors_format.Writer(obj)
        except safetensors_format.NeedsPickle as why:
            if format == "safetensors":
                raise TypeError(f"gpugrad.save cannot store {why} in a safetensors file") from None

    def write(fh: BinaryIO) -> None:
        if plan is not None:
            plan.write(fh)
        elif not _use_new_zipfile_serialization:
            legacy_format.write(obj, fh, pickle_protocol)
        else:
            zip_format.write(obj, fh, pickle_protocol, not _disable_byteorder_record)

    if hasattr(f, "write"):
        if plan is None and not _seekable(f):
            buf = io.BytesIO()
            write(buf)
            f.write(buf.getvalue())
        else:
            write(f)
        return
    write_atomically(os.fspath(f), write)


def _seekable(f) -> bool:
    try:
        return bool(f.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def load(
    f: FileLike,
    map_location: Any = None,
    pickle_module: Any = None,
    *,
    weights_only: bool | None = None,
    mmap: bool | None = None,
    **pickle_load_args: Any,
) -> Any:
    """Read a checkpoint: what :func:`save` or ``torch.save`` wrote, or a safetensors file.

    ``weights_only`` (default True, as PyTorch): only tensors, storages, containers, numbers,
    strings, dtypes, devices, ``Size`` and the globals allowed by :func:`add_safe_globals`;
    anything else raises PyTorch's message, which suggests ``weights_only=False`` (full
    unpickling: it runs code from the file, so only for trusted files). ``map_location``: None
    (where each storage was saved), a device or device string, a dict from saved locations to
    locations, or a callable ``(storage, location) -> storage | None``. ``mmap=True`` maps the
    tensors of a zip or safetensors checkpoint from the file (copy-on-write views) instead of
    reading them; otherwise each tensor is read into its own memory (a safetensors file through
    a memory map, one copy per tensor). Unreadable files raise :class:`CheckpointError` naming
    the file, the reason and, where there is one, the entry at fault.
    """
    weights_only = _weights_only(weights_only, pickle_module)
    if weights_only and pickle_module is not None:
        raise RuntimeError("Can not safely load weights when explicit pickle_module is specified")
    if weights_only and pickle_load_args and set(pickle_load_args) != {"encoding"}:
        _warn.warn("pickle_load_args only works if `weights_only=False`.")
    encoding = pickle_load_args.pop("encoding", "utf-8")
    if weights_only:
        pickle_load_args = {}
    name = _describe(f)
    if mmap and hasattr(f, "read"):
        raise ValueError("f must be a file path in order to use the mmap argument")
    with _open(f) as fh:
        head = fh.read(512)
        fh.seek(-len(head), 1)
        if zip_format.is_zip(head):
            unpickler = CheckpointUnpickler(
                name, weights_only, pickle_module, encoding, **pickle_load_args
            )
            return zip_format.read(fh, unpickler, map_location, os.fspath(f) if mmap else None)
        if head[:1] == b"\x80" and head[8:9] != b"{":  # a pickle, not a safetensors header
            if mmap:
                raise RuntimeError(
                    "mmap can only be used with files saved with `torch.save("
                    f"{name}, _use_new_zipfile_serialization=True), please torch.save your "
                    "checkpoint with this option in order to use mmap."
                )
            unpickler = CheckpointUnpickler(
                name, weights_only, pickle_module, encoding, **pickle_load_args
            )
            return legacy_format.read(fh, unpickler, map_location)
        if head[257:262] == b"ustar":
            raise CheckpointError(
                f"cannot load '{name}': it is in PyTorch's legacy .tar format (before PyTorch "
                f"0.4), which gpugrad does not read. {UNSAFE_MESSAGE}",
                path=name,
            )
        path = os.fspath(f) if not hasattr(f, "read") else None
        return safetensors_format.read(fh, name, map_location, path, bool(mmap))


def _weights_only(weights_only: bool | None, pickle_module: Any) -> bool:
    """PyTorch's rule: True unless a pickle_module is given; its environment variables
    TORCH_FORCE_WEIGHTS_ONLY_LOAD / TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD (the latter only when the
    call did not say) override it."""
    truthy = ("1", "y", "yes", "true")
    force = os.getenv("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "0").lower() in truthy
    force_no = os.getenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "0").lower() in truthy
    if force and force_no:
        raise RuntimeError(
            "Only one of `TORCH_FORCE_WEIGHTS_ONLY_LOAD` or `TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD` "
            "should be set, but both were set."
        )
    if force:
        return True
    if weights_only is None:
        if force_no:
            _warn.warn(
                "Environment variable TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD detected, since the"
                "`weights_only` argument was not explicitly passed to `torch.load`, forcing "
                "weights_only=False.",
                UserWarning,
            )
            return False
        return pickle_module is None
    return bool(weights_only)


def get_unsafe_globals_in_checkpoint(f: FileLike) -> list[str]:
    """The globals of a zip checkpoint's pickle that a ``weights_only`` load would refuse."""
    import pickletools
    import zipfile

    from .safe_globals import user_allowed

    unpickler = CheckpointUnpickler(_describe(f), True)
    allowed = set(unpickler.allowed) | set(user_allowed())
    with _open(f) as fh:
        try:
            zf = zipfile.ZipFile(fh)
            pkl = next(n for n in zf.namelist() if n.partition("/")[2] == "data.pkl")
            data = zf.read(pkl)
        except (zipfile.BadZipFile, StopIteration, OSError) as e:
            raise unpickler.error(f"not a zip checkpoint ({e})") from None
    found = set()
    for op, arg, _ in pickletools.genops(data):
        if op.name == "GLOBAL":
            found.add(".".join(python3_name(*arg.split(" ", 1))))
    return sorted(found - allowed)


def _describe(f) -> str:
    if hasattr(f, "read"):
        return getattr(f, "name", None) or "<file object>"
    return os.fspath(f)


class _open:  # noqa: N801 - a context manager named for what it does
    """A seekable binary file for ``f``: the path opened, or the file object (read into memory
    when it cannot seek)."""

    def __init__(self, f: FileLike) -> None:
        self.f, self.own = f, not hasattr(f, "read")

    def __enter__(self) -> BinaryIO:
        if self.own:
            self.fh = open(os.fspath(self.f), "rb")  # noqa: SIM115 - closed in __exit__
            return self.fh
        if _seekable(self.f):
            return self.f
        return io.BytesIO(self.f.read())

    def __exit__(self, *exc: Any) -> None:
        if self.own:
            self.fh.close()
