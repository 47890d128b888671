"""PyTorch's .pt checkpoints both ways with real torch: state dicts of every dtype, views sharing
storage, nested containers, the legacy format, map_location, mmap, whole modules."""

from __future__ import annotations

import io
import math
import mmap
import zipfile
from collections import Counter, OrderedDict

import numpy as np
import pytest

import gpugrad
from gpugrad import nn
from gpugrad.serialization import CheckpointError
from tests.utils import host

torch = pytest.importorskip("torch")

# every dtype gpugrad has, with torch's
DTYPES = [
    ("float16", torch.float16),
    ("float32", torch.float32),
    ("float64", torch.float64),
    ("int8", torch.int8),
    ("int16", torch.int16),
    ("int32", torch.int32),
    ("int64", torch.int64),
    ("uint8", torch.uint8),
    ("bool", torch.bool),
]
FORMATS = [{}, {"_use_new_zipfile_serialization": False}]  # zip, legacy
FORMAT_IDS = ["zip", "legacy"]


def torch_values(tdt, shape=(3, 5), seed=0):
    g = torch.Generator().manual_seed(seed)
    if tdt is torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    if tdt.is_floating_point:
        return (torch.randn(shape, generator=g, dtype=torch.float64) * 100).to(tdt)
    info = torch.iinfo(tdt)
    return torch.randint(info.min, info.max, shape, generator=g, dtype=torch.int64).to(tdt)


def same_values(g, t) -> None:
    """A gpugrad tensor holds exactly torch's tensor: dtype, shape, bits."""
    assert isinstance(g, gpugrad.Tensor), type(g)
    assert g.dtype.name == str(t.dtype).removeprefix("torch."), (g.dtype, t.dtype)
    assert tuple(g.shape) == tuple(t.shape)
    np.testing.assert_array_equal(host(g), t.detach().numpy())


def storage_shares(a, b) -> bool:
    return np.shares_memory(host(a), host(b)) if a.device.type == "cpu" else True


# ---- torch.save -> gpugrad.load -------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)
def test_torch_state_dict_of_every_dtype(tmp_path, device, fmt):
    sd = OrderedDict((name, torch_values(tdt, seed=i)) for i, (name, tdt) in enumerate(DTYPES))
    sd["scalar"] = torch.tensor(2.5)
    sd["empty"] = torch.zeros(0, 3)
    path = tmp_path / "sd.pt"
    torch.save(sd, path, **fmt)
    back = gpugrad.load(path, map_location=device)
    assert type(back) is OrderedDict and list(back) == list(sd)
    for k, v in sd.items():
        same_values(back[k], v)
        assert back[k].device == gpugrad.device(device)
    assert back["scalar"].dim() == 0


@pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)
def test_torch_views_share_storage(tmp_path, device, fmt):
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    views = {
        "base": base,
        "rows": base[1:3],  # offset
        "cols": base[:, ::2],  # strided, non-contiguous
        "t": base.t(),  # transposed
        "elem": base[2, 3],  # 0-d view at an offset
        "expanded": base[0:1].expand(3, 6),  # stride 0
        "other": torch.ones(2, dtype=torch.float64),
    }
    path = tmp_path / "views.pt"
    torch.save(views, path, **fmt)
    back = gpugrad.load(path, map_location=device)
    for k, v in views.items():
        same_values(back[k], v)
        assert back[k].stride() == v.stride(), k
    # one storage again: a write through one view shows in the others, as in PyTorch
    assert storage_shares(back["base"], back["cols"])
    back["base"].add_(100)
    for k in ("rows", "cols", "t", "elem", "expanded"):
        np.testing.assert_array_equal(host(back[k]), (views[k] + 100).numpy())
    np.testing.assert_array_equal(host(back["other"]), np.ones(2))


def test_torch_nested_containers(tmp_path):
    class_free = {
        "list": [torch.ones(2), 1, 2.5, None, True, "text", b"bytes", (3, "x")],
        "od": OrderedDict([("b", torch.zeros(1)), ("a", 2)]),
        "counter": Counter("abca"),
        "set": {1, 2, 3},
        "float": [math.inf, -math.inf, 1e300],
        "nan": math.nan,
        "big": 2**80,
        "complex": 1 + 2j,
        "size": torch.Size([2, 3]),
        "dtype": torch.float16,
        "dev": torch.device("cpu"),
        (1, "k"): {"deep": [[torch.arange(3)]]},
        "bytearray": bytearray(b"ab"),
    }
    path = tmp_path / "nested.pt"
    torch.save(class_free, path)
    back = gpugrad.load(path)
    same_values(back["list"][0], class_free["list"][0])
    assert back["list"][1:] == [1, 2.5, None, True, "text", b"bytes", (3, "x")]
    assert type(back["od"]) is OrderedDict and list(back["od"]) == ["b", "a"]
    assert type(back["counter"]) is Counter and back["counter"]["a"] == 2
    assert back["set"] == {1, 2, 3} and back["float"] == [math.inf, -math.inf, 1e300]
    assert math.isnan(back["nan"]) and back["big"] == 2**80 and back["complex"] == 1 + 2j
    assert back["size"] == gpugrad.Size([2, 3]) and type(back["size"]) is gpugrad.Size
    assert back["dtype"] is gpugrad.float16 and back["dev"] == gpugrad.device("cpu")
    same_values(back[(1, "k")]["deep"][0][0], torch.arange(3))
    assert back["bytearray"] == bytearray(b"ab")


@pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)
def test_torch_unsupported_dtype_names_key_and_dtype(tmp_path, fmt):
    path = tmp_path / "c64.pt"
    torch.save({"fc.weight": torch.ones(2, dtype=torch.complex64), "b": torch.ones(1)}, path, **fmt)
    with pytest.raises(CheckpointError, match=r"c64.pt.*'fc.weight'.*torch.complex64"):
        gpugrad.load(path)
    # the same inside a whole module: the error names the parameter
    m = torch.nn.Linear(2, 2).to(torch.complex64)
    torch.save(m, path, **fmt)
    with pytest.raises(CheckpointError, match=r"'weight'.*torch.complex64"):
        gpugrad.load(path, weights_only=False)


def test_torch_parameters_and_requires_grad(tmp_path):
    obj = {
        "p": torch.nn.Parameter(torch.randn(3)),
        "frozen": torch.nn.Parameter(torch.randn(2), requires_grad=False),
        "leaf": torch.randn(2, requires_grad=True),
        "plain": torch.randn(2),
    }
    torch.save(obj, tmp_path / "p.pt")
    back = gpugrad.load(tmp_path / "p.pt")
    assert isinstance(back["p"], nn.Parameter) and back["p"].requires_grad
    assert isinstance(back["frozen"], nn.Parameter) and not back["frozen"].requires_grad
    assert back["leaf"].requires_grad and back["leaf"].is_leaf
    assert not back["plain"].requires_grad
    for k, v in obj.items():
        same_values(back[k], v)


def test_map_location_forms(tmp_path, device):
    path = tmp_path / "m.pt"
    torch.save({"x": torch.arange(4.0), "y": torch.ones(2, 2)}, path)
    dev = gpugrad.device(device)
    for ml in (device, dev, {"cpu": device}):
        assert gpugrad.load(path, map_location=ml)["x"].device == dev
    seen = []

    def keep(storage, location):
        seen.append((location, storage.dtype, len(storage)))
        return storage

    back = gpugrad.load(path, map_location=keep)
    assert back["x"].device.type == "cpu" and sorted(seen) == [
        ("cpu", gpugrad.float32, 4),
        ("cpu", gpugrad.float32, 4),
    ]
    # a callable returning None falls back to the saved location
    assert gpugrad.load(path, map_location=lambda s, loc: None)["y"].device.type == "cpu"
    if device == "cuda":
        back = gpugrad.load(path, map_location=lambda s, loc: s.cuda(0))
        assert back["x"].device == gpugrad.device("cuda:0")
    with pytest.raises(TypeError, match="map_location"):
        gpugrad.load(path, map_location=3.5)


def test_cuda_checkpoint_without_cuda_needs_map_location(tmp_path, monkeypatch):
    from gpugrad import backend

    path = tmp_path / "cuda.pt"
    torch.save({"x": torch.arange(3.0)}, path)
    cpu, cuda = b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0"  # BINUNICODE strings
    _rewrite_pickle(path, lambda pkl: pkl.replace(cpu, cuda))
    monkeypatch.setattr(backend, "cuda_status", lambda: (0, "no GPU here"))
    with pytest.raises(RuntimeError, match="map_location='cpu'"):
        gpugrad.load(path)
    same_values(gpugrad.load(path, map_location="cpu")["x"], torch.arange(3.0))
    same_values(gpugrad.load(path, map_location={"cuda:0": "cpu"})["x"], torch.arange(3.0))


def test_mmap(tmp_path):
    path = tmp_path / "big.pt"
    sd = {"w": torch.randn(64, 32), "b": torch.arange(10)}
    torch.save(sd, path)
    before = path.read_bytes()
    back = gpugrad.load(path, mmap=True)
    for k, v in sd.items():
        same_values(back[k], v)
    arr = back["w"]._data
    while isinstance(arr, np.ndarray):
        arr = arr.base
    assert isinstance(arr.obj, mmap.mmap)  # the bytes come from the mapped file
    back["w"].add_(1)  # copy-on-write: the file does not change
    assert path.read_bytes() == before
    with pytest.raises(ValueError, match="file path"):
        gpugrad.load(io.BytesIO(before), mmap=True)
    torch.save(sd, path, _use_new_zipfile_serialization=False)
    with pytest.raises(RuntimeError, match="mmap can only be used"):
        gpugrad.load(path, mmap=True)


def test_state_dict_from_torch_module_into_gpugrad_module(tmp_path):
    torch.manual_seed(0)
    tm = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3),
        torch.nn.BatchNorm2d(4),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 4 * 4, 3),
    )
    tm.train()
    tm(torch.randn(5, 2, 6, 6))  # running stats move away from their initial values
    tm.eval()
    path = tmp_path / "sd.pth"
    torch.save(tm.state_dict(), path)
    gm = nn.Sequential(
        nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3)
    )
    gm.load_state_dict(gpugrad.load(path))
    gm.eval()
    x = np.random.default_rng(0).standard_normal((2, 2, 6, 6)).astype(np.float32)
    expected = tm(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(host(gm(gpugrad.tensor(x))), expected, rtol=1e-5, atol=1e-5)
    assert int(host(gm[1].num_batches_tracked)) == 1


def make_pair():
    torch.manual_seed(0)
    tm = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.LayerNorm(8), torch.nn.Linear(8, 3)
    )
    gm = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.LayerNorm(8), nn.Linear(8, 3))
    gm.load_state_dict({k: gpugrad.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    return tm, gm


def test_torch_whole_module_loads_as_gpugrad_module(tmp_path):
    tm, _ = make_pair()
    path = tmp_path / "model.pt"
    torch.save(tm, path)
    gm = gpugrad.load(path, weights_only=False)
    assert type(gm) is nn.Sequential and type(gm[0]) is nn.Linear and type(gm[2]) is nn.LayerNorm
    assert isinstance(gm[0].weight, nn.Parameter) and gm[0].weight.requires_grad
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    expected = tm(torch.from_numpy(x)).detach().numpy()
    out = gm(gpugrad.tensor(x))
    np.testing.assert_allclose(host(out), expected, rtol=1e-5, atol=1e-6)
    out.sum().backward()  # the loaded module trains
    assert gm[0].weight.grad is not None


def test_gpugrad_whole_module_loads_in_torch(tmp_path):
    tm, gm = make_pair()
    path = tmp_path / "model.pt"
    gpugrad.save(gm, path)
    back = torch.load(path, weights_only=False)
    assert type(back) is torch.nn.Sequential and type(back[0]) is torch.nn.Linear
    assert type(back[0].weight) is torch.nn.Parameter and back[0].weight.requires_grad
    x = np.random.default_rng(2).standard_normal((5, 4)).astype(np.float32)
    expected = tm(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(
        back(torch.from_numpy(x)).detach().numpy(), expected, rtol=1e-5, atol=1e-6
    )
    assert torch.load(path, weights_only=False, mmap=True)[3].bias.shape == (3,)  # aligned
    # and gpugrad reads its own file back
    again = gpugrad.load(path, weights_only=False)
    assert type(again[0]) is nn.Linear
    np.testing.assert_allclose(host(again(gpugrad.tensor(x))), expected, rtol=1e-5, atol=1e-6)


# (constructor taking the nn namespace, input shape or kind): modules whose whole-object
# checkpoints must load in the other library and compute the same outputs
MODULES = {
    "conv2d": (lambda m: m.Conv2d(2, 3, 3), (2, 2, 5, 5)),
    "conv_transpose2d": (lambda m: m.ConvTranspose2d(2, 2, 3), (1, 2, 4, 4)),
    "batchnorm2d": (lambda m: m.BatchNorm2d(2), (2, 2, 3, 3)),
    "embedding": (lambda m: m.Embedding(10, 4), "indices"),
    "lstm": (lambda m: m.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True), (2, 5, 3)),
    "gru": (lambda m: m.GRU(3, 4), (5, 2, 3)),
    "rnn": (lambda m: m.RNN(3, 4, nonlinearity="relu"), (5, 2, 3)),
    "attention": (lambda m: m.MultiheadAttention(4, 2, batch_first=True), "qkv"),
    "encoder_layer": (
        lambda m: m.TransformerEncoderLayer(4, 2, 8, dropout=0.0, batch_first=True),
        (2, 3, 4),
    ),
    "encoder_layer_gelu": (
        lambda m: m.TransformerEncoderLayer(4, 2, 8, dropout=0.0, activation="gelu"),
        (3, 2, 4),
    ),
    "gelu_dropout_pool": (
        lambda m: m.Sequential(m.GELU(), m.Dropout(0.5), m.MaxPool2d(2), m.Flatten()),
        (1, 1, 4, 4),
    ),
}


def _forward(m, kind, lib):
    rng = np.random.default_rng(0)
    if kind == "indices":
        return m(lib.tensor(np.array([[1, 2], [3, 9]]))).detach().numpy()
    shape = (2, 3, 4) if kind == "qkv" else kind
    x = rng.standard_normal(shape).astype(np.float32)
    x = gpugrad.tensor(x) if lib is gpugrad else torch.from_numpy(x)
    out = m(x, x, x) if kind == "qkv" else m(x)
    return (out[0] if isinstance(out, tuple) else out).detach().numpy()


@pytest.mark.parametrize("name", list(MODULES))
def test_whole_modules_both_ways(tmp_path, name):
    make, kind = MODULES[name]
    path = tmp_path / f"{name}.pt"
    gm = make(nn).eval()
    gpugrad.save(gm, path)
    tm = torch.load(path, weights_only=False).eval()
    assert type(tm).__name__ == type(gm).__name__ and type(tm).__module__.startswith("torch")
    np.testing.assert_allclose(
        _forward(tm, kind, torch), _forward(gm, kind, gpugrad), rtol=1e-5, atol=1e-5
    )
    torch.manual_seed(1)
    tm = make(torch.nn).eval()
    torch.save(tm, path)
    gm = gpugrad.load(path, weights_only=False).eval()
    assert type(gm).__name__ == type(tm).__name__ and type(gm).__module__.startswith("gpugrad")
    np.testing.assert_allclose(
        _forward(gm, kind, gpugrad), _forward(tm, kind, torch), rtol=1e-5, atol=1e-5
    )


def test_every_gpugrad_class_and_function_is_written_under_a_name_torch_has():
    import importlib
    import inspect

    from gpugrad.serialization.torch_names import global_name

    packages = (
        "gpugrad",
        "gpugrad.nn",
        "gpugrad.nn.functional",
        "gpugrad.optim",
        "gpugrad.optim.lr_scheduler",
        "gpugrad.utils.data",
    )
    missing = []
    for pkg in packages:
        mod = importlib.import_module(pkg)
        for attr in dir(mod):
            obj = getattr(mod, attr)
            kind = inspect.isclass(obj) or inspect.isfunction(obj)
            if not (kind and (obj.__module__ or "").startswith("gpugrad")):
                continue
            if not hasattr(importlib.import_module("torch" + pkg[len("gpugrad") :]), attr):
                continue  # gpugrad's own (PyTorch has no such name here)
            module, qualname = global_name(obj)
            found = importlib.import_module(module)
            for part in qualname.split("."):
                found = getattr(found, part, None)
            if found is None:
                missing.append(f"{pkg}.{attr} -> {module}.{qualname}")
    assert not missing, missing


class Net(nn.Module):
    """A user's model class (pickled by reference to this module, as PyTorch does)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.register_buffer("steps", gpugrad.tensor(7))
        self.note = "a plain attribute"

    def forward(self, x):
        return self.fc(x)


def test_user_module_roundtrip(tmp_path, device):
    net = Net().to(device)
    path = tmp_path / "net.pt"
    gpugrad.save({"model": net, "epoch": 3}, path)
    back = gpugrad.load(path, weights_only=False, map_location=device)
    m = back["model"]
    assert type(m) is Net and back["epoch"] == 3 and m.note == "a plain attribute"
    assert m.fc.weight.device == gpugrad.device(device) and int(host(m.steps)) == 7
    x = gpugrad.randn(4, 3, device=device)
    np.testing.assert_array_equal(host(m(x)), host(net(x)))
    # in torch the user's class is what its name is there; its gpugrad layers load as torch's
    tnet = torch.load(path, weights_only=False, map_location="cpu")["model"]
    assert type(tnet.fc) is torch.nn.Linear and tnet.fc.weight.dtype == torch.float32


# ---- gpugrad.save -> torch.load --------------------------------------------------------------
def test_gpugrad_state_dict_of_every_dtype_in_torch(tmp_path, device):
    sd = OrderedDict()
    for i, (name, tdt) in enumerate(DTYPES):
        sd[name] = gpugrad.tensor(torch_values(tdt, seed=i).numpy(), device=device)
    sd["scalar"] = gpugrad.tensor(1.5, device=device)
    path = tmp_path / "sd.pt"
    gpugrad.save(sd, path, format="pt")
    back = torch.load(path, map_location="cpu")  # weights_only: only tensors in the file
    assert list(back) == list(sd)
    for k, v in sd.items():
        same_values(v, back[k])
    # the default for a state dict stays safetensors, which torch.load reads by its suffix
    gpugrad.save(sd, tmp_path / "sd.safetensors")
    for k, v in torch.load(tmp_path / "sd.safetensors").items():
        same_values(sd[k], v)


def test_gpugrad_views_share_storage_in_torch(tmp_path):
    base = gpugrad.arange(24, dtype=gpugrad.float32).reshape(4, 6)
    obj = {
        "base": base,
        "rows": base[1:3],
        "cols": base[:, ::2],
        "t": base.t(),
        "flipped": base.flip(0),  # a copy in gpugrad (torch has no negative strides)
        "p": nn.Parameter(gpugrad.ones(3)),
    }
    path = tmp_path / "views.pt"
    gpugrad.save(obj, path, format="pt")
    back = torch.load(path)
    for k, v in obj.items():
        same_values(v.detach(), back[k])
    assert back["cols"].stride() == (6, 2) and back["rows"].storage_offset() == 6
    ptr = back["base"].untyped_storage().data_ptr()
    assert all(back[k].untyped_storage().data_ptr() == ptr for k in ("rows", "cols", "t"))
    assert type(back["p"]) is torch.nn.Parameter
    # and back into gpugrad: still one storage
    again = gpugrad.load(path)
    assert np.shares_memory(host(again["base"]), host(again["cols"]))
    assert again["cols"].stride() == (6, 2)
    # what gpugrad loaded it saves again with the storage still shared
    gpugrad.save(again, path, format="pt")
    back = torch.load(path)
    ptr = back["base"].untyped_storage().data_ptr()
    assert all(back[k].untyped_storage().data_ptr() == ptr for k in ("rows", "cols", "t"))
    for k, v in obj.items():
        same_values(v.detach(), back[k])
    # a parameter and its detached aliases: one storage too
    p = nn.Parameter(gpugrad.ones(3))
    gpugrad.save({"p": p, "d": p.detach(), "tail": p.detach()[1:]}, path, format="pt")
    back = torch.load(path)
    ptrs = {back[k].untyped_storage().data_ptr() for k in ("p", "d", "tail")}
    assert len(ptrs) == 1


def test_gpugrad_nested_objects_in_torch(tmp_path):
    obj = {
        "list": [gpugrad.ones(2), (1, "a"), None],
        "od": OrderedDict(a=1),
        "dtype": gpugrad.float64,
        "dev": gpugrad.device("cpu"),
        "size": gpugrad.Size([4, 5]),
        "set": {1, 2},
    }
    path = tmp_path / "n.pt"
    gpugrad.save(obj, path, format="pt")
    back = torch.load(path)
    assert back["dtype"] is torch.float64 and back["dev"] == torch.device("cpu")
    assert back["size"] == torch.Size([4, 5]) and type(back["size"]) is torch.Size
    assert back["list"][1:] == [(1, "a"), None] and back["od"] == OrderedDict(a=1)
    assert back["set"] == {1, 2}
    same_values(obj["list"][0], back["list"][0])


def test_layouts_and_bare_storages(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"layout": torch.strided, "storage": torch.arange(3.0).untyped_storage()}, path)
    back = gpugrad.load(path)
    assert back["layout"] is gpugrad.strided
    assert back["storage"].nbytes() == 12 and back["storage"].device.type == "cpu"
    gpugrad.save({"layout": gpugrad.strided, "w": gpugrad.ones(1)}, path)
    assert torch.load(path)["layout"] is torch.strided


def _rewrite_pickle(path, edit) -> None:
    """Rewrite a zip checkpoint with its data.pkl record edited."""
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(path.read_bytes()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info.filename, edit(data) if info.filename.endswith("data.pkl") else data)
    path.write_bytes(out.getvalue())


def test_torch_class_gpugrad_lacks_is_named(tmp_path):
    path = tmp_path / "m.pt"
    torch.save(torch.nn.Sequential(torch.nn.AdaptiveLogSoftmaxWithLoss(8, 10, [4])), path)
    needs = r"needs torch\.nn\.modules\.adaptive\.AdaptiveLogSoftmaxWithLoss, which gpugrad"
    with pytest.raises(CheckpointError, match="m.pt.*" + needs):
        gpugrad.load(path, weights_only=False)


def _adam_step(model, opt, x, lib):
    opt.zero_grad()
    xt = gpugrad.tensor(x) if lib is gpugrad else torch.from_numpy(x)
    (model(xt) ** 2).sum().backward()
    opt.step()


def test_model_and_optimizer_objects_resume_in_the_other_library(tmp_path):
    rng = np.random.default_rng(0)
    x1, x2 = (rng.standard_normal((5, 4)).astype(np.float32) for _ in range(2))
    path = tmp_path / "ckpt.pt"
    # gpugrad trains a step, saves model + optimizer objects; torch resumes; gpugrad goes on
    _, gm = make_pair()
    gopt = gpugrad.optim.Adam(gm.parameters(), lr=0.01, amsgrad=True)
    _adam_step(gm, gopt, x1, gpugrad)
    gpugrad.save({"model": gm, "optim": gopt, "epoch": 1}, path)
    ck = torch.load(path, weights_only=False)
    assert type(ck["optim"]) is torch.optim.Adam
    assert ck["optim"].param_groups[0]["params"][0] is ck["model"][0].weight  # one object
    _adam_step(ck["model"], ck["optim"], x2, torch)
    _adam_step(gm, gopt, x2, gpugrad)
    for (k, a), b in zip(gm.state_dict().items(), ck["model"].state_dict().values()):
        np.testing.assert_allclose(host(a), b.numpy(), rtol=1e-5, atol=1e-6, err_msg=k)
    # and torch's objects resume in gpugrad
    tm, _ = make_pair()
    topt = torch.optim.Adam(tm.parameters(), lr=0.01)
    _adam_step(tm, topt, x1, torch)
    torch.save({"model": tm, "optim": topt}, path)
    ck = gpugrad.load(path, weights_only=False)
    assert type(ck["optim"]) is gpugrad.optim.Adam
    _adam_step(ck["model"], ck["optim"], x2, gpugrad)
    _adam_step(tm, topt, x2, torch)
    for (k, a), b in zip(ck["model"].state_dict().items(), tm.state_dict().values()):
        np.testing.assert_allclose(host(a), b.detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=k)


def test_gpugrad_writes_the_legacy_format_when_asked(tmp_path):
    base = gpugrad.arange(12, dtype=gpugrad.float64).reshape(3, 4)
    sd = {"base": base, "cols": base[:, 1::2], "i8": gpugrad.tensor([1, -2], dtype=gpugrad.int8)}
    path = tmp_path / "legacy.pt"
    gpugrad.save(sd, path, format="pt", _use_new_zipfile_serialization=False)
    assert not zipfile.is_zipfile(path)
    back = torch.load(path)
    for k, v in sd.items():
        same_values(v, back[k])
    assert back["cols"].untyped_storage().data_ptr() == back["base"].untyped_storage().data_ptr()
    again = gpugrad.load(path)
    for k, v in sd.items():
        same_values(v, torch.from_numpy(host(again[k])))
    tm, gm = make_pair()
    gpugrad.save(gm, path, _use_new_zipfile_serialization=False)
    x = np.random.default_rng(3).standard_normal((2, 4)).astype(np.float32)
    tback = torch.load(path, weights_only=False)
    np.testing.assert_allclose(
        tback(torch.from_numpy(x)).detach().numpy(),
        tm(torch.from_numpy(x)).detach().numpy(),
        rtol=1e-5,
        atol=1e-6,
    )
    assert type(gpugrad.load(path, weights_only=False)[0]) is nn.Linear
