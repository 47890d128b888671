"""Tests for gpugrad._tensor_str: tensor values must print exactly like PyTorch's repr.

The expected strings were produced once with ``repr(torch.tensor(...))`` (PyTorch 2.13, CPU)
and pasted here, so these tests do not need torch. When torch is importable, a randomized
test also compares against it directly.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from numpy import inf, nan

from gpugrad._tensor_str import format_tensor, get_printoptions, set_printoptions

DEFAULTS = {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80, "sci_mode": None}


@pytest.fixture(autouse=True)
def _restore_printoptions() -> Iterator[None]:
    set_printoptions(profile="default")
    yield
    set_printoptions(profile="default")


# (id, values, print options, suffixes passed by the caller, repr from torch)
CASES = [
    (
        "int_valued_floats",
        np.array([1.0, 2.0, 3.0], np.float32),
        {},
        [],
        "tensor([1., 2., 3.])",
    ),
    (
        "general_floats",
        np.array([1.5, -2.25, 3.14159], np.float32),
        {},
        [],
        "tensor([ 1.5000, -2.2500,  3.1416])",
    ),
    (
        "column_alignment",
        np.array([[1.5, -20.125], [300.0625, 4.0]], np.float32),
        {},
        [],
        "tensor([[  1.5000, -20.1250],\n        [300.0625,   4.0000]])",
    ),
    (
        "rounding_widens",
        np.array([9.99996, 1.0]),
        {},
        ["dtype=torch.float64"],
        "tensor([10.0000,  1.0000], dtype=torch.float64)",
    ),
    (
        "sci_ratio",
        np.array([1e-3, 1.0, 1000.5], np.float32),
        {},
        [],
        "tensor([1.0000e-03, 1.0000e+00, 1.0005e+03])",
    ),
    (
        "sci_large",
        np.array([1.5e9, -2e9], np.float32),
        {},
        [],
        "tensor([ 1.5000e+09, -2.0000e+09])",
    ),
    (
        "sci_small",
        np.array([1e-5, 2.5e-5], np.float32),
        {},
        [],
        "tensor([1.0000e-05, 2.5000e-05])",
    ),
    (
        "sci_int_valued",
        np.array([1e10, 1.0], np.float32),
        {},
        [],
        "tensor([1.0000e+10, 1.0000e+00])",
    ),
    (
        "sci_three_digit_exponent",
        np.array([1e-300, 1.0, 1e300]),
        {},
        ["dtype=torch.float64"],
        "tensor([1.0000e-300,  1.0000e+00, 1.0000e+300], dtype=torch.float64)",
    ),
    (
        "no_sci_at_ratio_1000",
        np.array([1.0, 1000.0], np.float32),
        {},
        [],
        "tensor([   1., 1000.])",
    ),
    (
        "nan_inf_int_mode",
        np.array([1.0, nan, inf, -inf], np.float32),
        {},
        [],
        "tensor([1., nan, inf, -inf])",
    ),
    (
        "nan_inf_fixed",
        np.array([1.5, nan, -inf], np.float32),
        {},
        [],
        "tensor([1.5000,    nan,   -inf])",
    ),
    (
        "nan_inf_sci",
        np.array([1e-7, nan, -inf], np.float32),
        {},
        [],
        "tensor([1.0000e-07,        nan,       -inf])",
    ),
    (
        "only_nonfinite",
        np.array([nan, inf, -inf], np.float32),
        {},
        [],
        "tensor([nan, inf, -inf])",
    ),
    (
        "negative_zero",
        np.array([0.0, -0.0], np.float32),
        {},
        [],
        "tensor([0., -0.])",
    ),
    (
        "negative_zero_fixed",
        np.array([-0.0, 1.5], np.float32),
        {},
        [],
        "tensor([-0.0000, 1.5000])",
    ),
    (
        "all_zero_2d",
        np.zeros((2, 2), np.float32),
        {},
        [],
        "tensor([[0., 0.],\n        [0., 0.]])",
    ),
    (
        "int64",
        np.array([1, -20, 300]),
        {},
        [],
        "tensor([  1, -20, 300])",
    ),
    (
        "int32",
        np.array([[1, 2], [-3, 4]], np.int32),
        {},
        ["dtype=torch.int32"],
        "tensor([[ 1,  2],\n        [-3,  4]], dtype=torch.int32)",
    ),
    (
        "int64_extremes",
        np.array([-(2**63), 2**63 - 1]),
        {},
        [],
        "tensor([-9223372036854775808,  9223372036854775807])",
    ),
    (
        "uint8",
        np.array([0, 255], np.uint8),
        {},
        ["dtype=torch.uint8"],
        "tensor([  0, 255], dtype=torch.uint8)",
    ),
    (
        "bool",
        np.array([True, False]),
        {},
        [],
        "tensor([ True, False])",
    ),
    (
        "bool_all_true",
        np.array([[True], [True]]),
        {},
        [],
        "tensor([[True],\n        [True]])",
    ),
    (
        "scalar_int_valued",
        np.array(138.0, np.float32),
        {},
        [],
        "tensor(138.)",
    ),
    (
        "scalar_fixed",
        np.array(3.14159, np.float32),
        {},
        [],
        "tensor(3.1416)",
    ),
    (
        "scalar_sci",
        np.array(1.5e-7),
        {},
        ["dtype=torch.float64"],
        "tensor(1.5000e-07, dtype=torch.float64)",
    ),
    (
        "scalar_nan",
        np.array(nan, np.float32),
        {},
        [],
        "tensor(nan)",
    ),
    (
        "scalar_negative_zero",
        np.array(-0.0, np.float32),
        {},
        [],
        "tensor(-0.)",
    ),
    (
        "scalar_int",
        np.array(-7),
        {},
        [],
        "tensor(-7)",
    ),
    (
        "scalar_bool",
        np.array(False),
        {},
        [],
        "tensor(False)",
    ),
    (
        "matrix",
        np.arange(6, dtype=np.float32).reshape(2, 3) / 4,
        {},
        [],
        "tensor([[0.0000, 0.2500, 0.5000],\n        [0.7500, 1.0000, 1.2500]])",
    ),
    (
        "3d",
        np.arange(8, dtype=np.float32).reshape(2, 2, 2),
        {},
        [],
        "tensor([[[0., 1.],\n         [2., 3.]],\n\n        [[4., 5.],\n         [6., 7.]]])",
    ),
    (
        "4d",
        np.arange(4).reshape(2, 1, 2, 1),
        {},
        [],
        "tensor([[[[0],\n          [1]]],\n\n\n        [[[2],\n          [3]]]])",
    ),
    (
        "line_wrap",
        np.arange(30, dtype=np.float32) / 3,
        {},
        [],
        (
            "tensor([0.0000, 0.3333, 0.6667, 1.0000, 1.3333, 1.6667, 2.0000, 2.3333, 2.6667,\n"
            "        3.0000, 3.3333, 3.6667, 4.0000, 4.3333, 4.6667, 5.0000, 5.3333, 5.6667,\n"
            "        6.0000, 6.3333, 6.6667, 7.0000, 7.3333, 7.6667, 8.0000, 8.3333, 8.6667,\n"
            "        9.0000, 9.3333, 9.6667])"
        ),
    ),
    (
        "line_wrap_2d",
        np.arange(40).reshape(2, 20) * 1000,
        {},
        [],
        (
            "tensor([[    0,  1000,  2000,  3000,  4000,  5000,  6000,  7000,  8000,  9000,\n"
            "         10000, 11000, 12000, 13000, 14000, 15000, 16000, 17000, 18000, 19000],\n"
            "        [20000, 21000, 22000, 23000, 24000, 25000, 26000, 27000, 28000, 29000,\n"
            "         30000, 31000, 32000, 33000, 34000, 35000, 36000, 37000, 38000, 39000]])"
        ),
    ),
    (
        "summarize_1d",
        np.arange(2000, dtype=np.float32),
        {},
        [],
        (
            "tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, 1.9980e+03,\n"
            "        1.9990e+03])"
        ),
    ),
    (
        "summarize_2d",
        np.arange(3000).reshape(30, 100),
        {},
        [],
        (
            "tensor([[   0,    1,    2,  ...,   97,   98,   99],\n"
            "        [ 100,  101,  102,  ...,  197,  198,  199],\n"
            "        [ 200,  201,  202,  ...,  297,  298,  299],\n"
            "        ...,\n"
            "        [2700, 2701, 2702,  ..., 2797, 2798, 2799],\n"
            "        [2800, 2801, 2802,  ..., 2897, 2898, 2899],\n"
            "        [2900, 2901, 2902,  ..., 2997, 2998, 2999]])"
        ),
    ),
    (
        "summarize_3d",
        np.arange(1200, dtype=np.float32).reshape(2, 3, 200) / 7,
        {},
        [],
        (
            "tensor([[[0.0000e+00, 1.4286e-01, 2.8571e-01,  ..., 2.8143e+01,\n"
            "          2.8286e+01, 2.8429e+01],\n"
            "         [2.8571e+01, 2.8714e+01, 2.8857e+01,  ..., 5.6714e+01,\n"
            "          5.6857e+01, 5.7000e+01],\n"
            "         [5.7143e+01, 5.7286e+01, 5.7429e+01,  ..., 8.5286e+01,\n"
            "          8.5429e+01, 8.5571e+01]],\n"
            "\n"
            "        [[8.5714e+01, 8.5857e+01, 8.6000e+01,  ..., 1.1386e+02,\n"
            "          1.1400e+02, 1.1414e+02],\n"
            "         [1.1429e+02, 1.1443e+02, 1.1457e+02,  ..., 1.4243e+02,\n"
            "          1.4257e+02, 1.4271e+02],\n"
            "         [1.4286e+02, 1.4300e+02, 1.4314e+02,  ..., 1.7100e+02,\n"
            "          1.7114e+02, 1.7129e+02]]])"
        ),
    ),
    (
        "summarize_width_from_shown_only",
        np.concatenate([[1.0], np.full(1000, 123456.5), [2.0]]),
        {},
        ["dtype=torch.float64"],
        (
            "tensor([1.0000e+00, 1.2346e+05, 1.2346e+05,  ..., 1.2346e+05, 1.2346e+05,\n"
            "        2.0000e+00], dtype=torch.float64)"
        ),
    ),
    (
        "float16",
        np.array([0.1, 1.5, 3.0], np.float16),
        {},
        ["dtype=torch.float16"],
        "tensor([0.1000, 1.5000, 3.0000], dtype=torch.float16)",
    ),
    (
        "float16_max",
        np.array([65504, -65504], np.float16),
        {},
        ["dtype=torch.float16"],
        "tensor([ 65504., -65504.], dtype=torch.float16)",
    ),
    (
        "float16_subnormal",
        np.array([6e-8, 1.0], np.float16),
        {},
        ["dtype=torch.float16"],
        "tensor([5.9605e-08, 1.0000e+00], dtype=torch.float16)",
    ),
    (
        "float64",
        np.array([0.1, 0.2]),
        {},
        ["dtype=torch.float64"],
        "tensor([0.1000, 0.2000], dtype=torch.float64)",
    ),
    (
        "empty_1d",
        np.zeros((0,), np.float32),
        {},
        [],
        "tensor([])",
    ),
    (
        "empty_2d",
        np.zeros((0, 3), np.float32),
        {},
        [],
        "tensor([], size=(0, 3))",
    ),
    (
        "empty_int",
        np.zeros((2, 0), np.int64),
        {},
        ["dtype=torch.int64"],
        "tensor([], size=(2, 0), dtype=torch.int64)",
    ),
    (
        "empty_3d_float64",
        np.zeros((1, 0, 2)),
        {},
        ["dtype=torch.float64"],
        "tensor([], size=(1, 0, 2), dtype=torch.float64)",
    ),
    (
        "requires_grad",
        np.array([1.0, 2.0], np.float32),
        {},
        ["requires_grad=True"],
        "tensor([1., 2.], requires_grad=True)",
    ),
    (
        "grad_fn",
        np.array([[1.5, 2.0]], np.float32),
        {},
        ["grad_fn=<MulBackward0>"],
        "tensor([[1.5000, 2.0000]], grad_fn=<MulBackward0>)",
    ),
    (
        "suffix_wraps",
        np.arange(20, dtype=np.float32),
        {},
        ["grad_fn=<AVeryLongAutogradFunctionNameForSuffixWrappingBackward>"],
        (
            "tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n"
            "        14., 15., 16., 17., 18., 19.],\n"
            "       grad_fn=<AVeryLongAutogradFunctionNameForSuffixWrappingBackward>)"
        ),
    ),
    (
        "suffix_wraps_float64",
        np.arange(20, dtype=np.float64) / 3,
        {},
        ["dtype=torch.float64", "grad_fn=<AVeryLongAutogradFunctionNameForSuffixWrappingBackward>"],
        (
            "tensor([0.0000, 0.3333, 0.6667, 1.0000, 1.3333, 1.6667, 2.0000, 2.3333, 2.6667,\n"
            "        3.0000, 3.3333, 3.6667, 4.0000, 4.3333, 4.6667, 5.0000, 5.3333, 5.6667,\n"
            "        6.0000, 6.3333], dtype=torch.float64,\n"
            "       grad_fn=<AVeryLongAutogradFunctionNameForSuffixWrappingBackward>)"
        ),
    ),
    (
        "suffix_fits",
        np.array([1.0], np.float32),
        {},
        ["grad_fn=<AVeryLongAutogradFunctionNameForSuffixWrappingBackward>"],
        "tensor([1.], grad_fn=<AVeryLongAutogradFunctionNameForSuffixWrappingBackward>)",
    ),
    (
        "suffix_wraps_scalar",
        np.array(123456.75),
        {},
        ["dtype=torch.float64", "grad_fn=<AVeryLongAutogradFunctionNameForSuffixWrappingBackward>"],
        (
            "tensor(123456.7500, dtype=torch.float64,\n"
            "       grad_fn=<AVeryLongAutogradFunctionNameForSuffixWrappingBackward>)"
        ),
    ),
    (
        "opt_precision_2",
        np.array([1.23456, -9.87654], np.float32),
        {"precision": 2},
        [],
        "tensor([ 1.23, -9.88])",
    ),
    (
        "opt_precision_0",
        np.array([1.5, 2.5, 0.5, -0.5]),
        {"precision": 0},
        ["dtype=torch.float64"],
        "tensor([ 2,  2,  0, -0], dtype=torch.float64)",
    ),
    (
        "opt_sci_off",
        np.array([1e-5, 1e9], np.float32),
        {"sci_mode": False},
        [],
        "tensor([         0.0000, 1000000000.0000])",
    ),
    (
        "opt_sci_on",
        np.array([1.0, 2.5], np.float32),
        {"sci_mode": True},
        [],
        "tensor([1.0000e+00, 2.5000e+00])",
    ),
    (
        "opt_sci_on_zeros",
        np.array([0.0, -0.0], np.float32),
        {"sci_mode": True},
        [],
        "tensor([0., -0.])",
    ),
    (
        "opt_linewidth_40",
        np.arange(24, dtype=np.float32).reshape(2, 12),
        {"linewidth": 40},
        [],
        (
            "tensor([[ 0.,  1.,  2.,  3.,  4.,  5.,\n"
            "          6.,  7.,  8.,  9., 10., 11.],\n"
            "        [12., 13., 14., 15., 16., 17.,\n"
            "         18., 19., 20., 21., 22., 23.]])"
        ),
    ),
    (
        "opt_linewidth_tiny",
        np.arange(3, dtype=np.float32),
        {"linewidth": 5},
        [],
        "tensor([0.,\n        1.,\n        2.])",
    ),
    (
        "opt_threshold_edgeitems",
        np.arange(50).reshape(5, 10),
        {"threshold": 5, "edgeitems": 1},
        [],
        "tensor([[ 0,  ...,  9],\n        ...,\n        [40,  ..., 49]])",
    ),
    (
        "opt_threshold_0_scalar",
        np.array(2.5, np.float32),
        {"threshold": 0},
        [],
        "tensor(2.5000)",
    ),
    (
        "opt_edgeitems_0",
        np.arange(2000, dtype=np.float32).reshape(40, 50),
        {"edgeitems": 0},
        [],
        "tensor([...], size=(40, 50))",
    ),
    (
        "opt_edgeitems_0_small",
        np.arange(4).reshape(2, 2),
        {"edgeitems": 0},
        [],
        "tensor([[0, 1],\n        [2, 3]], size=(2, 2))",
    ),
    (
        "opt_profile_short",
        np.arange(2000, dtype=np.float32) / 3,
        {"profile": "short"},
        [],
        "tensor([0.00e+00, 3.33e-01,  ..., 6.66e+02, 6.66e+02])",
    ),
]


@pytest.mark.parametrize(
    ("values", "options", "suffixes", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_matches_torch_repr(
    values: np.ndarray, options: dict, suffixes: list[str], expected: str
) -> None:
    set_printoptions(**options)
    assert format_tensor(values, suffixes) == expected


def test_custom_prefix_indents_continuation_lines() -> None:
    text = format_tensor(np.arange(16, dtype=np.float32), ["requires_grad=True"], "Parameter(")
    assert text == (
        "Parameter([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n"
        "           14., 15.], requires_grad=True)"
    )


def test_size_suffix_goes_after_device() -> None:
    suffixes = ["device='cuda:0'", "dtype=gpugrad.float64"]
    expected = "tensor([], device='cuda:0', size=(0, 3), dtype=gpugrad.float64)"
    assert format_tensor(np.zeros((0, 3)), suffixes) == expected


def test_does_not_modify_caller_suffixes() -> None:
    suffixes = ["dtype=gpugrad.int32"]
    format_tensor(np.zeros((0, 2), np.int32), suffixes)
    assert suffixes == ["dtype=gpugrad.int32"]


def test_profile_full_never_summarizes() -> None:
    set_printoptions(profile="full")
    text = format_tensor(np.arange(5000))
    assert "..." not in text
    assert text.startswith("tensor([   0,    1,") and text.endswith("4998, 4999])")


def test_printoptions_roundtrip() -> None:
    assert get_printoptions() == DEFAULTS
    set_printoptions(precision=2, threshold=10, edgeitems=1, linewidth=60, sci_mode=True)
    changed = get_printoptions()
    assert changed == {
        "precision": 2,
        "threshold": 10,
        "edgeitems": 1,
        "linewidth": 60,
        "sci_mode": True,
    }
    set_printoptions(profile="default")
    assert get_printoptions() == DEFAULTS
    set_printoptions(**changed)
    assert get_printoptions() == changed


def test_sci_mode_resets_unless_given() -> None:
    # Same as torch: every call assigns sci_mode, so omitting it means "automatic".
    set_printoptions(sci_mode=False)
    set_printoptions(precision=3)
    assert get_printoptions()["sci_mode"] is None


def test_profiles() -> None:
    set_printoptions(profile="short")
    assert get_printoptions() == {**DEFAULTS, "precision": 2, "edgeitems": 2}
    set_printoptions(profile="full", precision=6)
    assert get_printoptions() == {**DEFAULTS, "precision": 6, "threshold": inf}
    with pytest.raises(ValueError):
        set_printoptions(profile="verbose")


def test_rejects_unsupported_dtype() -> None:
    with pytest.raises(TypeError):
        format_tensor(np.array([1 + 2j]))


# ---------------------------------------------------------------- comparison against torch


def _random_values(rng: np.random.Generator) -> np.ndarray:
    """Random array mixing shapes (incl. empty and summarized), dtypes and magnitudes."""
    ndim = int(rng.integers(0, 5))
    shape = tuple(int(n) for n in rng.integers(0, 7 if ndim > 2 else 40, size=ndim))
    if ndim and rng.random() < 0.1:  # large enough to be summarized
        shape = (int(rng.integers(900, 3000)),) if ndim == 1 else tuple(rng.integers(1, 15, ndim))
    dtype = rng.choice(["float16", "float32", "float64", "int32", "int64", "bool", "uint8"])
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype.startswith(("int", "uint")):
        info = np.iinfo(dtype)
        high = min(int(info.max), 10 ** int(rng.integers(1, 19)))
        low = 0 if rng.random() < 0.5 else max(int(info.min), -high)
        return rng.integers(low, high, size=shape, dtype=dtype, endpoint=True)
    mode = rng.integers(5)
    if mode == 0:
        values = rng.integers(-100, 100, size=shape).astype(np.float64)
    elif mode == 1:
        values = rng.standard_normal(shape) * 10.0 ** rng.integers(-10, 12)
    elif mode == 2:
        values = rng.standard_normal(shape) * 10.0 ** rng.uniform(-8, 10, size=shape)
    elif mode == 3:
        values = np.round(rng.standard_normal(shape) * 10.0 ** rng.integers(0, 12))
    else:
        pool = np.array([0.0, -0.0, nan, inf, -inf, 1.0, 0.5, 1e-5, 123456.0])
        values = rng.choice(pool, size=shape)
    if values.size and rng.random() < 0.3:
        values.ravel()[rng.integers(values.size)] = rng.choice([nan, inf, -inf, -0.0])
    with np.errstate(over="ignore"):  # float16 overflow to inf is fine here
        return values.astype(dtype)


def _torch_suffixes(tensor) -> list[str]:
    """The suffixes gpugrad's Tensor.__repr__ would pass, spelled with torch's names."""
    import torch

    suffixes = []
    if tensor.numel() == 0:
        if tensor.dtype != torch.float32:  # empty tensors always show non-default dtypes
            suffixes.append(f"dtype={tensor.dtype}")
    elif tensor.dtype not in (torch.float32, torch.int64, torch.bool):
        suffixes.append(f"dtype={tensor.dtype}")
    if tensor.grad_fn is not None:
        suffixes.append(f"grad_fn=<{type(tensor.grad_fn).__name__}>")
    elif tensor.requires_grad:
        suffixes.append("requires_grad=True")
    return suffixes


RANDOM_OPTIONS = [
    {},
    {"precision": 2},
    {"precision": 0},
    {"linewidth": 40},
    {"linewidth": 200, "threshold": 50},
    {"edgeitems": 1},
    {"edgeitems": 0},
    {"threshold": 10},
    {"sci_mode": True},
    {"sci_mode": False},
    {"profile": "short"},
]


@pytest.mark.parametrize("seed", range(10))
def test_random_against_torch(seed: int) -> None:
    torch = pytest.importorskip("torch")

    class AVeryLongAutogradFunctionNameForSuffixWrapping(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, grad):
            return grad

    rng = np.random.default_rng(seed)
    for _ in range(300):
        values = np.asarray(_random_values(rng))  # 0-d results come back as NumPy scalars
        tensor = torch.from_numpy(values.copy())
        roll = rng.random()
        if values.dtype.kind == "f" and values.dtype != np.float16 and roll < 0.3:
            tensor.requires_grad_()
            if roll < 0.1:
                tensor = tensor * 1
            elif roll < 0.2:  # long grad_fn name forces the suffix onto its own line
                tensor = AVeryLongAutogradFunctionNameForSuffixWrapping.apply(tensor)
        options = RANDOM_OPTIONS[rng.integers(len(RANDOM_OPTIONS))] if rng.random() < 0.5 else {}
        torch.set_printoptions(**options)
        set_printoptions(**options)
        try:
            expected = repr(tensor)
        finally:
            torch.set_printoptions(profile="default")
        got = format_tensor(values, _torch_suffixes(tensor))
        set_printoptions(profile="default")
        assert got == expected, f"shape={values.shape} dtype={values.dtype} options={options}"


def test_return_types_print_as_pytorch() -> None:
    """``x.max(dim)`` & co. print like torch.return_types (PyTorch 2.13's repr, with gpugrad's
    module name), unpack as pairs and read by field name."""
    import pickle

    import gpugrad

    x = gpugrad.tensor([[1.0, 3.0, 2.0], [4.0, 0.5, 6.0]], dtype=gpugrad.float64)
    r = x.max(dim=1)
    assert repr(r) == (
        "gpugrad.return_types.max(\n"
        "values=tensor([3., 6.], dtype=gpugrad.float64),\n"
        "indices=tensor([1, 2]))"
    )
    values, indices = r
    assert values is r.values and indices is r.indices and isinstance(r, tuple)
    assert repr(gpugrad.topk(x[0], 2)).startswith("gpugrad.return_types.topk(\nvalues=tensor(")
    for name, res in [
        ("min", x.min(1)),
        ("sort", x.sort(1)),
        ("topk", x.topk(1)),
        ("median", x.median(1)),
    ]:
        assert type(res) is getattr(gpugrad.return_types, name)
        assert repr(res).startswith(f"gpugrad.return_types.{name}(\nvalues=")
    plain = gpugrad.return_types.max(1, 2)  # the type itself pickles by name
    assert pickle.loads(pickle.dumps(plain)) == plain
