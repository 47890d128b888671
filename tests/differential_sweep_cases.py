"""The argument table of tests/test_differential_sweep.py: which of PyTorch's public callables
gpugrad shares, and the argument lists each is called with in both libraries.

A callable's *base* is the first entry of CANDIDATES that PyTorch accepts (PyTorch alone
decides, so gpugrad cannot steer the sweep to an easier base); its cases are the base and the
mutations of it made by ``cases``: every int argument out of range or negative, every tensor
argument 0-d, empty, bool, int64, float64, of another rank, of a mismatched size, negative
valued or None, bad keyword values from BAD_KW, an unknown keyword and, where both libraries
take ``out=`` (PyTorch's generated list, gpugrad/_out_names.py), an ``out`` of the right
dtype, of a wrong one and empty (resized), a tuple of them for a tuple result.

Arguments are written as Spec placeholders, made into a fresh tensor of each library per call
from the same NumPy array, drawn from a seed fixed by the Spec's shape and dtype.
"""

from __future__ import annotations

import functools
import inspect
import re
import types
import zlib
from dataclasses import dataclass, replace

import numpy as np
import torch

import gpugrad
import gpugrad.linalg
import gpugrad.nn.functional
import gpugrad.special
from gpugrad._out_names import OUT_NAMES
from gpugrad.utils.api_coverage import torch_names

# torch's namespace -> (gpugrad's object, the short prefix of test ids)
NAMESPACES = {
    "torch": (gpugrad, "torch"),
    "torch.Tensor": (gpugrad.Tensor, "Tensor"),
    "torch.nn.functional": (gpugrad.nn.functional, "F"),
    "torch.linalg": (gpugrad.linalg, "linalg"),
    "torch.special": (gpugrad.special, "special"),
}


@dataclass(frozen=True)
class Spec:
    """A tensor argument: shape, NumPy dtype name and the range its values are drawn from."""

    shape: tuple[int, ...]
    dtype: str = "float32"
    lo: float = 0.1
    hi: float = 0.9
    spd: bool = False  # a symmetric positive-definite matrix (A @ A.T + n I) of such values

    def array(self) -> np.ndarray:
        """The values (a read-only array shared by every call: copy it to use it)."""
        return _draw(self)

    def __repr__(self) -> str:
        return f"{'SPD' if self.spd else 'T'}{list(self.shape)}:{self.dtype}"


@functools.cache
def _draw(spec: Spec) -> np.ndarray:
    # crc32, not hash(): str hashes change from one process to the next
    rng = np.random.default_rng(zlib.crc32(repr(spec).encode()))
    n = int(np.prod(spec.shape)) if spec.shape else 1
    if spec.dtype == "bool":
        a = rng.integers(0, 2, n).astype(bool)
    elif spec.dtype.startswith("int"):
        lo = int(spec.lo)
        a = rng.integers(lo, max(int(spec.hi), lo + 1), n).astype(spec.dtype)
    else:
        a = rng.uniform(spec.lo, spec.hi, n).astype(spec.dtype)
    a = a.reshape(spec.shape)
    if spec.spd:
        n = spec.shape[-1]
        a = (a @ np.swapaxes(a, -1, -2) + n * np.eye(n)).astype(spec.dtype)
    a.flags.writeable = False
    return a


class _NoneArg:
    """None in an argument position (a sentinel, so that None itself can mean 'no value')."""

    def __repr__(self) -> str:
        return "None"


NONE = _NoneArg()


def T(*shape: int, dtype: str = "float32", lo: float = 0.1, hi: float = 0.9) -> Spec:
    return Spec(tuple(shape), dtype, lo, hi)


def I(*shape: int, hi: int = 2) -> Spec:  # noqa: E743 - an index tensor
    return Spec(tuple(shape), "int64", 0, hi)


def B(*shape: int) -> Spec:
    return Spec(tuple(shape), "bool")


F = T(2, 3, 4)
M = T(3, 3)
V = T(3)
IMG = T(2, 3, 8, 8)
SEQ = T(2, 3, 8)
VOL = T(1, 2, 4, 4, 4)

# argument lists tried in order until PyTorch accepts one: the common calling shapes of
# pointwise, reduction, index, shape, matrix, convolution, pooling, loss and creation ops
CANDIDATES: list[tuple] = [
    (F,), (F, F), (F, 1), (F, F, F), (F, 0.5), (F, 1, I(2, 3, 4, hi=3)), (F, 1, I(2, hi=3)),
    (F, 1, I(2, 3, 4, hi=3), F), (F, 1, I(2, hi=3), T(2, 2, 4)), (F, 2), (F, 2, 1), (F, 0, 1),
    (F, (4, 3, 2)), (F, 2, 1, 0), (F, (2, 1, 0)), (F, 1, 2),
    (M,), (M, M), (M, M, M), (M, 1), (V,), (V, V), (V, M), (M, V), (V, V, V),
    (IMG,), (IMG, 2), (IMG, T(4, 3, 3, 3)), (IMG, (4, 4)), (IMG, 1), (IMG, 2, 2),
    (SEQ, 2), (SEQ, T(4, 3, 3)), (SEQ, (4,)), (VOL, 2), (VOL, T(2, 2, 3, 3, 3)),
    (T(4, 5), I(4, hi=5)), (T(4, 5), T(6, 5)), (T(4, 5), T(6, 5), T(6)), (I(2, 3, hi=10), T(10, 4)),
    (F, (4,)), (IMG, 3), (I(2, 3, 4, hi=5),), (I(2, 3, 4, hi=5), I(2, 3, 4, hi=5)),
    (B(2, 3, 4),), (B(2, 3, 4), B(2, 3, 4)),
    (2, 3), ((2, 3),), (3,), (I(5, hi=4),), (0, 5, (2, 3)), (T(4, 5), T(4, 5), I(4, hi=2)),
    (T(4, 5), T(4, 5), T(4)), (T(5), T(5)), (T(2, 5, 3), T(2, 3, 4)), (T(4, 5), 3), (T(4, 5), 2),
    (T(2, 3, 4), (0, 1)), (T(2, 3, 4), 1.0), (T(2, 4, 3), T(2, 4, 3), T(2, 4, 3)),
    ([F, F],), ([F, F], 1), ((2, 3), 1.0), (0.0, 1.0, 5), (F, B(2, 3, 4), 0.0),
    (F, 1, I(2, hi=3), 0.0), (T(2, 3, 4), T(2, 3, 5), T(2, 5, 4)), (F, (2, 3, 4)), (F, 2, 3, 4),
    (F, T(3), T(3)), (T(4, 5), T(4, 6), T(7, 5, 6)), (T(2, 3, 8), T(3, 4, 3)), (IMG, T(3, 4, 3, 3)),
    (1, F), (F, 1, (3, 1)), (F, 2, 2, 1), (F, I(5, hi=24), T(5)), (B(2, 3, 4), F, F),
    (B(2, 3, 4), F), (F, (I(2, hi=2),), T(2, 3, 4)), (F, (I(2, hi=2),), T(1)),
    (Spec((3, 3), spd=True),), (F, (2, 3), 1.0),
]  # fmt: skip

# names the sweep leaves out: process state, I/O, conversions, dtype casts, attributes, the
# tracing/compile machinery, and random ops whose draws no argument table can pin down
SKIP = re.compile(
    r"^(set_|use_|manual_seed|seed$|initial_seed|save|load|compile|cuda|cpu$|backward|"
    r"register_|numpy|tolist|to$|to_dense|share_memory_|pin_memory|is_|apply_|map_|"
    r"record_stream|storage|untyped_storage|data_ptr|element_size|get_|enable_grad|no_grad|"
    r"inference_mode|autocast|from_numpy|from_dlpack|asarray|as_tensor|tensor$|vmap|cond$|sym_|"
    r"export|typename|wait|fork|jit|chunk_|stft|istft|frombuffer|Generator|device|dtype|"
    r"layout|memory_format|qscheme|finfo|iinfo|library|hub|fx|quasirandom|random$|detach_$|"
    r"requires_grad_|retain_grad|type$|item$|data$|grad|T$|H$|mT$|mH$|shape|names|ndim|real$|"
    r"imag$|is_leaf|output_nr|_version|dim_order|nbytes|itemsize|new$|"
    r"bfloat16|half|float$|double|int$|long|short|bool$|byte|char|cfloat|cdouble|__|"
    r"lobpcg|pca_lowrank|svd_lowrank|lu_unpack|seed|rand.*_$|exponential_|geometric_|cauchy_|"
    r"log_normal_|uniform_|normal_$|random_|bernoulli_|"
    r"dropout|alpha_dropout|feature_alpha_dropout|rrelu|gumbel_softmax|fractional_max_pool|"
    r"ctc_loss|multi_head_attention_forward)"
)

# results whose values are not a function of the arguments: random draws and uninitialised
# memory (their shapes and dtypes are still compared)
RANDOM = re.compile(
    r"^(rand|randn|randint|randperm|rand_like|randn_like|randint_like|normal|bernoulli|"
    r"multinomial|poisson|binomial|empty|empty_like|empty_strided|new_empty|new_empty_strided|"
    r"_standard_gamma|_sample_dirichlet)$"
)

# keyword values PyTorch rejects (or treats specially), tried where a callable takes the name
BAD_KW: dict[str, list] = {
    "p": [-1], "kernel_size": [0], "stride": [0], "padding": [-1], "dilation": [0],
    "groups": [0], "output_size": [-1], "size": [-1], "scale_factor": [-1.0],
    "num_classes": [-2, 1], "eps": [-1.0], "diagonal": [9], "offset": [9], "k": [-1, 99],
    "repeats": [-1], "upscale_factor": [0], "downscale_factor": [0], "num_groups": [0, 2],
    "normalized_shape": [(5,)], "ord": ["bad"], "reduction": ["bogus"], "mode": ["bogus"],
    "min": [2.0], "beta": [0.0], "alpha": [None], "margin": [None], "weight": [T(7)],
    "padding_mode": ["bogus"], "label_smoothing": [-0.5, 1.5], "split_size_or_sections": [0],
    "sections": [0], "chunks": [0], "steps": [-1], "bins": [0, -1], "n": [-1],
    "window_size": [-1], "q": [1.5, -0.1], "dims": [(5,)], "shifts": [(1, 2)],
    "start_dim": [5], "end_dim": [-5], "dim0": [5], "dim1": [-5], "source": [5],
    "destination": [-5],
}  # fmt: skip


@dataclass(frozen=True)
class Target:
    """One callable both libraries have: ``namespace`` is torch's ('torch.Tensor' for methods)."""

    namespace: str
    name: str

    @property
    def id(self) -> str:
        return f"{NAMESPACES[self.namespace][1]}.{self.name}"

    @property
    def method(self) -> bool:
        return self.namespace == "torch.Tensor"

    def function(self, L):
        """The callable in library L (torch or gpugrad); None for a method."""
        if self.method:
            return None
        ns = {"torch": L, "torch.nn.functional": L.nn.functional}.get(self.namespace)
        if ns is None:
            ns = getattr(L, self.namespace.split(".")[1])
        return getattr(ns, self.name)


@dataclass(frozen=True)
class Case:
    tag: str
    args: tuple
    kwargs: dict


def shared_callables() -> list[Target]:
    """Every public callable of the five namespaces that gpugrad has too, in a fixed order."""
    out = []
    for namespace, (ours_ns, _) in NAMESPACES.items():
        for name, obj in torch_names(namespace):
            if SKIP.match(name) or isinstance(obj, types.ModuleType) or inspect.isclass(obj):
                continue
            if namespace == "torch.Tensor":
                if isinstance(obj, property) or isinstance(
                    inspect.getattr_static(gpugrad.Tensor, name, None), property
                ):
                    continue
            elif not callable(obj):
                continue
            try:
                ours = getattr(ours_ns, name)
            except Exception:  # noqa: BLE001 - a name gpugrad lacks or refuses is not shared
                continue
            if ours is None or (namespace != "torch.Tensor" and not callable(ours)):
                continue
            out.append(Target(namespace, name))
    return out


def candidates(target: Target) -> list[tuple]:
    """The argument lists to find a base in (a method's receiver is its first tensor)."""
    if target.method:
        return [c for c in CANDIDATES if isinstance(c[0], Spec)]
    return list(CANDIDATES)


def torch_params(target: Target) -> set[str]:
    """The parameter names PyTorch's callable takes: signature, ATen schemas and docstring."""
    obj = getattr(torch.Tensor, target.name) if target.method else target.function(torch)
    names: set[str] = set()
    try:
        names |= set(inspect.signature(obj).parameters)
    except (TypeError, ValueError):
        pass
    try:
        for schema in torch._C._jit_get_schemas_for_operator("aten::" + target.name):
            names |= {a.name for a in schema.arguments}
    except RuntimeError:
        pass
    doc = (getattr(obj, "__doc__", None) or "")[:400]
    m = re.search(re.escape(target.name) + r"\((.*?)\)", doc)
    if m:
        names |= set(re.findall(r"(\w+)\s*(?:=|,|$|:)", m.group(1)))
    return names


def takes_out(target: Target) -> bool:
    """Whether both libraries' callables take ``out=``: PyTorch's that do are listed in
    gpugrad/_out_names.py (generated from torch), and gpugrad's faces take it on exactly
    those; elsewhere (F.normalize) where gpugrad's signature has it and torch's too."""
    if target.method:
        return False
    if target.name in OUT_NAMES.get(target.namespace, ()):
        return True
    try:
        ours = inspect.signature(target.function(gpugrad)).parameters
    except (TypeError, ValueError):
        return False
    return "out" in ours and "out" in torch_params(target)


def _out_specs(torch_result, dtype_of=None):
    """Spec(s) for ``out=`` of PyTorch's result's structure: a Tensor's shape and dtype (or
    ``dtype_of(dtype)``), a tuple's one per element (the first alone changed); None where the
    result has no such form."""
    if isinstance(torch_result, torch.Tensor):
        dtype = str(torch_result.dtype).split(".")[-1]
        return Spec(tuple(torch_result.shape), dtype_of(dtype) if dtype_of else dtype)
    if (
        isinstance(torch_result, (tuple, list))
        and torch_result
        and all(isinstance(r, torch.Tensor) for r in torch_result)
    ):
        specs = [_out_specs(r) for r in torch_result]
        if dtype_of:
            specs[0] = _out_specs(torch_result[0], dtype_of)
        return tuple(specs)
    return None


def _variants(a: Spec, first_tensor: bool, several_tensors: bool) -> dict[str, object]:
    """The degenerate and invalid replacements of one tensor argument."""
    rank1 = (
        Spec((5,), a.dtype, a.lo, a.hi) if len(a.shape) != 1 else Spec((5, 2), a.dtype, a.lo, a.hi)
    )
    var: dict[str, object] = {
        "0d": Spec((), a.dtype, a.lo, a.hi),
        "empty": Spec((0,) + a.shape[1:] if a.shape else (0,), a.dtype, a.lo, a.hi),
        "bool": Spec(a.shape, "bool"),
        "float": Spec(a.shape, "float32") if a.dtype != "float32" else None,
        "int": Spec(a.shape, "int64", 0, 2) if a.dtype != "int64" else None,
        "float64": replace(a, dtype="float64") if a.dtype == "float32" else None,
        "none": NONE,
        "1d": rank1,
    }
    if several_tensors and not first_tensor:
        last = a.shape[:-1] + (a.shape[-1] + 2,) if a.shape else (5,)
        lead = (a.shape[0] + 3,) + a.shape[1:] if a.shape else (5,)
        var["mismatch"] = Spec(last, a.dtype, a.lo, a.hi)
        var["mismatch_lead"] = Spec(lead, a.dtype, a.lo, a.hi)
    if first_tensor and a.dtype.startswith("float"):
        var["negvals"] = Spec(a.shape, a.dtype, -2.0, -0.5)
    return {k: v for k, v in var.items() if v is not None}


def cases(target: Target, base: tuple, torch_result) -> list[Case]:
    """The base call and its mutations; ``torch_result`` (PyTorch's base result) sizes ``out``."""
    args = list(base)
    out = [Case("base", tuple(args), {})]

    def put(tag: str, i: int, v) -> None:
        out.append(Case(tag, tuple(args[:i] + [v] + args[i + 1 :]), {}))

    tensors = [i for i, a in enumerate(args) if isinstance(a, Spec)]
    for i, a in enumerate(args):
        if isinstance(a, bool):
            continue
        if isinstance(a, int):
            for v in (5, -5, -1):
                put(f"arg{i}={v}", i, v)
        elif isinstance(a, tuple) and a and all(isinstance(x, int) for x in a):
            put(f"arg{i}=neg-tuple", i, tuple(-x - 1 for x in a))
            put(f"arg{i}=dim5-tuple", i, tuple(list(a[:-1]) + [5]))
        elif isinstance(a, Spec):
            for tag, v in _variants(a, i == tensors[0], len(tensors) > 1).items():
                put(f"arg{i}={tag}", i, v)
    params = torch_params(target)
    if "dim" in params and not any(
        isinstance(a, int) and not isinstance(a, bool) for a in args[1:]
    ):
        for v in (5, -5):
            out.append(Case(f"dim={v}", tuple(args), {"dim": v}))
    for kw, values in BAD_KW.items():
        if kw in params:
            for v in values:
                out.append(Case(f"{kw}={v!r}", tuple(args), {kw: v}))
    out.append(Case("badkw", tuple(args), {"definitely_not_an_arg": 1}))
    if takes_out(target) and _out_specs(torch_result) is not None:
        # of the result's shape and dtype; of a dtype it cannot (or, an int64 result, can)
        # be cast to; empty (resized silently); a tuple result's out= is a tuple
        same = _out_specs(torch_result)
        out.append(Case("out=same", tuple(args), {"out": same}))
        wrong = _out_specs(torch_result, lambda d: "int64" if d != "int64" else "bool")
        out.append(Case("out=wrong-dtype", tuple(args), {"out": wrong}))
        empty = _out_specs(torch_result, None)
        empty = (
            replace(empty, shape=(0,))
            if isinstance(empty, Spec)
            else tuple(replace(e, shape=(0,)) for e in empty)
        )
        out.append(Case("out=empty", tuple(args), {"out": empty}))
    seen: set[str] = set()
    for c in out:  # tags name the cases in failure messages and in KNOWN: they must be unique
        assert c.tag not in seen, f"{target.id}: two cases tagged {c.tag}"
        seen.add(c.tag)
    return out


def materialize(L, value):
    """A Spec (or a list/tuple holding some) as fresh tensors of library L; NONE as None."""
    if isinstance(value, Spec):
        a = value.array().copy()
        # torch's own storage (from_numpy's cannot be resized, so an out= could not be)
        return torch.from_numpy(a).clone() if L is torch else gpugrad.tensor(a)
    if isinstance(value, (list, tuple)) and any(isinstance(x, Spec) for x in value):
        return type(value)(materialize(L, x) for x in value)
    return None if value is NONE else value
