"""nn.Module machinery: registration, traversal, modes, device/dtype moves, state dicts, repr."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from utils import assert_close, host

import gpugrad as torch
import gpugrad.nn as nn
import gpugrad.nn.functional as F


class LeNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.bn = nn.BatchNorm2d(16)
        self.fc1 = nn.Linear(16 * 4 * 4, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)
        self.drop = nn.Dropout(0.25)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.bn(self.conv2(x))))
        x = x.flatten(1)
        x = self.drop(F.relu(self.fc2(F.relu(self.fc1(x)))))
        return self.fc3(x)


LENET_REPR = """LeNet(
  (conv1): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1))
  (pool): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  (conv2): Conv2d(6, 16, kernel_size=(5, 5), stride=(1, 1))
  (bn): BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
  (fc1): Linear(in_features=256, out_features=120, bias=True)
  (fc2): Linear(in_features=120, out_features=84, bias=True)
  (fc3): Linear(in_features=84, out_features=10, bias=True)
  (drop): Dropout(p=0.25, inplace=False)
)"""


def test_lenet_repr_keys_and_training_step(device):
    net = LeNet().to(device)
    assert repr(net) == LENET_REPR
    keys = list(net.state_dict())
    assert keys == [
        "conv1.weight",
        "conv1.bias",
        "conv2.weight",
        "conv2.bias",
        "bn.weight",
        "bn.bias",
        "bn.running_mean",
        "bn.running_var",
        "bn.num_batches_tracked",
        "fc1.weight",
        "fc1.bias",
        "fc2.weight",
        "fc2.bias",
        "fc3.weight",
        "fc3.bias",
    ]
    out = net(torch.randn(2, 1, 28, 28, device=device))
    assert out.shape == (2, 10)
    out.sum().backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in net.parameters())
    assert net.bn.num_batches_tracked.item() == 1


def test_seed_example_linear_detach():
    modelA, modelB = nn.Linear(10, 10), nn.Linear(10, 10)
    a = modelA(torch.randn(1, 10))
    b = modelB(a.detach())
    b.mean().backward()
    assert modelA.weight.grad is None
    assert modelB.weight.grad.shape == (10, 10)


def test_parameter_basics():
    p = nn.Parameter(torch.ones(2))
    assert isinstance(p, torch.Tensor) and isinstance(p, nn.Parameter)
    assert p.requires_grad and p.is_leaf
    assert repr(p) == "Parameter containing:\ntensor([1., 1.], requires_grad=True)"
    assert not nn.Parameter(torch.ones(2), requires_grad=False).requires_grad
    assert type(p * 2) is torch.Tensor
    with pytest.raises(RuntimeError):
        nn.Parameter(torch.tensor([1, 2]))
    assert nn.Parameter().shape == (0,)


def test_registration_and_traversal():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(2, 3)
            self.w = nn.Parameter(torch.zeros(3))
            self.register_buffer("buf", torch.ones(1))
            self.register_buffer("tmp", torch.ones(1), persistent=False)
            self.seq = nn.Sequential(nn.Linear(3, 3), nn.ReLU())
            self.shared = self.a  # same module twice: reported once

    m = M()
    assert [n for n, _ in m.named_parameters()] == [
        "w",
        "a.weight",
        "a.bias",
        "seq.0.weight",
        "seq.0.bias",
    ]
    assert [n for n, _ in m.named_buffers()] == ["buf", "tmp"]
    assert [n for n, _ in m.named_children()] == ["a", "seq"]
    assert [n for n, _ in m.named_modules()] == ["", "a", "seq", "seq.0", "seq.1"]
    assert list(m.state_dict()) == [
        "w",
        "buf",
        "a.weight",
        "a.bias",
        "seq.0.weight",
        "seq.0.bias",
        "shared.weight",
        "shared.bias",
    ]
    assert len(list(m.parameters(recurse=False))) == 1
    assert m.get_submodule("seq.0") is m.seq[0]
    assert m.get_parameter("seq.0.bias") is m.seq[0].bias
    with pytest.raises(AttributeError, match="'M' object has no attribute 'nope'"):
        m.nope  # noqa: B018
    del m.w
    assert "w" not in dict(m.named_parameters())


def test_setattr_errors():
    m = nn.Linear(2, 2)
    with pytest.raises(
        TypeError,
        match=r"cannot assign 'torch.FloatTensor' as parameter "
        r"'weight' \(torch.nn.Parameter or None expected\)",
    ):
        m.weight = torch.zeros(2, 2)
    with pytest.raises(KeyError, match="attribute 'weight' already exists"):
        m.register_buffer("weight", torch.zeros(1))
    with pytest.raises(KeyError):
        m.register_parameter("a.b", None)
    with pytest.raises(ValueError, match="Cannot assign non-leaf Tensor to parameter 'x'"):
        m.register_parameter("x", _nonleaf())
    m.bias = None
    assert m.bias is None and "bias" in m._parameters

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(torch.ones(1))

    with pytest.raises(AttributeError, match="cannot assign parameters before Module.__init__"):
        Early()


def _nonleaf():
    p = nn.Parameter(torch.ones(1))
    q = p * 2
    out = nn.Parameter._make(q._data, q._device)  # a Parameter object that has history
    out._requires_grad, out._grad_fn = True, q._grad_fn
    return out


def test_buffer_assignment_and_parameter_replacement():
    m = nn.Module()
    m.register_buffer("b", torch.zeros(2))
    m.b = torch.ones(2)  # reassigning a buffer name keeps it a buffer
    assert "b" in m._buffers and m.b.tolist() == [1.0, 1.0]
    m.c = nn.Buffer(torch.ones(1), persistent=False)
    assert "c" in m._buffers and "c" not in m.state_dict()
    with pytest.raises(TypeError, match="cannot assign 'int' as buffer 'b'"):
        m.b = 3


def test_train_eval_apply_requires_grad():
    m = nn.Sequential(nn.Linear(2, 2), nn.Dropout(), nn.Sequential(nn.BatchNorm1d(2)))
    assert all(x.training for x in m.modules())
    assert m.eval() is m
    assert not any(x.training for x in m.modules())
    m.train()
    assert m[2][0].training
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        m.train(1)
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen == ["Linear", "Dropout", "BatchNorm1d", "Sequential", "Sequential"]
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())


def test_zero_grad():
    m = nn.Linear(3, 2)
    m(torch.randn(4, 3)).sum().backward()
    g = m.weight.grad
    m.zero_grad(set_to_none=False)
    assert m.weight.grad is g and not g.abs().sum().item()
    m.zero_grad()
    assert m.weight.grad is None and m.bias.grad is None


def test_to_keeps_parameter_identity_and_casts_floats(device):
    m = nn.BatchNorm1d(3)
    w = m.weight
    m(torch.randn(4, 3)).sum().backward()
    m.to(device).double()
    assert m.weight is w and isinstance(m.weight, nn.Parameter)
    assert m.weight.dtype == torch.float64 and m.weight.grad.dtype == torch.float64
    assert m.running_mean.dtype == torch.float64
    assert m.num_batches_tracked.dtype == torch.int64
    assert m.weight.device.type == device
    m.float()
    assert m.weight.dtype == torch.float32
    m.to(torch.float64)
    assert m.bias.dtype == torch.float64
    with pytest.raises(TypeError, match="nn.Module.to only accepts floating point"):
        m.to(torch.int64)
    m.cpu()
    assert m.weight.device == torch.device("cpu")


def test_factory_kwargs(device):
    m = nn.Linear(3, 2, device=device, dtype=torch.float64)
    assert m.weight.device.type == device and m.bias.dtype == torch.float64
    c = nn.Conv2d(1, 2, 3, device=device, dtype=torch.float64)
    assert c.weight.dtype == torch.float64 and c.weight.device.type == device


def test_state_dict_round_trip_and_detached(device):
    a, b = LeNet().to(device), LeNet().to(device)
    sd = a.state_dict()
    assert all(not v.requires_grad for v in sd.values())
    assert sd["fc1.weight"].data_ptr() == a.fc1.weight.data_ptr()  # shares memory
    res = b.load_state_dict(sd)
    assert repr(res) == "<All keys matched successfully>"
    for k, v in b.state_dict().items():
        assert_close(v, sd[k])
    kv = a.state_dict(keep_vars=True)
    assert kv["fc1.weight"] is a.fc1.weight


def test_load_state_dict_errors_change_nothing():
    m = nn.Linear(3, 2)
    before = host(m.weight).copy()
    bad = {"weight": torch.zeros(3, 3), "foo": torch.zeros(1)}
    with pytest.raises(RuntimeError) as e:
        m.load_state_dict(bad)
    assert str(e.value) == (
        "Error(s) in loading state_dict for Linear:\n"
        '\tMissing key(s) in state_dict: "bias". \n'
        '\tUnexpected key(s) in state_dict: "foo". \n'
        "\tsize mismatch for weight: copying a param with shape gpugrad.Size([3, 3]) from "
        "checkpoint, the shape in current model is gpugrad.Size([2, 3])."
    )
    np.testing.assert_array_equal(host(m.weight), before)
    # a partial but valid dict: missing keys are an error when strict...
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "bias"'):
        m.load_state_dict({"weight": torch.ones(2, 3)})
    np.testing.assert_array_equal(host(m.weight), before)
    # ...and are reported when not
    res = m.load_state_dict({"weight": torch.ones(2, 3), "x": torch.ones(1)}, strict=False)
    assert res.missing_keys == ["bias"] and res.unexpected_keys == ["x"]
    assert host(m.weight).tolist() == [[1.0] * 3] * 2
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like"):
        m.load_state_dict([1, 2])


def test_load_state_dict_nested_unexpected_and_batchnorm_counter():
    m = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    sd = dict(m.state_dict())
    sd["1.extra"] = torch.zeros(1)
    sd["2.weight"] = torch.zeros(1)
    with pytest.raises(
        RuntimeError, match='Unexpected key\\(s\\) in state_dict: "2.weight", "1.extra"'
    ):
        m.load_state_dict(sd)
    old = dict(m.state_dict())
    del old["1.num_batches_tracked"]  # pre-version-2 checkpoints lack the counter
    m.load_state_dict(old)


def test_load_state_dict_casts_dtype_and_assign():
    m = nn.Linear(2, 2)
    m.load_state_dict(
        {
            "weight": torch.ones(2, 2, dtype=torch.float64),
            "bias": torch.zeros(2, dtype=torch.float64),
        }
    )
    assert m.weight.dtype == torch.float32 and m.weight.sum().item() == 4
    w = torch.full((2, 2), 3.0)
    m.load_state_dict({"weight": w, "bias": torch.zeros(2)}, assign=True)
    assert isinstance(m.weight, nn.Parameter) and m.weight.requires_grad
    assert m.weight.data_ptr() == w.data_ptr()


def test_forward_hooks():
    m = nn.Linear(2, 2)
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 0,))
    h2 = m.register_forward_hook(lambda mod, args, out: calls.append(out.shape) or out + 1)
    out = m(torch.ones(1, 2))
    assert_close(out, m.bias.detach().reshape(1, 2) + 1, rtol=1e-6)
    assert calls == [(1, 2)]
    h1.remove()
    h2.remove()
    assert_close(m(torch.zeros(1, 2)), m.bias.detach().reshape(1, 2), rtol=1e-6)

    def kw_hook(mod, args, kwargs):
        return args, kwargs

    m.register_forward_pre_hook(kw_hook, with_kwargs=True)
    m(torch.zeros(1, 2))


def test_missing_forward():
    with pytest.raises(
        NotImplementedError, match='Module \\[Module\\] is missing the required "forward" function'
    ):
        nn.Module()(1)


def test_sequential_indexing():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    s = nn.Sequential(*layers)
    assert len(s) == 3 and s[0] is layers[0] and s[-1] is layers[2]
    sub = s[1:]
    assert isinstance(sub, nn.Sequential) and list(sub) == layers[1:]
    assert list(sub._modules) == ["1", "2"]  # slicing keeps the keys, as in PyTorch
    with pytest.raises(IndexError, match="index 3 is out of range"):
        s[3]  # noqa: B018
    s.append(nn.Sigmoid())
    assert len(s) == 4 and list(s._modules) == ["0", "1", "2", "3"]
    del s[1]
    assert list(s._modules) == ["0", "1", "2"] and s[1] is layers[2]
    s[0] = nn.Identity()
    assert isinstance(s[0], nn.Identity)
    assert s(torch.randn(4, 3)).shape == (4, 1)
    from collections import OrderedDict

    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.Tanh())]))
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"]
    assert repr(named) == (
        "Sequential(\n  (fc): Linear(in_features=2, out_features=2, bias=True)\n  (act): Tanh()\n)"
    )


def test_module_list_and_dict():
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)] + [nn.ReLU()])
    assert repr(ml) == (
        "ModuleList(\n  (0-2): 3 x Linear(in_features=2, out_features=2, "
        "bias=True)\n  (3): ReLU()\n)"
    )
    assert len(ml) == 4 and isinstance(ml[1:3], nn.ModuleList) and len(ml[1:3]) == 2
    ml.append(nn.Tanh())
    ml.insert(0, nn.Sigmoid())
    assert isinstance(ml[0], nn.Sigmoid) and isinstance(ml[-1], nn.Tanh)
    del ml[0]
    assert list(ml._modules) == [str(i) for i in range(5)]
    assert len(list(ml.parameters())) == 6
    assert repr(nn.ModuleList()) == "ModuleList()"
    md = nn.ModuleDict({"a": nn.Linear(1, 1), "b": nn.ReLU()})
    assert list(md) == ["a", "b"] and "a" in md and len(md) == 2
    md["c"] = nn.Tanh()
    assert list(md.keys()) == ["a", "b", "c"]
    assert md.pop("b").__class__ is nn.ReLU
    assert list(md.state_dict()) == ["a.weight", "a.bias"]


def test_parameter_list_and_dict():
    pl = nn.ParameterList([nn.Parameter(torch.ones(2, 3)), torch.zeros(2)])
    assert len(pl) == 2 and isinstance(pl[1], nn.Parameter)
    assert list(pl.state_dict()) == ["0", "1"]
    pd = nn.ParameterDict({"a": nn.Parameter(torch.ones(1))})
    assert list(dict(pd.named_parameters())) == ["a"]


def test_identity_flatten_unflatten(device):
    x = torch.randn(2, 3, 4, 5, device=device)
    assert nn.Identity(3, foo=1)(x) is x
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 2)(x).shape == (24, 5)
    assert nn.Unflatten(1, (3, 1))(torch.randn(2, 3)).shape == (2, 3, 1)
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
    assert repr(nn.Unflatten(1, (2, 2))) == "Unflatten(dim=1, unflattened_size=(2, 2))"


def test_deepcopy_module():
    m = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    c = copy.deepcopy(m)
    assert c[0].weight is not m[0].weight and isinstance(c[0].weight, nn.Parameter)
    assert_close(c[0].weight, m[0].weight)
    with torch.no_grad():
        c[0].weight.zero_()
    assert m[0].weight.abs().sum().item() > 0


def test_deepcopy_and_copy_tensors_as_pytorch():
    """Parameters copy without .grad, plain leaves with .grad and user attributes; shared
    tensors stay shared in the copy; non-leaves refuse; copy.copy aliases the memory."""
    p = nn.Parameter(torch.ones(2))
    p.grad = torch.ones(2)
    q = copy.deepcopy(p)
    assert type(q) is nn.Parameter and q.grad is None and q.requires_grad
    leaf = torch.ones(2, requires_grad=True)
    leaf.grad, leaf.tag = torch.full((2,), 3.0), "kept"
    c = copy.deepcopy(leaf)
    assert c.grad.tolist() == [3.0, 3.0] and c.requires_grad and c.tag == "kept"
    a, b = copy.deepcopy([leaf, leaf])
    assert a is b and a is not leaf
    with pytest.raises(RuntimeError, match="Only Tensors created explicitly by the user"):
        copy.deepcopy(leaf * 2)
    alias = copy.copy(leaf)
    with torch.no_grad():
        alias.add_(1)
    assert leaf.tolist() == [2.0, 2.0] and alias.requires_grad
    sd = copy.deepcopy(nn.Linear(2, 2).state_dict())  # the best-model snapshot idiom
    assert list(sd) == ["weight", "bias"]


def test_compile_and_share_memory_are_no_ops():
    m = nn.Linear(2, 2)
    assert m.compile(mode="reduce-overhead") is None and m.share_memory() is m
    assert m(torch.ones(1, 2)).shape == (1, 2)


def test_manual_seed_makes_init_reproducible():
    torch.manual_seed(7)
    a = nn.Linear(4, 3)
    torch.manual_seed(7)
    b = nn.Linear(4, 3)
    assert_close(a.weight, b.weight, rtol=0, atol=0)
    assert_close(a.bias, b.bias, rtol=0, atol=0)


def test_layer_reprs():
    cases = {
        nn.ReLU(): "ReLU()",
        nn.ReLU(inplace=True): "ReLU(inplace=True)",
        nn.LeakyReLU(0.2, True): "LeakyReLU(negative_slope=0.2, inplace=True)",
        nn.GELU(): "GELU(approximate='none')",
        nn.SiLU(): "SiLU()",
        nn.Softmax(dim=1): "Softmax(dim=1)",
        nn.LogSoftmax(): "LogSoftmax(dim=None)",
        nn.Softplus(): "Softplus(beta=1.0, threshold=20.0)",
        nn.Embedding(10, 3, padding_idx=-1): "Embedding(10, 3, padding_idx=9)",
        nn.LayerNorm(4): "LayerNorm((4,), eps=1e-05, elementwise_affine=True, bias=True)",
        nn.BatchNorm1d(
            3, momentum=None, affine=False, track_running_stats=False
        ): "BatchNorm1d(3, eps=1e-05, momentum=None, affine=False, bias=False, "
        "track_running_stats=False)",
        nn.Conv2d(
            2, 4, 3, stride=2, padding=1, dilation=2, groups=2, bias=False, padding_mode="reflect"
        ): "Conv2d(2, 4, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), dilation=(2, 2), "
        "groups=2, bias=False, padding_mode=reflect)",
        nn.Conv2d(
            1, 1, 3, padding="same"
        ): "Conv2d(1, 1, kernel_size=(3, 3), stride=(1, 1), padding=same)",
        nn.AvgPool2d(2): "AvgPool2d(kernel_size=2, stride=2, padding=0)",
        nn.AdaptiveAvgPool2d((None, 2)): "AdaptiveAvgPool2d(output_size=(None, 2))",
        nn.CrossEntropyLoss(label_smoothing=0.1): "CrossEntropyLoss()",
        nn.Dropout(0.1): "Dropout(p=0.1, inplace=False)",
        nn.MultiheadAttention(8, 2): "MultiheadAttention(\n  (out_proj): "
        "NonDynamicallyQuantizableLinear(in_features=8, out_features=8, bias=True)\n)",
    }
    for m, text in cases.items():
        assert repr(m) == text
