"""``gpugrad.nn.functional`` (``F``): stateless layers, activations and losses, as
``torch.nn.functional``.

A face: every op, node and kernel lives in ``gpugrad.ops`` (conv.py, pooling.py, loss.py ...);
this module re-exports them, and adds only PyTorch's argument handling where F's signature
differs from the op's: the deprecated ``size_average`` / ``reduce`` loss flags, softmax's
implicit-dim warning, relu's ``inplace``.
"""

from __future__ import annotations

import sys

from .. import _warn
from .._tensor import Tensor
from ..backend.quiet import quiet_namespace
from ..ops import activation as _activation
from ..ops import loss as _loss
from ..ops.activation import (  # noqa: F401
    celu,
    elu,
    gelu,
    glu,
    hardshrink,
    hardsigmoid,
    hardswish,
    hardtanh,
    leaky_relu,
    logsigmoid,
    mish,
    relu6,
    selu,
    silu,
    softplus,
    softshrink,
    softsign,
    tanhshrink,
    threshold,
)
from ..ops.attention import (  # noqa: F401
    multi_head_attention_forward,
    scaled_dot_product_attention,
)
from ..ops.conv import (  # noqa: F401
    conv1d,
    conv2d,
    conv3d,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
    fold,
    unfold,
)
from ..ops.distance import (  # noqa: F401
    cosine_similarity,
    pairwise_distance,
)
from ..ops.dropout import (  # noqa: F401
    alpha_dropout,
    dropout,
    dropout1d,
    dropout2d,
    dropout3d,
    feature_alpha_dropout,
)
from ..ops.embedding import (  # noqa: F401
    embedding,
    one_hot,
)
from ..ops.interpolate import (  # noqa: F401
    interpolate,
)
from ..ops.linalg import (  # noqa: F401
    bilinear,
    linear,
)
from ..ops.loss import (  # noqa: F401
    huber_loss,
)
from ..ops.normalization import (  # noqa: F401
    batch_norm,
    group_norm,
    instance_norm,
    layer_norm,
    normalize,
    rms_norm,
)
from ..ops.padding import (  # noqa: F401
    pad,
)
from ..ops.pixel_shuffle import (  # noqa: F401
    pixel_shuffle,
    pixel_unshuffle,
)
from ..ops.pooling import (  # noqa: F401
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    avg_pool1d,
    avg_pool2d,
    max_pool1d,
    max_pool2d,
)
from ..ops.unary import (  # noqa: F401
    sigmoid,
    tanh,
)
from ._reduction import legacy_reduction as _legacy


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return elu(input, alpha, inplace=True)


def selu_(input: Tensor) -> Tensor:
    return selu(input, inplace=True)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return celu(input, alpha, inplace=True)


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    return leaky_relu(input, negative_slope, inplace=True)


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    return hardtanh(input, min_val, max_val, inplace=True)


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:  # noqa: F811
    return _activation.threshold(input, threshold, value, inplace=True)


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    return input.relu_() if inplace else _activation.relu(input)


def relu_(input: Tensor) -> Tensor:
    return input.relu_()


def _softmax_dim_warn(name: str, ndim: int) -> int:
    _warn.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
        "dim=X as an argument."
    )
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    if dim is None:
        dim = _softmax_dim_warn("softmax", input.ndim)
    return _activation.softmax(input, dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    if dim is None:
        dim = _softmax_dim_warn("log_softmax", input.ndim)
    return _activation.log_softmax(input, dim, dtype=dtype)


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    if dim is None:
        dim = _softmax_dim_warn("softmin", input.ndim)
    return _activation.softmin(input, dim, dtype=dtype)


# ---- losses with PyTorch's deprecated size_average / reduce flags ---------------------
def l1_loss(
    input: Tensor,
    target: Tensor,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Mean absolute error."""
    return _loss.l1_loss(input, target, _legacy(size_average, reduce, reduction), weight)


def mse_loss(
    input: Tensor,
    target: Tensor,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Mean squared error."""
    return _loss.mse_loss(input, target, _legacy(size_average, reduce, reduction), weight)


def smooth_l1_loss(
    input: Tensor,
    target: Tensor,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Tensor:
    """Huber loss divided by beta (L1 when beta == 0)."""
    return _loss.smooth_l1_loss(input, target, _legacy(size_average, reduce, reduction), beta)


def kl_div(
    input: Tensor,
    target: Tensor,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    log_target: bool = False,
) -> Tensor:
    """KL(target || exp(input)) pointwise; input holds log-probabilities."""
    return _loss.kl_div(input, target, _legacy(size_average, reduce, reduction), log_target)


def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average=None,
    ignore_index: int = -100,
    reduce=None,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of class indices given log-probabilities."""
    reduction = _legacy(size_average, reduce, reduction)
    return _loss.nll_loss(input, target, weight, ignore_index, reduction)


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average=None,
    ignore_index: int = -100,
    reduce=None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross entropy of logits (class dim 1, or 0 for unbatched input) against class indices
    or class probabilities, with optional class weights and label smoothing."""
    reduction = _legacy(size_average, reduce, reduction)
    return _loss.cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing)


def binary_cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
) -> Tensor:
    """-(t log x + (1 - t) log(1 - x)), logs clamped at -100 as in PyTorch."""
    reduction = _legacy(size_average, reduce, reduction)
    return _loss.binary_cross_entropy(input, target, weight, reduction)


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """BCE of sigmoid(input), computed stably from the logits; pos_weight scales positives."""
    reduction = _legacy(size_average, reduce, reduction)
    return _loss.binary_cross_entropy_with_logits(input, target, weight, reduction, pos_weight)


# PyTorch implements these in Python and touches the input first (input.dim(), .size()): a
# None there raises AttributeError, not the argument parser's TypeError; so do they here
_TOUCH_FIRST = frozenset(
    "adaptive_avg_pool2d adaptive_max_pool2d binary_cross_entropy "
    "binary_cross_entropy_with_logits glu group_norm instance_norm interpolate l1_loss "
    "log_softmax mse_loss normalize sigmoid smooth_l1_loss softmax softmin softsign tanh "
    "tanhshrink".split()
)
# silent on IEEE edge cases, as the ops it wraps (gpugrad.backend.quiet)
quiet_namespace(sys.modules[__name__], unchecked=_TOUCH_FIRST)
