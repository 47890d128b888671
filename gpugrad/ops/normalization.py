"""Normalization: layer_norm, rms_norm, batch_norm, instance_norm, group_norm, normalize
(composites of reductions and arithmetic)."""

from __future__ import annotations

from .. import _dtype as D
from .._tensor import Tensor
from .._type_info import finfo
from ..autograd.grad_mode import active as _active
from ..autograd.grad_mode import no_grad
from ..autograd.grad_mode import state as _grad_state
from ..autograd.graph import Node
from . import _autocast as _amp
from ._util import needs_grad, record


def _normalized(x: Tensor, dims: tuple, eps: float) -> Tensor:
    mean = x.mean(dims, keepdim=True)
    xc = x - mean
    var = (xc * xc).mean(dims, keepdim=True)
    return xc * (var + eps).rsqrt()


def _is_half(x: Tensor) -> bool:
    return x.dtype.name in ("float16", "bfloat16")


def layer_norm(
    input: Tensor,
    normalized_shape,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise over the last len(normalized_shape) dims, then scale and shift."""
    if _active.autocast:
        input, weight, bias = _amp.fp32("layer_norm", input, weight, bias)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if tuple(input.shape[input.ndim - k :]) != shape or input.ndim < k:
        raise RuntimeError(
            f"Given normalized_shape={list(shape)}, expected input with shape "
            f"[*, {', '.join(str(s) for s in shape)}], but got input of size"
            f"{list(input.shape)}"
        )
    if all(p is None or p.dtype == input.dtype for p in (weight, bias)):
        return _layer_norm_fused(input, shape, weight, bias, eps)
    half = input.dtype if _is_half(input) else None
    if half is not None:  # statistics and the affine in float32, as PyTorch's kernel
        input = input.to(D.float32)
        weight = None if weight is None else weight.to(D.float32)
        bias = None if bias is None else bias.to(D.float32)
    y = _normalized(input, tuple(range(input.ndim - k, input.ndim)), eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y if half is None else y.to(half)


class NativeLayerNormBackward0(Node):
    """The backend's layer_norm_backward; under create_graph the same formula as Tensor ops
    (the statistics recomputed from the saved input, so they are differentiated too)."""

    def backward(self, grad):
        if not _grad_state.enabled:
            return self._backward_arrays(grad)
        x, w, _ = self.saved_tensors
        m, n = self.rows
        dt = x.dtype
        x2 = x.reshape(m, n)
        g2 = grad.reshape(m, n)
        if _is_half(x):
            x2, g2 = x2.to(D.float32), g2.to(D.float32)
        xc = x2 - x2.mean(1, keepdim=True)
        rstd = ((xc * xc).mean(1, keepdim=True) + self.eps).rsqrt()
        xhat = xc * rstd
        gw = g2 if w is None else g2 * w.reshape(n).to(g2.dtype)
        dx = (gw - gw.mean(1, keepdim=True) - xhat * (gw * xhat).mean(1, keepdim=True)) * rstd
        out = [dx.to(dt).reshape(*x.shape)]
        if self.has_weight:
            out.append((g2 * xhat).sum(0).to(dt).reshape(*w.shape))
        if self.has_bias:
            out.append(g2.sum(0).to(dt).reshape(*self.bias_shape))
        return tuple(out)

    def _arrays(self, backend, g):
        x, w, _ = self.saved_arrays()
        m, n = self.rows
        g2 = g.reshape(m, n)
        x2 = x.reshape(m, n)
        w2 = None if w is None else w.reshape(n)
        dx, dw, db = backend.layer_norm_backward(
            g2, x2, self.mean, self.rstd, w2, self.has_weight or self.has_bias
        )
        out = [_shaped(dx, x.shape)]
        if self.has_weight:
            out.append(_shaped(dw, w.shape))
        if self.has_bias:
            out.append(_shaped(db, self.bias_shape))
        return tuple(out)


def _shaped(a, shape: tuple):
    """``a`` in ``shape``: itself when it already has it. A reshape is a view, and a view
    arriving at a leaf is copied into ``.grad`` (its base may be seen elsewhere)."""
    return a if a.shape == tuple(shape) else a.reshape(shape)


def _layer_norm_fused(input: Tensor, shape: tuple, weight, bias, eps: float) -> Tensor:
    """layer_norm as the backend's kernel on an (M, N) view and one NativeLayerNormBackward0."""
    n = 1
    for s in shape:
        n *= s
    m = input.numel() // n if n else 0
    if n == 0:
        m = 1
        for s in input.shape[: input.ndim - len(shape)]:
            m *= s
    backend = input._device.backend
    x2 = input._data.reshape(m, n)
    w2 = None if weight is None else weight._data.reshape(n)
    b2 = None if bias is None else bias._data.reshape(n)
    y, mean, rstd = backend.layer_norm(x2, w2, b2, float(eps))
    out = Tensor._make(_shaped(y, input._data.shape), input._device)
    inputs = tuple(t for t in (input, weight, bias) if t is not None)
    if needs_grad(*inputs):
        node = record(NativeLayerNormBackward0(), inputs, out)
        node.save(input, weight, None)
        node.rows, node.eps = (m, n), float(eps)
        node.mean, node.rstd = mean, rstd
        node.has_weight, node.has_bias = weight is not None, bias is not None
        node.bias_shape = None if bias is None else tuple(bias.shape)
    return out


def rms_norm(
    input: Tensor, normalized_shape, weight: Tensor | None = None, eps: float | None = None
) -> Tensor:
    """x / sqrt(mean(x^2) + eps) over the last dims, then scaled."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    dims = tuple(range(input.ndim - len(shape), input.ndim))
    if eps is None:
        eps = finfo(input.dtype).eps
    y = input * ((input * input).mean(dims, keepdim=True) + eps).rsqrt()
    return y * weight if weight is not None else y


def _affine(y: Tensor, weight: Tensor | None, bias: Tensor | None, shape: tuple) -> Tensor:
    """``y * weight + bias`` with the per-channel parameters shaped to broadcast (either may be
    absent)."""
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def _update_running(stat: Tensor, batch: Tensor, momentum: float) -> None:
    with no_grad():
        new = stat._data * (1 - momentum) + batch._data.astype(stat._data.dtype) * momentum
        stat._data[...] = new.astype(stat._data.dtype, copy=False)
        stat._vc[0] += 1


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each channel (dim 1) by batch statistics (training) or running ones."""
    if input.ndim < 2:
        raise ValueError(f"Expected 2D or higher input (got {input.ndim}D input)")
    if not training:
        for name, t in (("running_mean", running_mean), ("running_var", running_var)):
            if t is None:
                raise RuntimeError(f"{name} must be defined in evaluation mode")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var)) + (
        ("weight", weight),
        ("bias", bias),
    ):  # PyTorch's checks, in its order, before any arithmetic
        if t is not None and t.numel() != c:
            raise RuntimeError(f"{name} should contain {c} elements not {t.numel()}")
    half = input.dtype if _is_half(input) else None
    if half is not None:  # statistics in float32, as PyTorch's kernel
        input = input.to(D.float32)
    dims = (0,) + tuple(range(2, input.ndim))
    shape = (1, input.shape[1]) + (1,) * (input.ndim - 2)
    if training:
        n = input.numel() // input.shape[1]
        if n <= 1:
            raise ValueError(
                "Expected more than 1 value per channel when training, got input size "
                f"{input.size()}"
            )
        mean = input.mean(dims, keepdim=True)
        xc = input - mean
        var = (xc * xc).mean(dims, keepdim=True)
        y = xc * (var + eps).rsqrt()
        if running_mean is not None:
            _update_running(running_mean, mean.detach().reshape(-1), momentum)
        if running_var is not None:
            unbiased = var.detach().reshape(-1) * (n / (n - 1))
            _update_running(running_var, unbiased, momentum)
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError("running_mean and running_var must be defined in evaluation mode")
        rm = running_mean.reshape(shape).to(input.dtype)
        rv = running_var.reshape(shape).to(input.dtype)
        y = (input - rm) * (rv + eps).rsqrt()
    if half is not None:
        weight = None if weight is None else weight.to(D.float32)
        bias = None if bias is None else bias.to(D.float32)
        return _affine(y, weight, bias, shape).to(half)
    return _affine(y, weight, bias, shape)


def instance_norm(
    input: Tensor,
    running_mean: Tensor | None = None,
    running_var: Tensor | None = None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each (sample, channel) over its spatial dims."""
    shape = (1, input.shape[1]) + (1,) * (input.ndim - 2)
    y = _normalized(input, tuple(range(2, input.ndim)), eps)
    y = _affine(y, weight, bias, shape)
    return y


def group_norm(
    input: Tensor,
    num_groups: int,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise over groups of channels (and all spatial dims) per sample."""
    if _active.autocast:
        input, weight, bias = _amp.fp32("group_norm", input, weight, bias)
    n, c = input.shape[0], input.shape[1]
    if c % num_groups:
        raise RuntimeError(
            f"Expected number of channels in input to be divisible by num_groups, but got "
            f"input of shape {list(input.shape)} and num_groups={num_groups}"
        )
    x = input.reshape(n, num_groups, -1)
    y = _normalized(x, (2,), eps).reshape(tuple(input.shape))
    shape = (1, c) + (1,) * (input.ndim - 2)
    y = _affine(y, weight, bias, shape)
    return y


def normalize(
    input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out: Tensor | None = None
) -> Tensor:
    """input / max(||input||_p along dim, eps)."""
    denom = input.norm(p, dim, keepdim=True).clamp(min=eps).expand_as(input)
    return input / denom
