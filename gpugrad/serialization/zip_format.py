"""PyTorch's zip checkpoint format (``torch.save``'s default since 1.6), read and written.

An archive ``<name>/`` holds ``data.pkl`` (the object, with tensors as persistent storage ids),
``data/<key>`` (each storage's raw bytes, stored uncompressed and 64-byte aligned so they can
be memory-mapped), ``byteorder``, ``version``, ``.format_version`` and
``.storage_alignment``.
"""

from __future__ import annotations

import io
import mmap
import struct
import sys
import uuid
import zipfile
import zlib
from typing import Any, BinaryIO

import numpy as np

from .._device import device as Device
from .pickler import TorchPickler
from .storage import TORCH_DTYPES, PlacementError, TypedStorage, mapped_array, new_array
from .unpickling import CheckpointUnpickler

_ARCHIVE = "archive"
_ALIGNMENT = 64
_LOCAL_HEADER = 30  # bytes of a zip local file header before its name and extra field
# what zipfile raises on a damaged archive: bad headers, names, sizes, methods and versions
_BROKEN = (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, NotImplementedError)


# ---- writing ------------------------------------------------------------------------------
def write(obj: Any, fh: BinaryIO, protocol: int = 2, byteorder_record: bool = True) -> None:
    """Write ``obj`` to the seekable binary file ``fh`` as torch.save does."""
    buf = io.BytesIO()
    pickler = TorchPickler(buf, protocol=protocol)
    pickler.dump(obj)
    with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        _record(zf, "data.pkl", buf.getvalue())
        _record(zf, ".format_version", b"1")
        _record(zf, ".storage_alignment", str(_ALIGNMENT).encode())
        if byteorder_record:
            _record(zf, "byteorder", sys.byteorder.encode())
        for storage in pickler.storages.values():
            _record(zf, f"data/{storage.key}", storage.host_bytes(), align=True)
        _record(zf, "version", b"3\n")
        _record(zf, ".data/serialization_id", str(uuid.uuid4().int).zfill(40).encode())


def _record(zf: zipfile.ZipFile, name: str, data, align: bool = False) -> None:
    info = zipfile.ZipInfo(f"{_ARCHIVE}/{name}", date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    if align:
        # pad the local header's extra field (PyTorch's "FB" record) so the data starts on a
        # multiple of 64 bytes: torch.load(mmap=True) maps storages in place
        nbytes = memoryview(data).nbytes
        zip64 = 20 if nbytes * 1.05 > zipfile.ZIP64_LIMIT else 0
        start = zf.fp.tell() + _LOCAL_HEADER + len(info.filename.encode()) + 4 + zip64
        info.extra = b"FB" + struct.pack("<H", -start % _ALIGNMENT) + b"Z" * (-start % _ALIGNMENT)
    zf.writestr(info, data)


# ---- reading ------------------------------------------------------------------------------
def read(
    fh: BinaryIO,
    unpickler: CheckpointUnpickler,
    map_location: Any,
    mmap_path: str | None = None,
) -> Any:
    """The object of a zip checkpoint; ``mmap_path``: map storages from this file."""
    try:
        zf = zipfile.ZipFile(fh)
        infos = {i.filename: i for i in zf.infolist()}
    except _BROKEN as e:
        raise unpickler.error(f"truncated or corrupted zip archive ({e})") from None
    prefix = _prefix(infos, unpickler)
    if prefix + "constants.pkl" in infos:
        raise unpickler.error(
            "it is a TorchScript archive (torch.jit.save), which gpugrad cannot load"
        )
    big = _byteorder(zf, prefix, unpickler)
    mapped = _map(mmap_path) if mmap_path else None
    rebuild = unpickler.rebuild

    def persistent_load(pid: Any) -> TypedStorage:
        if not isinstance(pid, tuple) or len(pid) != 5 or _ascii(pid[0]) != "storage":
            raise unpickler.error(f"unknown persistent id {pid!r} in data.pkl")
        _, storage_type, key, location, numel = pid
        key, location = str(_ascii(key)), str(_ascii(location))
        if key in rebuild.storages:
            return rebuild.storages[key][0]
        dtype_name = unpickler.storage_type(storage_type).dtype_name
        record = f"{prefix}data/{key}"
        info = infos.get(record)
        if info is None:
            raise unpickler.error(f"the storage record '{record}' is missing", record)
        nbytes = int(numel) * TORCH_DTYPES[dtype_name][0]
        if info.file_size != nbytes:
            raise unpickler.error(
                f"the storage record '{record}' holds {info.file_size} bytes, but data.pkl "
                f"expects {nbytes} ({numel} x torch.{dtype_name})",
                record,
            )
        if mapped is not None:
            arr = mapped_array(mapped, _data_offset(fh, info, unpickler), dtype_name, int(numel))
        else:
            arr = new_array(dtype_name, int(numel))
            if arr.size:
                _read_record(fh, zf, info, arr.view(np.uint8), unpickler)
        if big and arr.itemsize > 1:
            arr.byteswap(inplace=True)
        storage = TypedStorage(arr, dtype_name, Device("cpu"))
        return rebuild.add_storage(key, storage, location)

    try:
        data = zf.read(infos[prefix + "data.pkl"])
    except _BROKEN as e:
        record = prefix + "data.pkl"
        raise unpickler.error(f"its record '{record}' is corrupted ({e})", record) from None
    obj = unpickler.load(io.BytesIO(data), persistent_load)
    try:
        rebuild.place(map_location)
    except PlacementError as e:
        raise unpickler.error(str(e)) from None
    return obj


def _prefix(infos: dict, unpickler: CheckpointUnpickler) -> str:
    for name in infos:
        folder, _, rest = name.partition("/")
        if rest == "data.pkl":
            return folder + "/"
    raise unpickler.error("a zip archive without a data.pkl record is not a PyTorch checkpoint")


def _byteorder(zf: zipfile.ZipFile, prefix: str, unpickler: CheckpointUnpickler) -> bool:
    """True when the storages are big-endian (no record: little, as torch.load assumes)."""
    record = prefix + "byteorder"
    try:
        order = zf.read(record)
    except KeyError:
        return False
    except _BROKEN as e:
        raise unpickler.error(f"its record '{record}' is corrupted ({e})", record) from None
    if order not in (b"little", b"big"):
        raise unpickler.error(f"unknown byte order record {order!r}", record)
    return order == b"big"


def _read_record(
    fh: BinaryIO, zf: zipfile.ZipFile, info: zipfile.ZipInfo, buf: np.ndarray, unpickler
) -> None:
    """Fill ``buf`` (bytes) with a storage record, its CRC checked."""
    nbytes = buf.nbytes
    try:
        if info.compress_type == zipfile.ZIP_STORED:  # as torch writes: straight from the file
            fh.seek(_data_offset(fh, info, unpickler))
            got = fh.readinto(memoryview(buf))
        else:
            got = 0
            with zf.open(info) as src:
                while got < nbytes and (n := src.readinto(memoryview(buf)[got:])):
                    got += n
    except _BROKEN as e:
        raise unpickler.error(
            f"the storage record '{info.filename}' is corrupted ({e})", info.filename
        ) from None
    if got != nbytes:
        raise unpickler.error(f"the storage record '{info.filename}' is truncated", info.filename)
    if zlib.crc32(buf) != info.CRC:
        raise unpickler.error(
            f"the storage record '{info.filename}' is corrupted (bad CRC-32)", info.filename
        )


def _map(path: str) -> mmap.mmap:
    """The file mapped copy-on-write (PyTorch's MAP_PRIVATE): writes to loaded tensors stay
    in memory."""
    with open(path, "rb") as f:
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)


def _data_offset(fh: BinaryIO, info: zipfile.ZipInfo, unpickler) -> int:
    """Where a stored record's bytes start in the file (after its local header)."""
    if info.compress_type != zipfile.ZIP_STORED:
        raise unpickler.error(
            f"'{info.filename}' is compressed and cannot be memory-mapped", info.filename
        )
    try:
        fh.seek(info.header_offset)
        head = fh.read(_LOCAL_HEADER)
    except (OSError, ValueError):  # an offset before the file's start
        head = b""
    if len(head) != _LOCAL_HEADER or head[:4] != b"PK\x03\x04":
        raise unpickler.error(f"the local header of '{info.filename}' is corrupted", info.filename)
    n_name, n_extra = struct.unpack("<HH", head[26:30])
    return info.header_offset + _LOCAL_HEADER + n_name + n_extra


def _ascii(s: Any) -> Any:
    return s.decode("ascii") if isinstance(s, bytes) else s


def is_zip(head: bytes) -> bool:
    return head[:4] == b"PK\x03\x04"
