"""The implementations a benchmark compares, each on one device.

``Framework`` wraps gpugrad or torch: workloads write one piece of PyTorch-API code and run it
on both. ``Floor`` is the handwritten baseline: NumPy on cpu, CuPy on cuda, no framework.
"""

from __future__ import annotations

import contextlib
import importlib
from typing import Any

import numpy as np

FRAMEWORKS = ("gpugrad", "torch")
# The implementation name of each framework's compiled step (``--compile``): gpugrad.compile's
# replay, and PyTorch's own compiler beside it as the reference
COMPILED = {"gpugrad": "compiled", "torch": "torch.compile"}
# The module benchmarked as gpugrad (a dry run of the harness can stand torch in for it).
GPUGRAD = "gpugrad"


def gpugrad_has(dotted: str) -> bool:
    """Whether gpugrad offers ``dotted`` (e.g. "optim.AdamW"): frameworks share one recipe."""
    obj: Any = importlib.import_module(GPUGRAD)
    for part in dotted.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return False
    return True


def cuda_available() -> tuple[bool, str]:
    """Whether gpugrad can use a GPU here, and why not."""
    from gpugrad.backend import cuda_status

    n, why = cuda_status()
    return n > 0, why


def torch_status(device: str) -> tuple[bool, str]:
    try:
        import torch
    except ImportError:
        return False, "PyTorch is not installed"
    if device == "cuda" and not torch.cuda.is_available():
        return False, f"PyTorch {torch.__version__} has no CUDA here"
    return True, ""


class Framework:
    """gpugrad or torch on one device, through the API they share."""

    kind = "framework"

    def __init__(self, name: str, device: str, compiled: bool = False) -> None:
        self.name = COMPILED[name] if compiled else name
        self.lib = name
        self.device = device
        self.compiled = compiled
        module = GPUGRAD if name == "gpugrad" else name
        self.T = importlib.import_module(module)
        self.F = importlib.import_module(f"{module}.nn.functional")
        self._cuda = device == "cuda"

    def tensor(self, host: np.ndarray, requires_grad: bool = False):
        t = self.T.tensor(np.array(host), device=self.device)  # a private copy
        if requires_grad:
            t.requires_grad_(True)
        return t

    def host(self, t) -> np.ndarray:
        return np.array(t.detach().cpu().numpy())

    def sync(self) -> None:
        if self._cuda:
            self.T.cuda.synchronize()

    def no_grad(self):
        return self.T.no_grad()

    def compile(self, fn):
        """``fn`` compiled in a compiled implementation, else ``fn`` itself.

        gpugrad: no warm-up call, so the first call records (it runs eagerly), the result the
        harness checks is the eager one and every timed call is a replay. torch: the first
        call compiles (tens of seconds on a CPU, untimed) and its compiled result is the one
        checked; on cuda, mode "reduce-overhead" records a CUDA graph on the next call and
        replays it after that, within the harness's untimed warm-up calls."""
        if not self.compiled:
            return fn
        if self.lib == "gpugrad":
            return self.T.compile(fn, warmup=0)
        # Every case wraps a new closure of the same function (one ``train`` per size): dynamo
        # counts each as a recompile of that code object, runs it eagerly past its recompile
        # limit (8), and after a second shape compiles shape-generic code. A reset gives each
        # case the fresh, static compile a program compiling this one step would get.
        # torch.compile turns torch.distributions' argument validation off for the whole
        # process (PyTorch 2.13, when it loads its compiler): put the setting back, there and
        # after each call, so the rest of the process sees PyTorch's defaults
        dist = self.T.distributions.Distribution
        validate = dist._validate_args
        self.T._dynamo.reset()
        compiled = self.T.compile(fn, mode="reduce-overhead" if self._cuda else None)
        dist._validate_args = validate

        def call(*args, **kwargs):
            try:
                return compiled(*args, **kwargs)
            finally:
                dist._validate_args = validate

        return call

    def has(self, dotted: str) -> bool:
        obj: Any = self.T
        for part in dotted.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                return False
        return True


class Floor:
    """The handwritten baseline: plain NumPy (cpu) or CuPy (cuda) arrays."""

    kind = "floor"
    name = "floor"

    def __init__(self, device: str) -> None:
        self.device = device
        if device == "cuda":
            import cupy
            import cupyx.scipy.special as special

            self.xp = cupy
            self.lib = "cupy"
            self._special = special
        else:
            self.xp = np
            self.lib = "numpy"
            self._special = None

    def array(self, host: np.ndarray):
        return self.xp.array(host)  # a private copy

    def host(self, a) -> np.ndarray:
        return np.array(a.get() if self.xp is not np else a)

    def sync(self) -> None:
        if self.xp is not np:
            self.xp.cuda.Device().synchronize()

    def as_strided(self, a, shape, strides):
        return self.xp.lib.stride_tricks.as_strided(a, shape, strides)

    def scatter_add(self, out, index, values) -> None:
        """``out[index] += values`` with repeated indices accumulated."""
        if self.xp is np:
            np.add.at(out, index, values)
        else:
            import cupyx

            cupyx.scatter_add(out, index, values)

    def erf(self, a):
        if self._special is not None:
            return self._special.erf(a)
        from scipy.special import erf

        return erf(a).astype(a.dtype, copy=False)

    def free_memory(self) -> None:
        if self.xp is not np:
            self.xp.get_default_memory_pool().free_all_blocks()


@contextlib.contextmanager
def tf32(enabled: bool, device: str):
    """Let float32 matmuls use TF32 tensor cores in every implementation, then restore."""
    if not enabled or device != "cuda":
        yield
        return
    import cupy
    import cupy._core._routines_linalg as linalg

    saved = []
    old = linalg.get_compute_type(cupy.float32)
    linalg.set_compute_type(cupy.float32, linalg.COMPUTE_TYPE_TF32)
    for name in FRAMEWORKS:  # gpugrad also follows CuPy's setting; its own flag when it has one
        try:
            m = importlib.import_module(name).backends.cuda.matmul
            saved.append((m, m.allow_tf32))
            m.allow_tf32 = True
        except (ImportError, AttributeError):
            pass
    try:
        yield
    finally:
        linalg.set_compute_type(cupy.float32, old)
        for m, v in saved:
            m.allow_tf32 = v
