"""PyTorch's legacy checkpoint format (``torch.save(..., _use_new_zipfile_serialization=False)``
and files from before PyTorch 1.6), read and written.

The file is a run of pickles: the magic number, the protocol version, a ``sys_info`` dict, the
object (tensors as persistent ``("storage", type, key, location, numel, view)`` ids), the list
of storage keys; then each storage's bytes, after an 8-byte little-endian element count.
"""

from __future__ import annotations

import pickle
import struct
import sys
from typing import Any, BinaryIO

import numpy as np

from .._device import device as Device
from .pickler import TorchPickler
from .storage import TORCH_DTYPES, PlacementError, TypedStorage, new_array
from .unpickling import CheckpointUnpickler

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
_SYS_INFO = {"protocol_version": PROTOCOL_VERSION, "type_sizes": {"short": 2, "int": 4, "long": 4}}


def write(obj: Any, fh: BinaryIO, protocol: int = 2) -> None:
    """Write ``obj`` to ``fh`` as ``torch.save(..., _use_new_zipfile_serialization=False)``."""
    sys_info = {**_SYS_INFO, "little_endian": sys.byteorder == "little"}
    for header in (MAGIC_NUMBER, PROTOCOL_VERSION, sys_info):
        pickle.dump(header, fh, protocol=protocol)
    pickler = TorchPickler(fh, protocol=protocol, legacy=True)
    pickler.dump(obj)
    storages = list(pickler.storages.values())
    pickle.dump([s.key for s in storages], fh, protocol=protocol)
    for s in storages:
        fh.write(struct.pack("<q", int(s.flat.size)))
        fh.write(s.host_bytes())


def read(fh: BinaryIO, unpickler: CheckpointUnpickler, map_location: Any) -> Any:
    """The object of a legacy checkpoint, its storages placed per ``map_location``."""
    if unpickler.header(fh) != MAGIC_NUMBER:
        raise unpickler.error("invalid magic number: not a PyTorch checkpoint, or corrupted")
    version = unpickler.header(fh)
    if version != PROTOCOL_VERSION:
        raise unpickler.error(f"unsupported legacy protocol version {version!r}")
    sys_info = unpickler.header(fh)
    big = isinstance(sys_info, dict) and sys_info.get("little_endian") is False
    rebuild = unpickler.rebuild
    here = fh.tell()
    size = fh.seek(0, 2)  # no storage can be larger than the file
    fh.seek(here)
    roots: dict[str, tuple[TypedStorage, np.ndarray, int]] = {}  # key -> storage, bytes, numel

    def persistent_load(pid: Any) -> Any:
        if isinstance(pid, tuple) and pid and _ascii(pid[0]) == "module" and len(pid) == 4:
            return pid[1]  # a module class saved by reference (full unpickling only)
        if not isinstance(pid, tuple) or len(pid) != 6 or _ascii(pid[0]) != "storage":
            raise unpickler.error(f"unknown persistent id {pid!r}")
        _, storage_type, key, location, numel, view = pid
        key, location = str(_ascii(key)), str(_ascii(location))
        dtype_name = unpickler.storage_type(storage_type).dtype_name
        if key not in roots:
            if not isinstance(numel, int) or not 0 <= numel * TORCH_DTYPES[dtype_name][0] <= size:
                raise unpickler.error(
                    f"storage '{key}' claims {numel!r} elements, which this file cannot hold"
                )
            arr = new_array(dtype_name, numel)
            storage = TypedStorage(arr, dtype_name, Device("cpu"))
            roots[key] = (
                rebuild.add_storage(key, storage, location),
                arr.view(np.uint8),
                int(numel),
            )
        root = roots[key][0]
        if view is None:
            return root
        view_key, offset, view_numel = view  # a storage view, from PyTorch before 0.4
        view_key = str(_ascii(view_key))
        if view_key not in rebuild.storages:
            part = TypedStorage(root.array[offset : offset + view_numel], dtype_name, root.device)
            rebuild.add_storage(view_key, part, location)
        return rebuild.storages[view_key][0]

    obj = unpickler.load(fh, persistent_load)
    keys = unpickler.header(fh)
    if not isinstance(keys, list):
        raise unpickler.error("corrupted storage key list")
    for key in keys:
        if str(key) not in roots:
            raise unpickler.error(f"storage '{key}' has no record in the object pickle")
        storage, buf, numel = roots[str(key)]
        head = fh.read(8)
        if len(head) != 8:
            raise unpickler.error(f"storage '{key}' is missing: the file is truncated")
        (count,) = struct.unpack("<q", head)
        if count != numel:
            raise unpickler.error(f"storage '{key}' holds {count} elements, expected {numel}")
        nbytes = numel * TORCH_DTYPES[storage.dtype_name][0]
        if len(buf):
            if fh.readinto(memoryview(buf)) != nbytes:
                raise unpickler.error(f"storage '{key}' is truncated")
            if big and storage.array.itemsize > 1:
                storage.array.byteswap(inplace=True)
        else:  # a dtype gpugrad lacks (the load names it) or an empty storage
            fh.seek(nbytes, 1)
    try:
        rebuild.place(map_location)
    except PlacementError as e:
        raise unpickler.error(str(e)) from None
    return obj


def _ascii(s: Any) -> Any:
    return s.decode("ascii") if isinstance(s, bytes) else s
