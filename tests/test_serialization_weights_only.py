"""weights_only loads of .pt files: PyTorch's messages, safe globals, and corrupted or hostile
files that must give a clear error naming the file and run nothing."""

from __future__ import annotations

import io
import os
import pickle
import zipfile

import numpy as np
import pytest

import gpugrad
from gpugrad import nn
from gpugrad.serialization import (
    CheckpointError,
    add_safe_globals,
    clear_safe_globals,
    get_safe_globals,
    get_unsafe_globals_in_checkpoint,
    safe_globals,
)
from tests.utils import host

torch = pytest.importorskip("torch")


class Config:
    """A user's class inside a checkpoint (allowed only through the safe-globals list)."""

    def __init__(self, lr: float) -> None:
        self.lr = lr


class Exec:
    """Unpickling this runs code: it writes ``marker``."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


class System:
    def __reduce__(self):
        return (os.system, ("true",))


@pytest.fixture(autouse=True)
def _no_leftover_globals():
    clear_safe_globals()
    torch.serialization.clear_safe_globals()
    yield
    clear_safe_globals()
    torch.serialization.clear_safe_globals()


def errors(path, **kw):
    """(gpugrad's error, torch's error) for loading ``path``."""
    with pytest.raises(CheckpointError) as g:
        gpugrad.load(path, **kw)
    with pytest.raises(pickle.UnpicklingError) as t:
        torch.load(path, **kw)
    return g.value, t.value


def without_file(err, path) -> str:
    prefix = f"cannot load '{path}': "
    msg = str(err)
    assert msg.startswith(prefix), msg
    return msg[len(prefix) :]


# ---- weights_only refuses objects, with PyTorch's message -----------------------------------
@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_whole_module_refused_by_default_with_torchs_message(tmp_path, legacy):
    path = tmp_path / "model.pt"
    torch.save(torch.nn.Linear(2, 3), path, _use_new_zipfile_serialization=not legacy)
    g, t = errors(path)
    assert isinstance(g, pickle.UnpicklingError)  # where PyTorch code catches it
    assert without_file(g, path) == str(t)
    assert "weights_only` set to `False`" in str(g)
    assert "GLOBAL torch.nn.modules.linear.Linear" in str(g)
    m = gpugrad.load(path, weights_only=False)
    assert type(m) is nn.Linear and tuple(m.weight.shape) == (3, 2)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_code_in_pickle_never_runs(tmp_path, legacy):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    torch.save(
        {"w": torch.ones(2), "x": Exec(str(marker))},
        path,
        _use_new_zipfile_serialization=not legacy,
    )
    g, t = errors(path)
    assert not marker.exists()
    assert without_file(g, path) == str(t) and "GLOBAL exec was not an allowed" in str(g)
    # allowlisting os / sys is refused even when asked, as in PyTorch
    torch.save({"x": System()}, path, _use_new_zipfile_serialization=not legacy)
    with safe_globals([os.system]), torch.serialization.safe_globals([os.system]):
        g, t = errors(path)
    assert without_file(g, path) == str(t) and "whose module posix is blocked" in str(g)
    # full unpickling runs the file's code: only when asked for
    torch.save({"x": Exec(str(marker))}, path, _use_new_zipfile_serialization=not legacy)
    gpugrad.load(path, weights_only=False)
    assert marker.read_text() == "ran"


def test_refusals_of_the_restricted_unpickler(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"w": torch.ones(1)}, path)
    # a pickle that builds a user object with NEWOBJ / BUILD, and one that appends to a dict
    cases = {
        "newobj": pickle.dumps(Config(0.1), protocol=2),
        "append": b"\x80\x02}q\x00K\x01a.",
        "opcode": b"\x80\x02I1\n.",  # INT, a text opcode torch.save never writes
    }
    for name, pkl in cases.items():
        _rewrite(path, {"archive/data.pkl": pkl}, like=path)
        g, t = errors(path)
        assert without_file(g, path) == str(t), name


def test_safe_globals(tmp_path):
    path = tmp_path / "cfg.pt"
    torch.save({"w": torch.ones(2), "cfg": Config(0.5)}, path)
    name = f"{Config.__module__}.Config"
    g, t = errors(path)
    assert without_file(g, path) == str(t) and f"GLOBAL {name} was not an allowed" in str(g)
    with safe_globals([Config]):
        assert get_safe_globals() == [Config]
        back = gpugrad.load(path)
    assert type(back["cfg"]) is Config and back["cfg"].lr == 0.5
    assert get_safe_globals() == []
    with pytest.raises(CheckpointError):
        gpugrad.load(path)
    add_safe_globals([(Config, name)])  # the (object, "full.path") form
    assert gpugrad.load(path)["cfg"].lr == 0.5
    clear_safe_globals()
    assert get_safe_globals() == []
    add_safe_globals([(Config, name, "extra")])
    with pytest.raises(ValueError, match="tuple of length 2"):
        gpugrad.load(path)


def test_unsafe_globals_in_checkpoint_as_torch(tmp_path):
    path = tmp_path / "m.pt"
    torch.save({"m": torch.nn.Sequential(torch.nn.Linear(1, 1)), "c": Config(1.0)}, path)
    ours = get_unsafe_globals_in_checkpoint(path)
    assert ours == sorted(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    assert f"{Config.__module__}.Config" in ours


def test_weights_only_and_pickle_module(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"w": torch.ones(2)}, path)
    with pytest.raises(RuntimeError, match="explicit pickle_module"):
        gpugrad.load(path, pickle_module=pickle, weights_only=True)
    assert host(gpugrad.load(path, pickle_module=pickle)["w"]).tolist() == [1.0, 1.0]


# ---- corrupted files: an error naming the file and the problem -----------------------------
@pytest.fixture
def good(tmp_path):
    path = tmp_path / "good.pt"
    torch.save({"w": torch.arange(64.0).reshape(8, 8), "b": torch.ones(3)}, path)
    return path


@pytest.mark.parametrize("frac", [0.0, 0.1, 0.5, 0.9, 0.99])
def test_truncated_zip(good, frac):
    data = good.read_bytes()
    good.write_bytes(data[: int(len(data) * frac)])
    with pytest.raises(CheckpointError, match="good.pt"):
        gpugrad.load(good)


@pytest.mark.parametrize("frac", [0.05, 0.3, 0.6, 0.95])
def test_truncated_legacy(good, frac):
    torch.save(
        {"w": torch.arange(64.0), "b": torch.ones(3)}, good, _use_new_zipfile_serialization=False
    )
    data = good.read_bytes()
    good.write_bytes(data[: int(len(data) * frac)])
    with pytest.raises(CheckpointError, match="good.pt"):
        gpugrad.load(good)


def test_missing_storage_record(good):
    _rewrite(good, {"good/data/0": None}, like=good)
    with pytest.raises(CheckpointError, match="good.pt.*storage record 'good/data/0' is missing"):
        gpugrad.load(good)


def test_storage_record_of_wrong_size(good):
    _rewrite(good, {"good/data/1": b"\x00" * 4}, like=good)
    with pytest.raises(CheckpointError, match="'good/data/1' holds 4 bytes.*expects 12"):
        gpugrad.load(good)


def test_corrupted_storage_bytes(good):
    data = bytearray(good.read_bytes())
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("good/data/0")
    start = info.header_offset + 30 + len(info.filename) + len(_local_extra(data, info))
    data[start + 5] ^= 0xFF  # the CRC no longer matches
    good.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="good.pt.*'good/data/0' is corrupted"):
        gpugrad.load(good)


def test_wrong_magic_number(good):
    torch.save({"w": torch.ones(2)}, good, _use_new_zipfile_serialization=False)
    data = bytearray(good.read_bytes())
    data[5] ^= 0x01  # inside the pickled magic number
    good.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="good.pt.*invalid magic number"):
        gpugrad.load(good)
    good.write_bytes(pickle.dumps(12345, protocol=2) + pickle.dumps(1001, protocol=2))
    with pytest.raises(CheckpointError, match="good.pt.*invalid magic number"):
        gpugrad.load(good)


def test_view_past_its_storage_is_refused(good):
    torch.save(torch.arange(4.0), good)
    # size (4,) -> (100,): the view would read 96 floats of memory the file does not own
    pkl = zipfile.ZipFile(good).read("good/data.pkl")
    assert pkl.count(b"K\x00K\x04\x85") == 1
    _rewrite(good, {"good/data.pkl": pkl.replace(b"K\x00K\x04\x85", b"K\x00Kd\x85")}, like=good)
    with pytest.raises(CheckpointError, match="good.pt.*runs past the end of its storage"):
        gpugrad.load(good)
    with pytest.raises(CheckpointError, match="bad layout"):  # negative offset
        _rewrite(
            good,
            {"good/data.pkl": pkl.replace(b"K\x00K\x04\x85", b"J\xff\xff\xff\xffK\x04\x85")},
            like=good,
        )
        gpugrad.load(good)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.script / save
def test_garbage_pickle_and_torchscript(good, tmp_path):
    _rewrite(good, {"good/data.pkl": np.random.default_rng(0).bytes(200)}, like=good)
    with pytest.raises(CheckpointError, match="good.pt"):
        gpugrad.load(good)
    ts = tmp_path / "script.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), ts)
    with pytest.raises(CheckpointError, match="script.pt.*TorchScript"):
        gpugrad.load(ts)


def test_tar_format_is_named(tmp_path):
    import tarfile

    path = tmp_path / "old.pt"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("storages")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(CheckpointError, match="old.pt.*legacy .tar format"):
        gpugrad.load(path)


def _local_extra(data: bytes, info: zipfile.ZipInfo) -> bytes:
    n_name = int.from_bytes(data[info.header_offset + 26 : info.header_offset + 28], "little")
    n_extra = int.from_bytes(data[info.header_offset + 28 : info.header_offset + 30], "little")
    start = info.header_offset + 30 + n_name
    return data[start : start + n_extra]


def _rewrite(path, records: dict, like) -> None:
    """Rewrite the zip at ``path`` with ``records`` replaced (None: dropped); a record name
    ``archive/...`` stands for the file's own archive folder."""
    src = zipfile.ZipFile(io.BytesIO(like.read_bytes()))
    folder = src.namelist()[0].split("/")[0]
    records = {k.replace("archive/", folder + "/", 1): v for k, v in records.items()}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = records.get(info.filename, src.read(info))
            if data is not None:
                dst.writestr(info.filename, data)
    path.write_bytes(out.getvalue())


def test_torchs_environment_variables(tmp_path, monkeypatch):
    path = tmp_path / "m.pt"
    torch.save(torch.nn.Linear(1, 1), path)
    monkeypatch.setenv("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "1")
    with pytest.raises(CheckpointError, match="Weights only load failed"):
        gpugrad.load(path, weights_only=False)
    monkeypatch.delenv("TORCH_FORCE_WEIGHTS_ONLY_LOAD")
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with pytest.warns(UserWarning, match="forcing weights_only=False"):
        assert type(gpugrad.load(path)) is nn.Linear
    with pytest.raises(CheckpointError):  # an explicit weights_only=True still holds
        gpugrad.load(path, weights_only=True)


def test_legacy_storage_larger_than_the_file(good):
    torch.save({"w": torch.ones(3)}, good, _use_new_zipfile_serialization=False)
    data = good.read_bytes()
    assert data.count(b"K\x03N") == 1  # the storage's numel, then its view record (None)
    good.write_bytes(data.replace(b"K\x03N", b"J\x00\x00\x00\x40N"))  # 2**30 floats
    with pytest.raises(CheckpointError, match="good.pt.*claims 1073741824 elements"):
        gpugrad.load(good)


@pytest.mark.filterwarnings("ignore::UserWarning")  # a mutated PROTO byte: torch's warning
@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_random_damage_gives_the_checkpoint_error_or_loads(tmp_path, legacy):
    obj = {"w": torch.randn(3, 4), "b": torch.arange(5), "p": torch.nn.Parameter(torch.ones(2))}
    obj["n"] = {"x": [1, 2.5, "s"], "t": (None, True)}
    path = tmp_path / "d.pt"
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    if legacy:
        target = bytearray(path.read_bytes())
    else:
        target = bytearray(zipfile.ZipFile(path).read("d/data.pkl"))
    rng = np.random.default_rng(0)
    for _ in range(250):
        damaged = bytearray(target)
        for _ in range(rng.integers(1, 4)):
            damaged[rng.integers(len(damaged))] = rng.integers(256)
        if legacy:
            path.write_bytes(bytes(damaged))
        else:
            _rewrite(path, {"archive/data.pkl": bytes(damaged)}, like=path)
        try:
            gpugrad.load(path)
        except CheckpointError as e:
            assert "d.pt" in str(e)
        if not legacy:
            _rewrite(path, {"archive/data.pkl": bytes(target)}, like=path)
