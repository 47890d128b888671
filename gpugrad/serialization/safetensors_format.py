"""Checkpoints of tensors and plain data as safetensors files (what gpugrad.save writes for
state dicts: no pickle in them).

Tensors are safetensors entries; everything else (dicts with any simple keys, lists, tuples,
numbers, strings, None, dtypes, devices) is JSON in the file's ``__metadata__`` under
``"gpugrad"``, with each tensor leaf naming its entry. A model's state dict is stored under
its own keys, so ``safetensors.torch.load_file`` reads a gpugrad checkpoint as a PyTorch state
dict, and a plain safetensors file written by PyTorch loads here as ``{name: tensor}``.
"""

from __future__ import annotations

import json
import math
from collections import Counter, OrderedDict
from typing import Any

import numpy as np

from .. import _dtype as D
from .._device import device as Device
from .._tensor import Tensor
from .errors import CheckpointError

_META = "gpugrad"
_VERSION = 1
# safetensors dtype names gpugrad can hold (NumPy has no bfloat16 / float8).
_DTYPES = {"BOOL", "U8", "I8", "I16", "I32", "I64", "F16", "F32", "F64"}
_DICT_TYPES = {"dict": dict, "OrderedDict": OrderedDict, "Counter": Counter}


class NeedsPickle(TypeError):
    """The object holds more than tensors and plain data: it is saved in PyTorch's format."""


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
            raise NeedsPickle(f"an array of dtype {arr.dtype} at '{'.'.join(path)}'")
        name = self.name_for(path)
        # safetensors copies raw memory: it needs C-contiguous little-endian data.
        # (np.ascontiguousarray would turn 0-d arrays into 1-d ones.)
        if not arr.flags.c_contiguous:
            arr = arr.copy(order="C")
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        self.arrays[name] = arr
        return {"tensor": name}


def _parse_header(data: bytes, name: str) -> dict:
    def bad(why: str) -> CheckpointError:
        return CheckpointError(f"cannot load '{name}': {why}")

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
            from ..nn import Parameter

            t = Parameter(t, requires_grad=bool(v.get("requires_grad")))
        return t


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


def encode(obj: Any) -> bytes:
    """``obj`` as a safetensors file; :class:`NeedsPickle` if it holds other objects."""
    import safetensors.numpy as stn

    enc = _Encoder()
    structure = enc.encode(obj, [])
    meta = {"format": "pt", _META: json.dumps({"version": _VERSION, "obj": structure})}
    return stn.save(enc.arrays, metadata=meta)


def decode(data: bytes, name: str, map_location) -> Any:
    """What :func:`encode` wrote (or any safetensors file, as ``{name: tensor}``)."""
    import safetensors
    import safetensors.numpy as stn

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
