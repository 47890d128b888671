"""Checkpoints of tensors and plain data as safetensors files (what gpugrad.save writes for
state dicts: no pickle in them).

Tensors are safetensors entries; everything else (dicts with any simple keys, lists, tuples,
numbers, strings, None, dtypes, devices) is JSON in the file's ``__metadata__`` under
``"gpugrad"``, with each tensor leaf naming its entry. A model's state dict is stored under
its own keys, so ``safetensors.torch.load_file`` reads a gpugrad checkpoint as a PyTorch state
dict, and a plain safetensors file written by PyTorch loads here as ``{name: tensor}``.

Writing streams: the header comes from the tensors' shapes and dtypes, then each tensor's
bytes go to the file in turn (a GPU tensor is copied to the host just before its turn), so a
save never holds a second copy of the payload. Reading checks the whole header first (a
malformed file raises :class:`CheckpointError` naming the file and the entry), then maps the
file and makes each tensor one copy out of the map, dropping the mapped pages once copied
(``mmap=True``: copy-on-write views of the map instead, no copy at all).
"""

from __future__ import annotations

import json
import math
import mmap as _mmap
from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import Any, BinaryIO, NamedTuple

import numpy as np

from .. import _dtype as D
from .._device import device as Device
from .._tensor import Tensor
from .errors import CheckpointError

_META = "gpugrad"
_VERSION = 1
# safetensors dtype names gpugrad can hold, as little-endian NumPy dtypes (the file's order)
_DTYPES = {
    "BOOL": np.dtype("|b1"),
    "U8": np.dtype("|u1"),
    "I8": np.dtype("|i1"),
    "I16": np.dtype("<i2"),
    "I32": np.dtype("<i4"),
    "I64": np.dtype("<i8"),
    "F16": np.dtype("<f2"),
    "BF16": D.BFLOAT16_NP,  # ml_dtypes' (native order: little-endian hosts only, as NumPy's)
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in _DTYPES.items()}
# safetensors' other dtypes: gpugrad has no float8, float4, uint16+ or complex
_FOREIGN = {"U16", "U32", "U64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2"}
_FOREIGN |= {"F4", "C64", "C128"}
_DONTNEED = getattr(_mmap, "MADV_DONTNEED", None)
_DICT_TYPES = {"dict": dict, "OrderedDict": OrderedDict, "Counter": Counter}


def _native(dt: np.dtype) -> np.dtype:
    """``dt`` in the host's byte order; bfloat16 as ml_dtypes' own dtype object (which the
    ops recognise by identity: ``newbyteorder`` makes an equal but distinct one)."""
    return D.BFLOAT16_NP if dt == D.BFLOAT16_NP else dt.newbyteorder("=")


class NeedsPickle(TypeError):
    """The object holds more than tensors and plain data: it is saved in PyTorch's format."""


class _Source(NamedTuple):
    """A tensor's memory as found when saving: a NumPy array, or a device array and the
    function that copies it to the host (called only when its bytes are written)."""

    data: Any
    to_host: Callable[[Any], np.ndarray] | None


class _Encoder:
    """Walks the object: JSON-able structure out, tensors collected (not copied) by name."""

    def __init__(self) -> None:
        self.arrays: dict[str, _Source] = {}

    def name_for(self, path: list[str]) -> str:
        base = ".".join(path) or "tensor"
        if base == "__metadata__":
            base = "_" + base
        name, k = base, 1
        while name in self.arrays:
            name, k = f"{base}#{k}", k + 1
        return name

    def encode(self, obj: Any, path: list[str]) -> Any:
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):
            return int(obj)
        if isinstance(obj, float):
            return obj if math.isfinite(obj) else {"float": repr(obj)}
        if isinstance(obj, Tensor):
            return self.tensor(obj, path)
        if isinstance(obj, np.ndarray):
            enc = self.array(obj, path)
            enc["numpy"] = True
            return enc
        if isinstance(obj, np.generic):
            return self.encode(obj.item(), path)
        if isinstance(obj, D.dtype):
            return {"dtype": obj.name}
        if isinstance(obj, Device):
            return {"device": str(obj)}
        if isinstance(obj, list):
            return [self.encode(v, path + [str(i)]) for i, v in enumerate(obj)]
        if isinstance(obj, tuple):
            return {"tuple": [self.encode(v, path + [str(i)]) for i, v in enumerate(obj)]}
        if isinstance(obj, dict):
            kind = (
                "Counter"
                if isinstance(obj, Counter)
                else "OrderedDict"
                if isinstance(obj, OrderedDict)
                else "dict"
            )
            items = [[self.key(k, path), self.encode(v, path + [str(k)])] for k, v in obj.items()]
            return {"dict": items, "type": kind} if kind != "dict" else {"dict": items}
        raise NeedsPickle(
            f"an object of type {type(obj).__qualname__} at '{'.'.join(path) or '<root>'}'"
        )

    def key(self, k: Any, path: list[str]) -> Any:
        if k is None or isinstance(k, (bool, int, float, str)):
            return self.encode(k, path)
        if isinstance(k, tuple):
            return {"tuple": [self.key(v, path) for v in k]}
        raise NeedsPickle(
            f"a dict key of type {type(k).__qualname__} at '{'.'.join(path) or '<root>'}'"
        )

    def tensor(self, t: Tensor, path: list[str]) -> dict:
        backend = t._device.backend
        # to_host on the CPU too (a no-op there): a compiled step that saves is seen doing it
        enc = self.array(t._data, path, backend.to_host)
        if t._device.type != "cpu":
            enc["device"] = str(t._device)
        if t._requires_grad:
            enc["requires_grad"] = True
        if type(t).__name__ == "Parameter":
            enc["parameter"] = True
        return enc

    def array(self, data: Any, path: list[str], to_host=None) -> dict:
        if np.dtype(data.dtype).newbyteorder("=") not in _CODES:
            raise NeedsPickle(f"an array of dtype {data.dtype} at '{'.'.join(path)}'")
        name = self.name_for(path)
        self.arrays[name] = _Source(data, to_host)
        return {"tensor": name}


def _file_bytes(src: _Source) -> memoryview:
    """A tensor's bytes as safetensors stores them: C order, little-endian."""
    arr = src.to_host(src.data) if src.to_host is not None else src.data
    if not arr.flags.c_contiguous:  # one tensor's copy, made only now
        arr = np.ascontiguousarray(arr)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    return memoryview(arr.reshape(-1).view(np.uint8))


class Writer:
    """A safetensors file planned from an object: :meth:`write` streams it to a file."""

    def __init__(self, obj: Any) -> None:
        """Raises :class:`NeedsPickle` when ``obj`` holds more than tensors and plain data."""
        enc = _Encoder()
        structure = enc.encode(obj, [])
        meta = {"format": "pt", _META: json.dumps({"version": _VERSION, "obj": structure})}
        header: dict[str, Any] = {"__metadata__": meta}
        # widest elements first (as safetensors orders them): with the header padded to 8
        # bytes, every tensor then starts at a multiple of its element size in the file
        names = sorted(enc.arrays, key=lambda k: -np.dtype(enc.arrays[k].data.dtype).itemsize)
        offset = 0
        for name in names:
            data = enc.arrays[name].data
            dt = np.dtype(data.dtype)
            nbytes = math.prod(data.shape) * dt.itemsize
            header[name] = {
                "dtype": _CODES[dt.newbyteorder("=")],
                "shape": [int(n) for n in data.shape],
                "data_offsets": [offset, offset + nbytes],
            }
            offset += nbytes
        raw = json.dumps(header, separators=(",", ":")).encode()
        raw += b" " * (-len(raw) % 8)  # safetensors pads the header with spaces
        self.header = len(raw).to_bytes(8, "little") + raw
        self.sources = [enc.arrays[name] for name in names]
        self.nbytes = len(self.header) + offset

    def write(self, fh: BinaryIO) -> None:
        """Write the file to ``fh`` (sequentially: any writable binary file will do)."""
        fh.write(self.header)
        for src in self.sources:
            if math.prod(src.data.shape):
                fh.write(_file_bytes(src))


# ---- reading ------------------------------------------------------------------------------
class _Spec(NamedTuple):
    """One tensor entry of a header, checked: its dtype (the file's), shape and byte range
    in the data that follows the header."""

    key: str
    dtype: np.dtype
    shape: tuple[int, ...]
    start: int
    end: int


def _error(name: str, why: str, key: str | None = None) -> CheckpointError:
    """The error for file ``name``, naming the header entry at fault when there is one."""
    where = "" if key is None else f"header entry '{key}': "
    return CheckpointError(f"cannot load '{name}': {where}{why}", path=name, key=key)


class _Duplicate(ValueError):
    """A JSON object of the header names a key twice (which of the two is meant?)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        raise _Duplicate(next(k for k, _ in pairs if k in seen or seen.add(k)))
    return out


def parse_header(raw: bytes, payload: int, name: str) -> tuple[list[_Spec], dict]:
    """The tensor entries of a safetensors header (in the header's order) and its ``__metadata__``;
    ``payload``: the bytes after the header. Anything malformed raises
    :class:`CheckpointError` naming the file and the entry."""

    def bad(why: str, key: str | None = None) -> CheckpointError:
        return _error(name, why, key)

    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except _Duplicate as e:
        raise bad("the key appears twice in the header", e.key) from None
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise bad(f"not a safetensors file (its header is not JSON: {e})") from None
    if not isinstance(header, dict):
        raise bad("not a safetensors file (its header is not a JSON object)")
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise bad("metadata must map names to strings", "__metadata__")
    specs = []
    for key, spec in header.items():
        if key != "__metadata__":
            specs.append(_check_entry(key, spec, bad))
    end, last = 0, None
    for s in sorted(specs, key=lambda s: (s.start, s.end)):
        if s.end > payload:
            raise bad(
                f"its data (bytes {s.start}..{s.end} after the header) runs past the end of "
                f"the file ({payload} bytes of data): the file is truncated",
                s.key,
            )
        if s.start < end:
            raise bad(f"its data (from byte {s.start}) overlaps that of '{last}'", s.key)
        if s.start > end:
            raise bad(
                f"its data starts at byte {s.start}, bytes {end}..{s.start} are unused", s.key
            )
        end, last = s.end, s.key
    if end != payload:
        raise bad(
            f"truncated or corrupted: tensor data should end at byte {8 + len(raw) + end}, "
            f"file has {8 + len(raw) + payload} bytes"
        )
    return specs, meta


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_entry(key: str, spec: Any, bad) -> _Spec:
    if not isinstance(spec, dict):
        raise bad(f"expected an object with dtype, shape and data_offsets, got {spec!r:.60}", key)
    missing = [f for f in ("dtype", "shape", "data_offsets") if f not in spec]
    if missing:
        raise bad(f"'{missing[0]}' is missing", key)
    code, shape, offsets = spec["dtype"], spec["shape"], spec["data_offsets"]
    if not isinstance(code, str):
        raise bad(f"dtype must be a string, not {code!r:.60}", key)
    if code not in _DTYPES:
        if code in _FOREIGN:
            raise bad(f"tensor '{key}' has dtype {code}, which gpugrad does not support", key)
        raise bad(f"unknown dtype {code!r:.60}", key)
    if not isinstance(shape, list) or not all(_is_int(n) and n >= 0 for n in shape):
        raise bad(f"shape must be a list of sizes >= 0, not {shape!r:.60}", key)
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(_is_int(n) for n in offsets)
        or not 0 <= offsets[0] <= offsets[1]
    ):
        raise bad(
            f"data_offsets must be [begin, end] with 0 <= begin <= end, not {offsets!r:.60}", key
        )
    dt = _DTYPES[code]
    nbytes = math.prod(shape) * dt.itemsize
    if offsets[1] - offsets[0] != nbytes:
        raise bad(
            f"shape {shape} of {code} needs {nbytes} bytes, data_offsets {offsets} hold "
            f"{offsets[1] - offsets[0]}",
            key,
        )
    return _Spec(key, dt, tuple(shape), offsets[0], offsets[1])


class _Payload:
    """The tensor data of one file: memory-mapped from a path, or read from a file object."""

    def __init__(self, fh: BinaryIO, start: int, path: str | None, views: bool, name: str) -> None:
        self.fh, self.start, self.views, self.name = fh, start, views, name
        self.map = None
        if path is not None:
            # copy-on-write for views (writes to loaded tensors never reach the file, as
            # torch.load(mmap=True)); read-only when each tensor is copied out
            access = _mmap.ACCESS_COPY if views else _mmap.ACCESS_READ
            try:
                self.map = _mmap.mmap(fh.fileno(), 0, access=access)
            except (OSError, ValueError):  # a file system that cannot map: read it instead
                if views:
                    raise

    def array(self, spec: _Spec, keep_view: bool) -> np.ndarray:
        """The tensor's array: its own memory, or (``keep_view`` with a map) a view of the map."""
        native = _native(spec.dtype)
        numel = math.prod(spec.shape)
        if not numel:
            return np.empty(spec.shape, native)
        offset = self.start + spec.start
        if self.map is None:
            return self._read(spec, native, offset)
        view = np.frombuffer(self.map, spec.dtype, numel, offset).reshape(spec.shape)
        if keep_view and view.dtype == native and offset % native.itemsize == 0:
            return view
        out = np.empty(spec.shape, native)
        np.copyto(out, view)
        del view
        self.release(spec)
        return out

    def release(self, spec: _Spec) -> None:
        """Drop the file's pages of a tensor that was copied (to the host or a device) from
        this process's memory; a read-only map only (views keep theirs)."""
        if self.map is not None and not self.views and _DONTNEED is not None:
            offset = self.start + spec.start
            page = offset - offset % _mmap.PAGESIZE
            if spec.end > spec.start:
                self.map.madvise(_DONTNEED, page, offset + spec.end - spec.start - page)

    def _read(self, spec: _Spec, native: np.dtype, offset: int) -> np.ndarray:
        out = np.empty(spec.shape, spec.dtype)
        buf = memoryview(out.reshape(-1).view(np.uint8))
        self.fh.seek(offset)
        got = 0
        while got < len(buf) and (n := self.fh.readinto(buf[got:])):
            got += n
        if got < len(buf):
            raise _error(self.name, "its data is truncated", spec.key)
        return out if out.dtype == native else out.astype(native)

    def close(self) -> None:
        if self.map is not None:
            try:
                self.map.close()
            except BufferError:  # views of it live on in the loaded tensors
                pass


def _target(map_location, saved: str) -> Device:
    if map_location is None:
        return Device(saved)
    if isinstance(map_location, (str, Device)):
        return Device(map_location)
    if isinstance(map_location, dict):
        return Device(map_location.get(saved, saved))
    raise TypeError(
        "map_location must be None, a device, a device string or a dict mapping saved "
        f"devices to devices, not {type(map_location).__name__}"
    )


class _Corrupt(Exception):
    """A structure entry that is not what gpugrad writes, and where it is (a dotted path)."""

    def __init__(self, where: str, why: str) -> None:
        super().__init__(why)
        self.where, self.why = where, why


class _Decoder:
    """Rebuilds the saved object from the metadata's structure, tensors fetched by name."""

    def __init__(self, specs: dict[str, _Spec], payload: _Payload, map_location) -> None:
        self.specs, self.payload, self.map_location = specs, payload, map_location
        self.done: dict[str, np.ndarray] = {}

    def decode(self, v: Any, where: str) -> Any:
        if isinstance(v, list):
            return [self.decode(x, f"{where}.{i}") for i, x in enumerate(v)]
        if not isinstance(v, dict):
            return v
        if "tensor" in v:
            return self.tensor(v, where)
        if "dict" in v:
            cls = _DICT_TYPES.get(v.get("type", "dict"), dict)
            items = v["dict"]
            if not isinstance(items, list) or not all(
                isinstance(kv, list) and len(kv) == 2 for kv in items
            ):
                raise _Corrupt(
                    where, f"a dict's items must be [key, value] pairs, not {items!r:.60}"
                )
            d = {}
            for k, x in items:
                key = self.key(k, where)
                d[key] = self.decode(x, f"{where}.{key}" if where else str(key))
            return d if cls is dict else cls(d)
        if "tuple" in v:
            if not isinstance(v["tuple"], list):
                raise _Corrupt(where, f"a tuple must hold a list, not {v['tuple']!r:.60}")
            return tuple(self.decode(x, f"{where}.{i}") for i, x in enumerate(v["tuple"]))
        if "float" in v:
            try:
                return float(v["float"])
            except (TypeError, ValueError):
                raise _Corrupt(where, f"not a float: {v['float']!r:.60}") from None
        if "dtype" in v:
            dt = D._BY_NAME.get(v["dtype"]) if isinstance(v["dtype"], str) else None
            if dt is None:
                raise _Corrupt(where, f"unknown dtype {v['dtype']!r:.60}")
            return dt
        if "device" in v:
            return self.device(v["device"], where)
        raise _Corrupt(where, f"unknown entry {v!r:.60}")

    def key(self, k: Any, where: str) -> Any:
        if isinstance(k, dict) and "tuple" in k:
            if not isinstance(k["tuple"], list):
                raise _Corrupt(where, f"a tuple key must hold a list, not {k['tuple']!r:.60}")
            return tuple(self.key(x, where) for x in k["tuple"])
        key = self.decode(k, where)
        try:
            hash(key)
        except TypeError:
            raise _Corrupt(where, f"a dict key must be hashable, not {k!r:.60}") from None
        return key

    @staticmethod
    def device(s: Any, where: str) -> Device:
        if not isinstance(s, str):
            raise _Corrupt(where, f"a device must be a string, not {s!r:.60}")
        try:
            return Device(s)
        except (RuntimeError, ValueError, TypeError):
            raise _Corrupt(where, f"not a device: {s!r:.60}") from None

    def tensor(self, v: dict, where: str) -> Any:
        key = v["tensor"]
        spec = self.specs.get(key) if isinstance(key, str) else None
        if spec is None:
            raise _Corrupt(where, f"tensor entry '{key}' is missing")
        saved = v.get("device", "cpu")
        dev = self.device(saved, where) if saved != "cpu" else None
        if v.get("numpy"):
            return self.array(spec)
        # a map_location naming no device raises as the device does: the caller's error
        target = _target(self.map_location, "cpu" if dev is None else str(dev))
        if target.type == "cpu":
            t = _to_tensor(self.array(spec), target)
        else:  # the device copy is the tensor's own: no host copy needed on the way
            t = _to_tensor(self.payload.array(spec, keep_view=True), target)
            self.payload.release(spec)
        if v.get("requires_grad"):
            t._requires_grad = True
        if v.get("parameter"):
            from ..nn import Parameter

            t = Parameter(t, requires_grad=bool(v.get("requires_grad")))
        return t

    def array(self, spec: _Spec) -> np.ndarray:
        """The host array of an entry, built once (entries named twice share it)."""
        if spec.key not in self.done:
            self.done[spec.key] = self.payload.array(spec, keep_view=self.payload.views)
        return self.done[spec.key]


def _to_tensor(arr: np.ndarray, dev: Device) -> Tensor:
    if dev.type == "cpu":
        return Tensor._make(arr, dev)
    from ..backend import cuda_status

    n, why = cuda_status()
    if not n:
        raise RuntimeError(
            "Attempting to deserialize object on a CUDA device but CUDA is not available "
            f"({why}). If you are running on a CPU-only machine, please use gpugrad.load with "
            "map_location='cpu' to map your tensors to the CPU."
        )
    return Tensor._make(dev.backend.asarray(arr), dev)


def read(
    fh: BinaryIO, name: str, map_location: Any, path: str | None = None, mmap: bool = False
) -> Any:
    """What :class:`Writer` wrote (or any safetensors file, as ``{name: tensor}``), from the
    seekable file ``fh`` at its position. ``path``: the file's path, to memory-map it;
    ``mmap``: tensors are copy-on-write views of the map instead of copies."""

    def bad(why: str, key: str | None = None) -> CheckpointError:
        return _error(name, why, key)

    base = fh.tell()
    size = fh.seek(0, 2) - base
    fh.seek(base)
    if size < 8:
        why = "the file is empty" if size == 0 else f"the file has only {size} bytes"
        raise bad(f"not a safetensors file, or truncated ({why})")
    n = int.from_bytes(fh.read(8), "little")
    if n > size - 8:
        raise bad(
            f"not a safetensors file, or truncated: header of {n} bytes announced, "
            f"{size - 8} bytes present"
        )
    specs, meta = parse_header(fh.read(n), size - 8 - n, name)
    payload = _Payload(fh, base + 8 + n, path, mmap, name)
    try:
        raw = meta.get(_META)
        decoder = _Decoder({s.key: s for s in specs}, payload, map_location)
        if raw is None:  # a plain safetensors file (e.g. from safetensors.torch.save_file)
            return {s.key: decoder.tensor({"tensor": s.key}, s.key) for s in specs}
        try:
            doc = json.loads(raw)
            structure = doc["obj"]
        except (ValueError, KeyError, TypeError, RecursionError):
            raise bad("its gpugrad metadata is not JSON of gpugrad's", "__metadata__") from None
        try:
            return decoder.decode(structure, "")
        except _Corrupt as e:
            where = f" at '{e.where}'" if e.where else ""
            raise bad(f"corrupted gpugrad metadata{where}: {e.why}", "__metadata__") from None
        except RecursionError:
            raise bad("corrupted gpugrad metadata: nested too deeply", "__metadata__") from None
    finally:
        payload.close()
