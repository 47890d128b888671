"""default_collate / default_convert: samples -> batches with PyTorch's rules."""

from __future__ import annotations

import collections.abc as abc

import numpy as np

from .... import _dtype as D
from ...._tensor import Tensor

default_collate_err_msg_format = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"
)


def _not_numeric(dtype) -> bool:
    """Object, string and void arrays (PyTorch refuses them); bfloat16 is void to NumPy but
    a number here."""
    return dtype.kind in "OUS" or (dtype.kind == "V" and not D.is_floating(dtype))


def _gg():
    import gpugrad

    return gpugrad


def _stack(batch: list[Tensor]) -> Tensor:
    first = batch[0]
    if any(t._requires_grad for t in batch):
        return _gg().stack(batch, 0)
    shape, dev = first._data.shape, first._device
    for t in batch:
        if t._data.shape != shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(shape)} at entry 0 "
                f"and {list(t._data.shape)} at entry {batch.index(t)}"
            )
        if t._device is not dev:
            raise RuntimeError(
                "Expected all tensors to be on the same device, but found at least two devices, "
                f"{dev} and {t._device}!"
            )
    return Tensor._make(dev.backend.xp.stack([t._data for t in batch]), dev)


def _is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def default_collate(batch):
    """Stack tensors / arrays / numbers into batch tensors, recursing into dicts and sequences.

    Tuples of samples come back as lists (PyTorch does the same); strings stay lists.
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack(batch)
    if isinstance(elem, np.ndarray):
        if _not_numeric(elem.dtype):
            raise TypeError(default_collate_err_msg_format.format(elem.dtype))
        return default_collate([_gg().as_tensor(b) for b in batch])
    if isinstance(elem, np.generic) and not isinstance(elem, (np.str_, np.bytes_)):
        return _gg().as_tensor(np.asarray(batch))
    if isinstance(elem, bool):
        return _gg().tensor(batch)
    if isinstance(elem, float):
        return _gg().tensor(batch, dtype=_gg().float64)
    if isinstance(elem, int):
        return _gg().tensor(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, abc.Mapping):
        out = {key: default_collate([d[key] for d in batch]) for key in elem}
        try:
            return type(elem)(out)
        except TypeError:  # a mapping type that cannot be built from a dict
            return out
    if _is_namedtuple(elem):
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, abc.Sequence):
        n = len(elem)
        if not all(len(e) == n for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        cols = [default_collate(list(s)) for s in zip(*batch)]
        if isinstance(elem, tuple):
            return cols
        try:
            return type(elem)(cols)
        except TypeError:
            return cols
    raise TypeError(default_collate_err_msg_format.format(type(elem)))


def default_convert(data):
    """Turn NumPy arrays (inside dicts / sequences too) into tensors; leave the rest."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray) and not _not_numeric(data.dtype):
        return _gg().as_tensor(data)
    if isinstance(data, np.generic) and not isinstance(data, (np.str_, np.bytes_)):
        return _gg().as_tensor(np.asarray(data))
    if isinstance(data, abc.Mapping):
        out = {k: default_convert(v) for k, v in data.items()}
        try:
            return type(data)(out)
        except TypeError:
            return out
    if _is_namedtuple(data):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            return type(data)([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data
