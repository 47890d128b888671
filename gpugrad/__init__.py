"""gpugrad: PyTorch-style automatic differentiation on NumPy (cpu) and CuPy (cuda).

``import gpugrad as torch`` runs ordinary PyTorch code within what gpugrad covers.
"""

from __future__ import annotations

import importlib as _importlib
import math

from . import (  # noqa: E402, F401
    _tensor_methods,  # noqa: F401 - binds ops as Tensor methods
    accelerator,
    amp,
    autograd,
    cuda,
    linalg,  # torch.linalg's namespace
    ops,
    return_types,
)
from ._creation import (
    arange,
    as_tensor,
    bernoulli,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    get_default_device,
    initial_seed,
    linspace,
    logspace,
    manual_seed,
    multinomial,
    normal,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    seed,
    set_default_device,
    tensor,
    zeros,
    zeros_like,
)
from ._device import device
from ._dtype import (
    ALIASES as _ALIASES,
)
from ._dtype import (
    bfloat16,
    dtype,
    float16,
    float32,
    float64,
    get_default_dtype,
    int8,
    int16,
    int32,
    int64,
    promote_types,
    result_type,
    set_default_dtype,
    uint8,
)
from ._dtype import (
    bool_ as _bool,
)
from ._generator import Generator
from ._legacy import (
    BFloat16Tensor,
    BoolTensor,
    DoubleTensor,
    FloatTensor,
    HalfTensor,
    IntTensor,
    LongTensor,
)
from ._runtime import (
    are_deterministic_algorithms_enabled,
    compile,
    get_num_threads,
    is_deterministic_algorithms_warn_only_enabled,
    set_num_threads,
    use_deterministic_algorithms,
)
from ._tensor import Size, Tensor
from ._tensor_str import get_printoptions, set_printoptions
from ._type_info import finfo, iinfo
from .amp import autocast, get_autocast_dtype, is_autocast_enabled
from .amp.autocast_mode import (
    clear_autocast_cache,
    is_autocast_cache_enabled,
    set_autocast_cache_enabled,
)
from .autograd.grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .backends import get_float32_matmul_precision, set_float32_matmul_precision
from .cuda import OutOfMemoryError  # torch.OutOfMemoryError, torch.cuda's too
from .linalg import det
from .linalg import inv as inverse
from .ops import *  # noqa: F403 - the functional API: gpugrad.exp, gpugrad.matmul, ...
from .ops import abs, all, any, max, min, pow, round, sum  # noqa: A004 - PyTorch's names

# the sparse COO face; the star import bound ops.sparse here (``from . import`` would keep it)
sparse = _importlib.import_module(".sparse", __name__)
from . import jit as _jit  # noqa: E402, F401 - gives gpugrad.compile its record-and-replay
from ._tensor import (  # noqa: E402
    channels_last,
    channels_last_3d,
    contiguous_format,
    layout,
    memory_format,
    preserve_format,
    sparse_coo,
    strided,
)
from ._tensor_methods import matmul, mm  # noqa: E402 - sparse-aware, over the star import's
from .backend.quiet import quiet as _quiet  # noqa: E402
from .ops import special as _special_ops  # noqa: E402
from .ops.indexing import index_put, index_put_  # noqa: E402
from .ops.sparse import sparse_coo_tensor, spmm  # noqa: E402
from .ops.special import (  # noqa: E402 - torch.lgamma & co. (gpugrad.special is the face)
    _standard_gamma,
    _standard_gamma_grad,
    binomial,
    digamma,
    erfinv,
    lgamma,
    mvlgamma,
    poisson,
    polygamma,
)
from .utils.dlpack import from_dlpack  # noqa: E402 - zero-copy exchange (DLPack)

# faces taken straight from their op files: quiet as the ops namespace's (NumPy's error state,
# PyTorch's TypeError for a non-Tensor argument)
for _name in (
    "index_put index_put_ sparse_coo_tensor spmm binomial digamma erfinv lgamma mvlgamma "
    "poisson polygamma"
).split():
    globals()[_name] = _quiet(globals()[_name])
del _name

globals().update(_ALIASES)  # gpugrad.float, gpugrad.long, gpugrad.bool, ...
bool = _bool  # noqa: A001

__version__ = "0.1.0"

inf, nan, pi, e = math.inf, math.nan, math.pi, math.e

_LAZY = (
    "nn",
    "optim",
    "utils",
    "serialization",
    "viz",
    "backends",
    "onnx",
    "distributions",
    "special",
    "distributed",
    "version",
)


def __getattr__(name: str):
    # nn/optim/utils import on first use, so `import gpugrad` stays light.
    if name in _LAZY:
        return _importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'gpugrad' has no attribute '{name}'")


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def numel(input: Tensor) -> int:
    if not isinstance(input, Tensor):
        raise TypeError(
            f"numel(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}"
        )
    return input.numel()


def is_floating_point(input: Tensor) -> bool:
    return input.dtype.is_floating_point


def igamma(input: Tensor, other: Tensor) -> Tensor:
    """The regularized lower incomplete gamma function (``torch.special.gammainc``)."""
    return _special_ops.gammainc(input, other)


def igammac(input: Tensor, other: Tensor) -> Tensor:
    """The regularized upper incomplete gamma function (``torch.special.gammaincc``)."""
    return _special_ops.gammainc(input, other, upper=True)


def save(
    obj,
    f,
    pickle_module=None,
    pickle_protocol: int = 2,
    _use_new_zipfile_serialization: bool = True,
    _disable_byteorder_record: bool = False,
    *,
    format: str | None = None,
) -> None:
    """Save ``obj``: state dicts as safetensors files, other objects (whole models) in
    PyTorch's zip format."""
    from .serialization import save as _save

    _save(
        obj,
        f,
        pickle_module,
        pickle_protocol,
        _use_new_zipfile_serialization,
        _disable_byteorder_record,
        format=format,
    )


def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None, **kwargs):
    """Load what ``gpugrad.save`` or ``torch.save`` wrote (``weights_only=True`` by default,
    as in PyTorch)."""
    from .serialization import load as _load

    return _load(f, map_location, pickle_module, weights_only=weights_only, mmap=mmap, **kwargs)


# PyTorch's out= (gpugrad.ops.out_argument) on every function whose torch counterpart takes
# it: the ops' faces were built with it (backend/quiet.py); here the writer is installed and
# the functions defined or re-wrapped above (factories, matmul, igamma ...) get their faces
from .backend.quiet import install_out as _install_out  # noqa: E402
from .backend.quiet import set_out_argument as _set_out_argument  # noqa: E402
from .ops.out_argument import call_with_out as _call_with_out  # noqa: E402

_set_out_argument(_call_with_out)
_install_out(globals())
