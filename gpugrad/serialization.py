"""gpugrad.save / gpugrad.load: checkpoints as safetensors files, never pickle.

Tensors are safetensors entries; everything else (dicts with any simple keys, lists, tuples,
numbers, strings, None, dtypes, devices) is JSON in the file's ``__metadata__`` under
``"gpugrad"``, with each tensor leaf naming its entry. A model's state dict is stored under
its own keys, so ``safetensors.torch.load_file`` reads a gpugrad checkpoint as a PyTorch state
dict, and a plain safetensors file written by PyTorch loads here as ``{name: tensor}``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections import Counter, OrderedDict
from typing import Any, BinaryIO

import numpy as np

from . import _dtype as D
from ._device import device as Device
from ._tensor import Tensor

FileLike = str | os.PathLike | BinaryIO

_META = "gpugrad"
_VERSION = 1
# safetensors dtype names gpugrad can hold (NumPy has no bfloat16 / float8).
_DTYPES = {"BOOL", "U8", "I8", "I16", "I32", "I64", "F16", "F32", "F64"}
_DICT_TYPES = {"dict": dict, "OrderedDict": OrderedDict, "Counter": Counter}

_UMASK = os.umask(0)
os.umask(_UMASK)


class _Encoder:
    """Walks the object: JSON-able structure out, tensors collected as host arrays."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

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
        raise TypeError(
            f"gpugrad.save cannot store an object of type {type(obj).__qualname__} at "
            f"'{'.'.join(path) or '<root>'}': only tensors, numbers, strings, None, dtypes, "
            "devices and lists/tuples/dicts of them are supported (gpugrad never pickles)"
        )

    def key(self, k: Any, path: list[str]) -> Any:
        if k is None or isinstance(k, (bool, int, float, str)):
            return self.encode(k, path)
        if isinstance(k, tuple):
            return {"tuple": [self.key(v, path) for v in k]}
        raise TypeError(
            f"gpugrad.save cannot store a dict key of type {type(k).__qualname__} at "
            f"'{'.'.join(path) or '<root>'}'"
        )

    def tensor(self, t: Tensor, path: list[str]) -> dict:
        enc = self.array(t._device.backend.to_host(t._data), path)
        if t._device.type != "cpu":
            enc["device"] = str(t._device)
        if t._requires_grad:
            enc["requires_grad"] = True
        if type(t).__name__ == "Parameter":
            enc["parameter"] = True
        return enc

    def array(self, arr: np.ndarray, path: list[str]) -> dict:
        if arr.dtype not in D._BY_NP:
            raise TypeError(
                f"gpugrad.save cannot store an array of dtype {arr.dtype} at '{'.'.join(path)}'"
            )
        name = self.name_for(path)
        # safetensors copies raw memory: it needs C-contiguous little-endian data.
        # (np.ascontiguousarray would turn 0-d arrays into 1-d ones.)
        if not arr.flags.c_contiguous:
            arr = arr.copy(order="C")
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        self.arrays[name] = arr
        return {"tensor": name}


def save(obj: Any, f: FileLike, pickle_module=None, pickle_protocol=None, **kwargs) -> None:
    """Write ``obj`` (a state dict, tensor, or nested dicts/lists of them) to ``f``.

    A path is written atomically (a temporary file in the same folder, then ``os.replace``),
    so a crash never leaves a half-written checkpoint behind.
    """
    import safetensors.numpy as stn

    enc = _Encoder()
    structure = enc.encode(obj, [])
    meta = {"format": "pt", _META: json.dumps({"version": _VERSION, "obj": structure})}
    data = stn.save(enc.arrays, metadata=meta)
    if hasattr(f, "write"):
        f.write(data)
        return
    path = os.fspath(f)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class CheckpointError(RuntimeError):
    """A file that is not a readable gpugrad/safetensors checkpoint (names file and reason)."""


def _describe(f) -> str:
    if hasattr(f, "read"):
        return getattr(f, "name", None) or "<file object>"
    return os.fspath(f)


def _read(f) -> bytes:
    if hasattr(f, "read"):
        data = f.read()
        return bytes(data)
    with open(os.fspath(f), "rb") as fh:
        return fh.read()


def _parse_header(data: bytes, name: str) -> dict:
    def bad(why: str) -> CheckpointError:
        return CheckpointError(f"cannot load '{name}': {why}")

    if data[:4] == b"PK\x03\x04" or data[:2] == b"\x80\x02":
        raise bad(
            "it looks like a PyTorch pickle checkpoint (torch.save); gpugrad reads only "
            "safetensors files (convert with safetensors.torch.save_file(state_dict, path))"
        )
    if len(data) < 8:
        raise bad(f"file is too short to be a safetensors file ({len(data)} bytes)")
    n = int.from_bytes(data[:8], "little")
    if n > len(data) - 8:
        raise bad(
            f"not a safetensors file, or truncated: header of {n} bytes announced, "
            f"{len(data) - 8} bytes present"
        )
    try:
        header = json.loads(data[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise bad("not a safetensors file (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise bad("not a safetensors file (its header is not a JSON object)")
    end = 0
    for key, spec in header.items():
        if key == "__metadata__":
            continue
        if not isinstance(spec, dict) or not {"dtype", "shape", "data_offsets"} <= spec.keys():
            raise bad(f"corrupted header entry for tensor '{key}'")
        if spec["dtype"] not in _DTYPES:
            raise bad(f"tensor '{key}' has dtype {spec['dtype']}, which gpugrad does not support")
        end = max(end, int(spec["data_offsets"][1]))
    if 8 + n + end != len(data):
        raise bad(
            f"truncated or corrupted: tensor data should end at byte {8 + n + end}, "
            f"file has {len(data)} bytes"
        )
    return header


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


class _Decoder:
    def __init__(self, arrays: dict, name: str, map_location) -> None:
        self.arrays, self.name, self.map_location = arrays, name, map_location
        self.used: set[str] = set()

    def decode(self, v: Any) -> Any:
        if isinstance(v, list):
            return [self.decode(x) for x in v]
        if not isinstance(v, dict):
            return v
        if "tensor" in v:
            return self.tensor(v)
        if "dict" in v:
            cls = _DICT_TYPES.get(v.get("type", "dict"), dict)
            d = {self.key(k): self.decode(x) for k, x in v["dict"]}
            return d if cls is dict else cls(d)
        if "tuple" in v:
            return tuple(self.decode(x) for x in v["tuple"])
        if "float" in v:
            return float(v["float"])
        if "dtype" in v:
            return D._BY_NAME[v["dtype"]]
        if "device" in v:
            return Device(v["device"])
        raise CheckpointError(f"cannot load '{self.name}': corrupted structure entry {v!r}")

    def key(self, k: Any) -> Any:
        if isinstance(k, dict) and "tuple" in k:
            return tuple(self.key(x) for x in k["tuple"])
        return self.decode(k)

    def tensor(self, v: dict) -> Any:
        key = v["tensor"]
        arr = self.arrays.get(key)
        if arr is None:
            raise CheckpointError(f"cannot load '{self.name}': tensor entry '{key}' is missing")
        if v.get("numpy"):
            return arr
        t = _to_tensor(arr, _target(self.map_location, v.get("device", "cpu")))
        if v.get("requires_grad"):
            t._requires_grad = True
        if v.get("parameter"):
            from .nn import Parameter

            t = Parameter(t, requires_grad=bool(v.get("requires_grad")))
        return t


def _to_tensor(arr: np.ndarray, dev: Device) -> Tensor:
    if dev.type == "cpu":
        return Tensor._make(arr, dev)
    from .backend import cuda_status

    n, why = cuda_status()
    if not n:
        raise RuntimeError(
            "Attempting to deserialize object on a CUDA device but CUDA is not available "
            f"({why}). If you are running on a CPU-only machine, please use gpugrad.load with "
            "map_location='cpu' to map your tensors to the CPU."
        )
    return Tensor._make(dev.backend.asarray(arr), dev)


def load(f: FileLike, map_location=None, weights_only: bool = True, mmap=None, **kwargs) -> Any:
    """Read what :func:`save` wrote (or any safetensors file, as ``{name: tensor}``).

    ``map_location``: None (where each tensor was saved), a device / device string, or a
    dict from saved device strings to devices. Files that are missing, truncated, corrupted
    or not safetensors raise an error naming the file (``CheckpointError`` for bad contents).
    """
    import safetensors
    import safetensors.numpy as stn

    name = _describe(f)
    data = _read(f)
    header = _parse_header(data, name)
    try:
        arrays = stn.load(data)
    except (safetensors.SafetensorError, TypeError, ValueError) as e:
        raise CheckpointError(f"cannot load '{name}': {e}") from None
    meta = header.get("__metadata__") or {}
    raw = meta.get(_META) if isinstance(meta, dict) else None
    if raw is None:  # a plain safetensors file (e.g. from safetensors.torch.save_file)
        return {
            k: _to_tensor(arrays[k], _target(map_location, "cpu"))
            for k in header
            if k != "__metadata__"
        }
    try:
        doc = json.loads(raw)
        structure = doc["obj"]
    except (ValueError, KeyError, TypeError):
        raise CheckpointError(f"cannot load '{name}': corrupted gpugrad metadata") from None
    return _Decoder(arrays, name, map_location).decode(structure)
