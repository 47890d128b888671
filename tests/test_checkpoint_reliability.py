"""Checkpoint saves that survive being killed, clean up after killed saves, stream their
tensors, and loads that map the file: issue #16 item 9."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc

import numpy as np
import pytest

import gpugrad
from gpugrad.serialization import atomic_write
from tests.utils import host


def same(a, b) -> None:
    assert isinstance(b, gpugrad.Tensor)
    assert a.dtype == b.dtype and tuple(a.shape) == tuple(b.shape) and a.device == b.device
    np.testing.assert_array_equal(host(a), host(b))


def temps(folder) -> list[str]:
    return sorted(n for n in os.listdir(folder) if ".gpugrad-" in n)


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def stale_name(target: str, pid: int, host: str | None = None) -> str:
    host = host or atomic_write._host()
    return f".{target}.gpugrad-{pid}-{host}-abc_12xy.tmp"


def make_file(path, age_s: float = 60.0, size: int = 1000) -> None:
    path.write_bytes(b"x" * size)
    past = time.time() - age_s
    os.utime(path, (past, past))


# ---- temporary files of killed saves ------------------------------------------------------
@pytest.mark.parametrize("fmt", ["safetensors", "pt", "legacy"])
def test_save_removes_stale_temporaries_of_its_target_only(tmp_path, fmt):
    target = tmp_path / "ckpt.bin"
    gone = dead_pid()
    stale = [tmp_path / stale_name("ckpt.bin", gone), tmp_path / stale_name("ckpt.bin", 4999999)]
    kept = [
        tmp_path / stale_name("ckpt.bin", os.getppid()),  # a live process: still writing
        tmp_path / stale_name("ckpt.bin", os.getpid()),  # this process's (another thread's)
        tmp_path / stale_name("ckpt.bin", gone, host="0badc0de"),  # another machine's
        tmp_path / stale_name("other.bin", gone),  # another target's
        tmp_path / f".ckpt.bin.{gone}.tmp",  # other namings
        tmp_path / ".ckpt.bin.abcd1234.tmp",  # what older gpugrad versions wrote
        tmp_path / f"ckpt.bin.gpugrad-{gone}-{atomic_write._host()}-abc.tmp",
        tmp_path / f".ckpt.bin.gpugrad-{gone}-{atomic_write._host()}-abc.tmpx",
        tmp_path / "notes.txt",
    ]
    for p in stale + kept:
        make_file(p)
    fresh = tmp_path / stale_name("ckpt.bin", dead_pid())
    make_file(fresh, age_s=-60)  # written after this save began: not left by a killed one
    kept.append(fresh)
    sd = {"w": gpugrad.randn(3, 4), "step": 3}
    if fmt == "safetensors":
        gpugrad.save(sd, target)
    elif fmt == "pt":
        gpugrad.save(sd, target, format="pt")
    else:
        gpugrad.save(gpugrad.nn.Linear(2, 2), target, _use_new_zipfile_serialization=False)
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in kept)
    assert target.exists()


def test_stale_temporary_of_a_zombie_counts_as_gone(tmp_path):
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        p.send_signal(signal.SIGKILL)
        deadline = time.time() + 10
        while time.time() < deadline:  # killed, not reaped: a zombie
            with open(f"/proc/{p.pid}/stat", "rb") as f:
                if f.read().rpartition(b")")[2].split()[0] == b"Z":
                    break
            time.sleep(0.01)
        assert atomic_write._process_gone(p.pid)
        make_file(tmp_path / stale_name("z.safetensors", p.pid))
        gpugrad.save({"a": gpugrad.ones(2)}, tmp_path / "z.safetensors")
        assert temps(tmp_path) == []
    finally:
        p.wait()
    assert not atomic_write._process_gone(os.getpid())
    assert not atomic_write._process_gone(os.getppid())


def test_temporary_name_has_gpugrads_pattern(tmp_path, monkeypatch):
    seen = []

    def spy(fd):
        seen.append(os.readlink(f"/proc/self/fd/{fd}"))

    monkeypatch.setattr(atomic_write, "_fsync", spy)
    gpugrad.save({"a": gpugrad.ones(2)}, tmp_path / "m.safetensors")
    name = os.path.basename(seen[0])
    assert name.startswith(".m.safetensors.gpugrad-")
    assert atomic_write._TAIL.fullmatch(name[len(".m.safetensors.gpugrad-") :])
    assert name.startswith(f".m.safetensors.gpugrad-{os.getpid()}-{atomic_write._host()}-")
    assert seen[1] == str(tmp_path)  # the folder is fsynced after the rename
    assert os.listdir(tmp_path) == ["m.safetensors"]


def test_long_target_names(tmp_path):
    name = "n" * 240 + ".safetensors"
    gpugrad.save({"a": gpugrad.ones(2)}, tmp_path / name)
    same(gpugrad.ones(2), gpugrad.load(tmp_path / name)["a"])


def test_missing_folder_names_the_target(tmp_path):
    target = tmp_path / "no" / "such" / "ckpt.safetensors"
    for kwargs in ({}, {"format": "pt"}):
        with pytest.raises(RuntimeError, match="Parent directory .*no/such does not exist") as e:
            gpugrad.save({"a": gpugrad.ones(2)}, target, **kwargs)
        assert str(target) in str(e.value) and ".tmp" not in str(e.value)
    assert not (tmp_path / "no").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only folders")
def test_unwritable_folder_names_the_target(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(PermissionError) as e:
            gpugrad.save({"a": gpugrad.ones(2)}, folder / "c.safetensors")
        assert e.value.filename == str(folder / "c.safetensors")
    finally:
        folder.chmod(0o700)


def test_failed_write_names_the_target_and_leaves_nothing(tmp_path, monkeypatch):
    target = tmp_path / "c.safetensors"
    gpugrad.save({"a": gpugrad.zeros(2)}, target)
    before = target.read_bytes()

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic_write, "_fsync", full)
    with pytest.raises(OSError, match="No space left") as e:
        gpugrad.save({"a": gpugrad.ones(2)}, target)
    assert e.value.filename == str(target)
    assert target.read_bytes() == before and os.listdir(tmp_path) == ["c.safetensors"]


_SAVER = textwrap.dedent(
    """
    import sys
    import numpy as np
    import gpugrad

    path, fmt = sys.argv[1], sys.argv[2]
    arrays = [np.zeros(1 << 18, np.float32) for _ in range(6)]  # 6 MB
    sd = {f"w{k}": gpugrad.from_numpy(a) for k, a in enumerate(arrays)}
    print("saving", flush=True)
    step = 0
    while True:
        step += 1
        for a in arrays:
            a.fill(step)
        sd["step"] = step
        if fmt == "pt":
            gpugrad.save(sd, path, format="pt")
        else:
            gpugrad.save(sd, path)
    """
)


def test_save_killed_at_random_points_never_leaves_a_corrupt_checkpoint(tmp_path):
    """A process saving in a loop is SIGKILLed at random moments, about ten times (more if no
    kill landed inside a save): the checkpoint always loads whole and consistent (one step's
    tensors), and the next save removes what the killed one left."""
    path = tmp_path / "ckpt.safetensors"
    gpugrad.save({"step": 0, **{f"w{k}": gpugrad.zeros(1 << 18) for k in range(6)}}, path)
    rng = np.random.default_rng(7)
    kills = left_temp = 0
    steps = set()
    t0 = time.time()
    while kills < 10 or (left_temp == 0 and kills < 25):
        fmt = "pt" if kills % 2 else "safetensors"
        p = subprocess.Popen(
            [sys.executable, "-c", _SAVER, str(path), fmt],
            stdout=subprocess.PIPE,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        )
        assert p.stdout.readline() == b"saving\n"
        time.sleep(float(rng.uniform(0.02, 0.3)))
        p.send_signal(signal.SIGKILL)
        p.wait()
        p.stdout.close()
        kills += 1
        ck = gpugrad.load(path)  # the old file or a complete new one
        step = ck["step"]
        steps.add(step)
        for k in range(6):
            assert (host(ck[f"w{k}"]) == step).all()
        left_temp += bool(temps(tmp_path))
        gpugrad.save(ck, path)  # the next save cleans up
        assert temps(tmp_path) == [] and os.listdir(tmp_path) == ["ckpt.safetensors"]
    assert left_temp, "no kill landed inside a save: the test did not test"
    assert len(steps) > 1, "the saver never completed a save"
    assert time.time() - t0 < 60


# ---- streaming saves, mapped loads --------------------------------------------------------
def peak_bytes(fn) -> int:
    """The most memory ``fn()`` held at once above what was held before (Python and NumPy
    allocations, by tracemalloc)."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


MB = 1 << 20


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"format": "pt"}, {"format": "pt", "_use_new_zipfile_serialization": False}],
    ids=["safetensors", "zip", "legacy"],
)
def test_every_format_saves_without_a_payload_copy(tmp_path, kwargs):
    sd = {f"w{k}": gpugrad.randn(512, 512) for k in range(8)}  # 8 MB
    path = tmp_path / "s.ckpt"
    gpugrad.save(sd, path, **kwargs)  # first: imports and caches are not the save's
    assert peak_bytes(lambda: gpugrad.save(sd, path, **kwargs)) < MB // 4
    back = gpugrad.load(path)
    for k, v in sd.items():
        same(v, back[k])


def test_save_streams_tensors_without_a_payload_copy(tmp_path):
    sd = {f"w{k}": gpugrad.randn(512, 512) for k in range(8)}  # 8 MB
    path = tmp_path / "s.safetensors"
    gpugrad.save(sd, path)
    assert peak_bytes(lambda: gpugrad.save(sd, path)) < MB // 4
    # a non-contiguous tensor is copied alone, when its turn comes
    sd["t"] = gpugrad.randn(512, 1024).t()  # 2 MB
    peak = peak_bytes(lambda: gpugrad.save(sd, path))
    assert 2 * MB <= peak < 2 * MB + MB // 4
    back = gpugrad.load(path)
    for k, v in sd.items():
        same(v, back[k])


def test_load_makes_one_copy_per_tensor_or_maps(tmp_path):
    sd = {f"w{k}": gpugrad.randn(512, 512) for k in range(8)}  # 8 MB
    path = tmp_path / "s.safetensors"
    gpugrad.save(sd, path)
    out = {}
    peak = peak_bytes(lambda: out.update(gpugrad.load(path)))
    assert 8 * MB <= peak < 8 * MB + MB // 4
    for k, v in sd.items():
        same(v, out[k])
        assert out[k]._data.flags.owndata and out[k]._data.flags.writeable
    out.clear()
    assert peak_bytes(lambda: out.update(gpugrad.load(path, mmap=True))) < MB // 4
    for k, v in sd.items():
        same(v, out[k])
    # from a file object: read into each tensor's memory, still no whole-file copy
    with open(path, "rb") as f:
        peak = peak_bytes(lambda: out.update(gpugrad.load(f)))
    assert 8 * MB <= peak < 8 * MB + MB // 4


def test_mmap_views_are_copy_on_write(tmp_path):
    import mmap

    path = tmp_path / "m.safetensors"
    gpugrad.save({"w": gpugrad.arange(12.0).reshape(3, 4), "i": gpugrad.arange(5)}, path)
    before = path.read_bytes()
    back = gpugrad.load(path, mmap=True)
    arr = back["w"]._data
    while isinstance(arr, np.ndarray):
        arr = arr.base
    assert isinstance(arr.obj, mmap.mmap)  # the bytes come from the mapped file
    back["w"].add_(1)
    assert path.read_bytes() == before
    np.testing.assert_array_equal(host(back["w"]), np.arange(12.0).reshape(3, 4) + 1)
    # a default load owns its memory: replacing the file later changes nothing in it
    owned = gpugrad.load(path)
    gpugrad.save({"w": gpugrad.zeros(3, 4), "i": gpugrad.zeros(5)}, path)
    np.testing.assert_array_equal(host(owned["w"]), np.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(host(back["i"]), np.arange(5))  # the old file, still mapped


DTYPES = [
    gpugrad.float32,
    gpugrad.float64,
    gpugrad.float16,
    gpugrad.int64,
    gpugrad.int32,
    gpugrad.int16,
    gpugrad.int8,
    gpugrad.uint8,
    gpugrad.bool,
]


def sample_state(device: str) -> dict:
    rng = np.random.default_rng(3)
    sd = {}
    for i, dt in enumerate(DTYPES):
        vals = rng.standard_normal(7 + i) * 50
        sd[f"odd.{dt.name}"] = gpugrad.tensor(vals, device=device).to(dt)
    sd["scalar"] = gpugrad.tensor(2.5, device=device)
    sd["one"] = gpugrad.ones(1, 1, dtype=gpugrad.int16, device=device)
    sd["empty"] = gpugrad.zeros(0, 3, device=device)
    sd["empty_bool"] = gpugrad.zeros(0, dtype=gpugrad.bool, device=device)
    sd["strided"] = gpugrad.arange(30.0, device=device).reshape(5, 6)[:, ::2]
    sd["broadcast"] = gpugrad.ones(1, 4, device=device).expand(3, 4)
    sd["special"] = gpugrad.tensor([float("nan"), float("inf"), -float("inf"), -0.0], device=device)
    sd["np_big_endian"] = np.arange(6, dtype=">i4").reshape(2, 3)
    return sd


def check_state(sd: dict, back: dict) -> None:
    assert list(back) == list(sd)
    for k, v in sd.items():
        if isinstance(v, np.ndarray):
            assert isinstance(back[k], np.ndarray)
            np.testing.assert_array_equal(back[k], v)
            assert back[k].dtype == v.dtype.newbyteorder("=")
        else:
            same(v, back[k])


@pytest.mark.parametrize("mmap", [False, True])
def test_roundtrip_every_dtype_and_layout(tmp_path, device, mmap):
    sd = sample_state(device)
    path = tmp_path / "all.safetensors"
    gpugrad.save(sd, path)
    check_state(sd, gpugrad.load(path, mmap=mmap))


def test_roundtrip_through_file_objects(device):
    sd = sample_state(device)
    buf = io.BytesIO()
    buf.write(b"JUNK")  # a checkpoint in the middle of a file
    gpugrad.save(sd, buf)
    end = buf.tell()
    buf.write(b"TAIL")
    buf = io.BytesIO(buf.getvalue()[:end])
    buf.seek(4)
    check_state(sd, gpugrad.load(buf))

    class Pipe:  # written and read only in sequence: no seek, no tell
        def __init__(self, data: bytes = b"") -> None:
            self.data = bytearray(data)

        def write(self, b) -> int:
            self.data += bytes(b)
            return len(b)

        def read(self, n: int = -1) -> bytes:
            out = bytes(self.data if n < 0 else self.data[:n])
            del self.data[: len(out)]
            return out

    pipe = Pipe()
    gpugrad.save(sd, pipe)
    check_state(sd, gpugrad.load(Pipe(pipe.data)))


def test_file_is_plain_safetensors_with_aligned_tensors(tmp_path):
    stn = pytest.importorskip("safetensors.numpy")
    sd = sample_state("cpu")
    del sd["np_big_endian"]
    path = tmp_path / "a.safetensors"
    gpugrad.save(sd, path)
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    assert n % 8 == 0
    header = json.loads(data[8 : 8 + n])
    for k, spec in header.items():
        if k != "__metadata__":
            itemsize = np.dtype(host(sd[k]).dtype).itemsize
            assert spec["data_offsets"][0] % itemsize == 0
    theirs = stn.load_file(str(path))
    assert set(theirs) == set(sd)
    for k, v in sd.items():
        np.testing.assert_array_equal(theirs[k], host(v))
        assert theirs[k].shape == tuple(v.shape)


def test_safetensors_files_of_others_load_in_header_order(tmp_path):
    stn = pytest.importorskip("safetensors.numpy")
    arrays = {"z": np.arange(3, dtype=np.int8), "a": np.ones((2, 2), np.float64), "m": np.zeros(0)}
    path = tmp_path / "o.safetensors"
    stn.save_file(arrays, str(path))
    for mmap in (False, True):
        back = gpugrad.load(path, mmap=mmap)
        data = path.read_bytes()
        order = [k for k in json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])]
        assert list(back) == [k for k in order if k != "__metadata__"]
        for k, v in arrays.items():
            np.testing.assert_array_equal(host(back[k]), v)


def test_gpugrad_save_matches_safetensors_bytes_for_tensors(tmp_path):
    """The payload is byte for byte what safetensors writes for the same arrays."""
    stn = pytest.importorskip("safetensors.numpy")
    sd = {"b": gpugrad.randn(5, 3), "a": gpugrad.arange(7), "c": gpugrad.ones(2).to(gpugrad.int8)}
    path = tmp_path / "g.safetensors"
    gpugrad.save(sd, path)
    theirs = stn.load(stn.save({k: host(v) for k, v in sd.items()}))
    mine = stn.load_file(str(path))
    for k in sd:
        assert mine[k].tobytes() == theirs[k].tobytes() and mine[k].dtype == theirs[k].dtype


_RSS = textwrap.dedent(
    """
    import sys
    import numpy as np
    import gpugrad
    import gpugrad.serialization

    def rss():
        fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
        return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024

    what, path = sys.argv[1], sys.argv[2]
    if what == "save":
        sd = {f"w{k}": gpugrad.from_numpy(np.ones(1 << 20, np.float32)) for k in range(8)}
    before = rss()[0]
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # the peak restarts from here
    if what == "save":
        gpugrad.save(sd, path)
    else:
        out = gpugrad.load(path, mmap=what == "mmap")
        sums = [float(v._data.sum()) for v in out.values()]
    print(rss()[1] - before)
    """
)


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux's /proc")
def test_peak_resident_memory_of_save_and_load(tmp_path):
    """32 MB state dict: a save adds almost nothing to the process's peak RSS, a load about
    the file's size once (its mapped pages are dropped as each tensor is copied out)."""
    path = tmp_path / "r.safetensors"

    def extra(what: str) -> int:
        out = subprocess.run(
            [sys.executable, "-c", _RSS, what, str(path)],
            capture_output=True,
            text=True,
            check=True,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        )
        return int(out.stdout.split()[-1])

    assert extra("save") < 2 * MB
    size = path.stat().st_size
    assert size >= 32 * MB
    assert extra("load") < 1.15 * size
    assert extra("mmap") < 1.15 * size  # file pages touched by the sums, nothing else


def test_unmappable_file_is_read_instead(tmp_path, monkeypatch):
    import mmap

    path = tmp_path / "u.safetensors"
    sd = sample_state("cpu")
    gpugrad.save(sd, path)

    def refuse(*args, **kwargs):
        raise OSError(19, "No such device")  # what mmap says on a file system without it

    monkeypatch.setattr(mmap, "mmap", refuse)
    check_state(sd, gpugrad.load(path))
    with pytest.raises(OSError, match="No such device"):
        gpugrad.load(path, mmap=True)
