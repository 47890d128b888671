"""gpugrad.save / gpugrad.load: safetensors round trips, PyTorch interop, resume, bad files."""

from __future__ import annotations

import io
import json
import math
import os
import pickle
from collections import Counter, OrderedDict

import numpy as np
import pytest

import gpugrad
from gpugrad import nn, optim
from gpugrad.serialization import CheckpointError
from tests.utils import host, rnd, t


def same(a, b) -> None:
    """Bit-identical tensors: same dtype, shape, device and bytes."""
    assert isinstance(b, gpugrad.Tensor)
    assert a.dtype == b.dtype and tuple(a.shape) == tuple(b.shape) and a.device == b.device
    np.testing.assert_array_equal(host(a), host(b))


def make_model(device="cpu"):
    gpugrad.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).to(device)


def test_nested_structure_roundtrip(device, tmp_path):
    obj = {
        "f32": gpugrad.randn(3, 2, device=device),
        "f64": t(rnd(4), device),
        "f16": gpugrad.ones(2, dtype=gpugrad.float16, device=device),
        "i64": gpugrad.arange(5, device=device),
        "u8": gpugrad.tensor([1, 2], dtype=gpugrad.uint8, device=device),
        "b": gpugrad.tensor([True, False], device=device),
        "scalar": gpugrad.tensor(2.5, device=device),
        "view": gpugrad.arange(12, device=device).reshape(3, 4).t(),
        1: [1, 2.5, None, True, "text", (3, "x")],
        (0, "k"): {"nan": math.nan, "inf": -math.inf, "big": 2**62, 2.5: "float key"},
        "od": OrderedDict([("b", 1), ("a", 2)]),
        "counter": Counter([3, 3, 7]),
        "dtype": gpugrad.float16,
        "dev": gpugrad.device("cpu"),
        "np": np.arange(3, dtype=np.int32),
        "empty": {},
    }
    path = tmp_path / "obj.safetensors"
    gpugrad.save(obj, path)
    back = gpugrad.load(path)
    assert list(back) == list(obj)
    for k in ("f32", "f64", "f16", "i64", "u8", "b", "scalar", "view"):
        same(obj[k], back[k])
    assert back["scalar"].dim() == 0
    assert back[1] == [1, 2.5, None, True, "text", (3, "x")]
    inner = back[(0, "k")]
    assert math.isnan(inner["nan"]) and inner["inf"] == -math.inf and inner["big"] == 2**62
    assert inner[2.5] == "float key"
    assert type(back["od"]) is OrderedDict and list(back["od"]) == ["b", "a"]
    assert type(back["counter"]) is Counter and back["counter"][3] == 2
    assert back["dtype"] is gpugrad.float16 and back["dev"] == gpugrad.device("cpu")
    assert isinstance(back["np"], np.ndarray) and back["np"].dtype == np.int32
    assert back["empty"] == {}


def test_single_tensor_and_file_objects():
    x = gpugrad.randn(2, 3, requires_grad=True)
    buf = io.BytesIO()
    gpugrad.save(x, buf)
    buf.seek(0)
    y = gpugrad.load(buf)
    same(x.detach(), y.detach())
    assert y.requires_grad and y.is_leaf


def test_model_state_dict_roundtrip(device, tmp_path):
    model = make_model(device)
    path = tmp_path / "model.safetensors"
    gpugrad.save(model.state_dict(), path)
    sd = gpugrad.load(path)
    assert list(sd) == list(model.state_dict())
    other = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).to(device)
    other.load_state_dict(sd)
    for (_, a), (_, b) in zip(model.state_dict().items(), other.state_dict().items()):
        same(a, b)
    assert not any(f.name.endswith(".tmp") for f in tmp_path.iterdir())


def test_gpugrad_checkpoint_loads_into_torch(tmp_path):
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    model = make_model()
    path = tmp_path / "m.safetensors"
    gpugrad.save(model.state_dict(), path)
    tsd = st.load_file(str(path))
    tmodel = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    tmodel.load_state_dict(tsd)
    x = rnd(5, 4).astype(np.float32)
    expected = tmodel(torch.from_numpy(x)).detach().numpy()
    got = host(model(gpugrad.tensor(x)))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_torch_safetensors_loads_into_gpugrad(tmp_path):
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    torch.manual_seed(0)
    tmodel = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    path = tmp_path / "torch.safetensors"
    st.save_file(tmodel.state_dict(), str(path))
    sd = gpugrad.load(path)
    assert set(sd) == set(tmodel.state_dict())
    model = make_model()
    model.load_state_dict(sd)
    x = rnd(5, 4).astype(np.float32)
    expected = tmodel(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(host(model(gpugrad.tensor(x))), expected, rtol=1e-5, atol=1e-6)


def train_steps(model, opt, sched, xs, ys):
    for x, y in zip(xs, ys):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        sched.step()


def test_resume_matches_uninterrupted_training(device, tmp_path):
    gpugrad.manual_seed(1)
    xs = [gpugrad.randn(6, 4, device=device) for _ in range(6)]
    ys = [gpugrad.randn(6, 3, device=device) for _ in range(6)]

    def fresh():
        model = make_model(device)
        opt = optim.AdamW(model.parameters(), lr=0.01, amsgrad=True)
        return model, opt, optim.lr_scheduler.CosineAnnealingLR(opt, T_max=6)

    model, opt, sched = fresh()
    train_steps(model, opt, sched, xs, ys)

    m1, o1, s1 = fresh()
    train_steps(m1, o1, s1, xs[:3], ys[:3])
    path = tmp_path / "ckpt.safetensors"
    gpugrad.save(
        {"model": m1.state_dict(), "optim": o1.state_dict(), "sched": s1.state_dict(), "epoch": 3},
        path,
    )
    ck = gpugrad.load(path)
    assert ck["epoch"] == 3
    for k, v in o1.state_dict()["state"][0].items():
        same(v, ck["optim"]["state"][0][k])
    assert ck["optim"]["param_groups"] == o1.state_dict()["param_groups"]

    m2, o2, s2 = fresh()
    m2.load_state_dict(ck["model"])
    o2.load_state_dict(ck["optim"])
    s2.load_state_dict(ck["sched"])
    train_steps(m2, o2, s2, xs[3:], ys[3:])
    for a, b in zip(model.parameters(), m2.parameters()):
        same(a.detach(), b.detach())


def test_map_location(device, tmp_path):
    path = tmp_path / "x.safetensors"
    x = gpugrad.ones(2, device=device)
    gpugrad.save({"x": x}, path)
    assert gpugrad.load(path)["x"].device == x.device
    assert gpugrad.load(path, map_location="cpu")["x"].device == gpugrad.device("cpu")
    assert gpugrad.load(path, map_location=gpugrad.device("cpu"))["x"].device.type == "cpu"
    assert gpugrad.load(path, map_location={str(x.device): "cpu"})["x"].device.type == "cpu"
    if device == "cuda":
        x = gpugrad.load(path, map_location="cuda")["x"]
        assert x.device.type == "cuda"
    with pytest.raises(TypeError, match="map_location"):
        gpugrad.load(path, map_location=3.5)


def edit_metadata(path, old: str, new: str) -> None:
    """Replace text in a checkpoint's gpugrad metadata, keeping the file well-formed."""
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    meta = header["__metadata__"]["gpugrad"]
    assert old in meta
    header["__metadata__"]["gpugrad"] = meta.replace(old, new)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + data[8 + n :])


def test_cuda_checkpoint_without_cuda_explains(tmp_path, monkeypatch):
    from gpugrad import backend

    path = tmp_path / "x.safetensors"
    gpugrad.save({"x": gpugrad.ones(2)}, path)
    edit_metadata(path, '{"tensor": "x"}', '{"tensor": "x", "device": "cuda:0"}')
    monkeypatch.setattr(backend, "cuda_status", lambda: (0, "no GPU here"))
    with pytest.raises(RuntimeError, match="map_location='cpu'"):
        gpugrad.load(path)
    assert gpugrad.load(path, map_location="cpu")["x"].device.type == "cpu"


# ---- bad inputs ---------------------------------------------------------------------------
@pytest.fixture
def ckpt(tmp_path):
    path = tmp_path / "good.safetensors"
    gpugrad.save({"w": gpugrad.randn(16, 16), "epoch": 1}, path)
    return path


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        gpugrad.load(tmp_path / "nope.safetensors")


@pytest.mark.parametrize("cut", [0, 4, 12, 100, -1])
def test_truncated_file(ckpt, cut):
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[:cut] if cut >= 0 else data[:-7])
    with pytest.raises(CheckpointError, match="good.safetensors"):
        gpugrad.load(ckpt)


def test_random_bytes_and_foreign_files(tmp_path):
    p = tmp_path / "noise.bin"
    p.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(CheckpointError, match="noise.bin"):
        gpugrad.load(p)
    p = tmp_path / "text.txt"
    p.write_text("hello world, not a checkpoint")
    with pytest.raises(CheckpointError, match="text.txt"):
        gpugrad.load(p)
    p = tmp_path / "fake.pt"
    p.write_bytes(b"PK\x03\x04" + bytes(60))  # a zip's magic, then nothing of a zip
    with pytest.raises(CheckpointError, match="fake.pt.*zip"):
        gpugrad.load(p)


def test_corrupted_header_and_metadata(ckpt):
    data = bytearray(ckpt.read_bytes())
    data[10] = ord("#")  # break the JSON header
    ckpt.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="header"):
        gpugrad.load(ckpt)


def test_missing_tensor_entry(tmp_path):
    path = tmp_path / "x.safetensors"
    gpugrad.save({"w": gpugrad.ones(2)}, path)
    edit_metadata(path, '{"tensor": "w"}', '{"tensor": "v"}')
    with pytest.raises(CheckpointError, match="'v' is missing"):
        gpugrad.load(path)


def test_unsupported_dtype_names_key(tmp_path):
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    p = tmp_path / "f8.safetensors"
    st.save_file({"weight": torch.zeros(2, dtype=torch.float8_e4m3fn)}, str(p))
    with pytest.raises(CheckpointError, match="'weight'.*F8_E4M3"):
        gpugrad.load(p)


def test_unpicklable_object_leaves_existing_file(ckpt):
    # objects beyond tensors and plain data are pickled (PyTorch's format); a lambda cannot be
    before = ckpt.read_bytes()
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        gpugrad.save({"a": {"b": lambda: 1}}, ckpt)
    assert ckpt.read_bytes() == before
    assert sorted(os.listdir(ckpt.parent)) == ["good.safetensors"]


def test_format_safetensors_refuses_objects(ckpt):
    with pytest.raises(TypeError, match="cannot store an object of type object at 'a.b'"):
        gpugrad.save({"a": {"b": object()}}, ckpt, format="safetensors")


def test_bad_state_dict_leaves_model_unchanged(tmp_path):
    model = make_model()
    before = {k: host(v).copy() for k, v in model.state_dict().items()}
    sd = {k: v.detach() + 1 for k, v in model.state_dict().items()}
    wrong_key = dict(sd)
    wrong_key["0.wieght"] = wrong_key.pop("0.weight")
    wrong_shape = dict(sd)
    wrong_shape["2.weight"] = gpugrad.zeros(3, 7)
    for bad in (wrong_key, wrong_shape):
        path = tmp_path / "bad.safetensors"
        gpugrad.save(bad, path)
        with pytest.raises(RuntimeError, match="wieght|size mismatch|shape"):
            model.load_state_dict(gpugrad.load(path))
        for k, v in model.state_dict().items():
            np.testing.assert_array_equal(host(v), before[k])


def test_optimizer_rejects_bad_state_and_keeps_its_own(tmp_path):
    p = gpugrad.randn(3, requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = gpugrad.ones(3)
    opt.step()
    sd = opt.state_dict()
    sd["state"][0]["momentum_buffer"] = gpugrad.zeros(4)
    path = tmp_path / "o.safetensors"
    gpugrad.save(sd, path)
    buf = host(opt.state[p]["momentum_buffer"]).copy()
    with pytest.raises(ValueError, match="momentum_buffer"):
        opt.load_state_dict(gpugrad.load(path))
    np.testing.assert_array_equal(host(opt.state[p]["momentum_buffer"]), buf)
