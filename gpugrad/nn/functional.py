"""``gpugrad.nn.functional`` (``F``): stateless layers, activations and losses.

The core's ops (relu, gelu, softmax, linear, nll_loss ...) are re-exported; convolution,
pooling, normalisation, dropout, embedding, attention and the full set of losses are
implemented in ``gpugrad.nn._functional``.
"""

from __future__ import annotations

from .._tensor import Tensor
from ..ops.activation import sigmoid, tanh  # noqa: F401
from ..ops.linalg import linear  # noqa: F401
from ._functional.activation import (  # noqa: F401
    celu,
    elu,
    gelu,
    glu,
    hardsigmoid,
    hardswish,
    hardtanh,
    leaky_relu,
    log_softmax,
    logsigmoid,
    mish,
    relu,
    relu6,
    selu,
    silu,
    softmax,
    softmin,
    softplus,
    softsign,
    tanhshrink,
    threshold,
)
from ._functional.attention import (  # noqa: F401
    multi_head_attention_forward,
    scaled_dot_product_attention,
)
from ._functional.conv import conv1d, conv2d, conv_transpose2d  # noqa: F401
from ._functional.dropout import (  # noqa: F401
    alpha_dropout,
    dropout,
    dropout1d,
    dropout2d,
    dropout3d,
    feature_alpha_dropout,
)
from ._functional.fold import fold, unfold  # noqa: F401
from ._functional.interpolate import interpolate  # noqa: F401
from ._functional.loss import (  # noqa: F401
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from ._functional.normalization import (  # noqa: F401
    batch_norm,
    group_norm,
    instance_norm,
    layer_norm,
    normalize,
    rms_norm,
)
from ._functional.padding import pad  # noqa: F401
from ._functional.pixelshuffle import pixel_shuffle, pixel_unshuffle  # noqa: F401
from ._functional.pooling import (  # noqa: F401
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    avg_pool1d,
    avg_pool2d,
    max_pool1d,
    max_pool2d,
)
from ._functional.sparse import embedding, one_hot  # noqa: F401


def relu_(input: Tensor) -> Tensor:
    return input.relu_()


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None):
    """y_k = x1^T W_k x2 + b_k."""
    # (..., 1, 1, I1) @ (O, I1, I2) -> (..., O, 1, I2); then dot with x2
    t = input1.unsqueeze(-2).unsqueeze(-2) @ weight
    y = (t.squeeze(-2) * input2.unsqueeze(-2)).sum(-1)
    return y + bias if bias is not None else y


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """x1 . x2 / max(||x1|| ||x2||, eps) along dim."""
    num = (x1 * x2).sum(dim)
    denom = ((x1 * x1).sum(dim) * (x2 * x2).sum(dim)).clamp(min=eps * eps).sqrt()
    return num / denom


def pairwise_distance(
    x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False
) -> Tensor:
    return (x1 - x2 + eps).norm(p, -1, keepdim=keepdim)
