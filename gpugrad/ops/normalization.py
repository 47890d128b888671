"""Normalization: layer_norm, rms_norm and group_norm (one fused node each, through the
backend's kernels), batch_norm, instance_norm, normalize (composites of reductions and
arithmetic)."""

from __future__ import annotations

from .. import _dtype as D
from .._tensor import Tensor
from .._type_info import finfo
from ..autograd.grad_mode import active as _active
from ..autograd.grad_mode import no_grad
from ..autograd.grad_mode import state as _grad_state
from ..autograd.graph import Node
from . import _autocast as _amp
from ._checks import float_only
from ._util import needs_grad, record, wrap_dim


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
    _check_param_shape("weight", weight, shape)
    _check_param_shape("bias", bias, shape)
    float_only(input, "LayerNormKernelImpl")
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
    arriving at a leaf is copied into ``.grad`` (its base may be seen elsewhere), so a fresh
    contiguous kernel result (no base: nothing else sees it) is reshaped in place instead."""
    shape = tuple(shape)
    if a.shape == shape:
        return a
    if a.base is None and a.flags.c_contiguous:
        a.shape = shape
        return a
    return a.reshape(shape)


def _rows(input: Tensor, k: int) -> tuple:
    """(M, N): the leading dims flattened and the last ``k`` (possibly empty ones)."""
    m = n = 1
    for s in input.shape[: input.ndim - k]:
        m *= s
    for s in input.shape[input.ndim - k :]:
        n *= s
    return m, n


def _layer_norm_fused(input: Tensor, shape: tuple, weight, bias, eps: float) -> Tensor:
    """layer_norm as the backend's kernel on an (M, N) view and one NativeLayerNormBackward0."""
    m, n = _rows(input, len(shape))
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


def _check_param_shape(name: str, t: Tensor | None, shape: tuple) -> None:
    """layer_norm / rms_norm: a weight or bias of the normalized shape (PyTorch's text)."""
    if t is not None and t._data.shape != shape:
        raise RuntimeError(
            f"Expected {name} to be of same shape as normalized_shape, but got {name} of shape "
            f"{list(t.shape)} and normalized_shape = {list(shape)}"
        )


def _check_rms_norm(input: Tensor, shape: tuple, weight: Tensor | None) -> None:
    """PyTorch's checks, in its order and words."""
    k = len(shape)
    if k == 0:
        raise RuntimeError(
            "Expected normalized_shape to be at least 1-dimensional, i.e., containing at "
            "least one element, but got normalized_shape = []"
        )
    _check_param_shape("weight", weight, shape)
    if input.ndim < k:
        raise ValueError(f"Input tensor must have at least {k} dimensions, but got {input.ndim}")
    if tuple(input.shape[input.ndim - k :]) != shape:
        raise RuntimeError(
            f"Given normalized_shape={list(shape)}, expected input with shape "
            f"[*{', '.join(str(s) for s in shape)}], but got input of size{list(input.shape)}"
        )


def rms_norm(
    input: Tensor, normalized_shape, weight: Tensor | None = None, eps: float | None = None
) -> Tensor:
    """x / sqrt(mean(x^2) + eps) over the last dims, then scaled; the result has the input's
    dtype. ``eps=None``: the machine epsilon of the statistics' dtype (float32 for half)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    _check_rms_norm(input, shape, weight)
    float_only(input, "rms_norm")
    half = _is_half(input)
    if eps is None:
        eps = finfo(D.float32 if half else input.dtype).eps
    if input.dtype.is_floating_point and (weight is None or weight.dtype == input.dtype):
        return _rms_norm_fused(input, shape, weight, float(eps))
    # mixed dtypes: as PyTorch's composite, in the input's precision (float32 for half),
    # the result cast back to the input's dtype
    x = input.to(D.float32) if half else input
    dims = tuple(range(input.ndim - len(shape), input.ndim))
    y = x * ((x * x).mean(dims, keepdim=True) + eps).rsqrt()
    if weight is not None:
        y = y * weight
    return y.to(input.dtype)


class FusedRmsNormBackward0(Node):
    """The backend's rms_norm_backward (the name of PyTorch's fused rms_norm node); under
    create_graph the same formula as Tensor ops, rstd recomputed from the saved input."""

    def backward(self, grad):
        if not _grad_state.enabled:
            return self._backward_arrays(grad)
        x, w = self.saved_tensors
        m, n = self.rows
        dt = x.dtype
        x2 = x.reshape(m, n)
        g2 = grad.reshape(m, n)
        if _is_half(x):
            x2, g2 = x2.to(D.float32), g2.to(D.float32)
        rstd = ((x2 * x2).mean(1, keepdim=True) + self.eps).rsqrt()
        xhat = x2 * rstd
        gw = g2 if w is None else g2 * w.reshape(n).to(g2.dtype)
        dx = (gw - xhat * (gw * xhat).mean(1, keepdim=True)) * rstd
        out = [dx.to(dt).reshape(*x.shape)]
        if w is not None:
            out.append((g2 * xhat).sum(0).to(dt).reshape(*w.shape))
        return tuple(out)

    def _arrays(self, backend, g):
        x, w = self.saved_arrays()
        m, n = self.rows
        dx, dw = backend.rms_norm_backward(
            g.reshape(m, n),
            x.reshape(m, n),
            self.rstd,
            None if w is None else w.reshape(n),
            w is not None,
        )
        if w is None:
            return (_shaped(dx, x.shape),)
        return _shaped(dx, x.shape), _shaped(dw, w.shape)


def _rms_norm_fused(input: Tensor, shape: tuple, weight, eps: float) -> Tensor:
    """rms_norm as the backend's kernel on an (M, N) view and one FusedRmsNormBackward0."""
    m, n = _rows(input, len(shape))
    backend = input._device.backend
    w2 = None if weight is None else weight._data.reshape(n)
    y, rstd = backend.rms_norm(input._data.reshape(m, n), w2, eps)
    out = Tensor._make(_shaped(y, input._data.shape), input._device)
    inputs = (input,) if weight is None else (input, weight)
    if needs_grad(*inputs):
        node = record(FusedRmsNormBackward0(), inputs, out)
        node.save(input, weight)
        node.rows, node.eps, node.rstd = (m, n), eps, rstd
    return out


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
    shape_in = input._data.shape
    if training:  # F.batch_norm's _verify_batch_size
        if not shape_in:
            raise IndexError("tuple index out of range")
        per_channel = shape_in[0]
        for s in shape_in[2:]:
            per_channel *= s
        if per_channel == 1:
            raise ValueError(
                "Expected more than 1 value per channel when training, got input size "
                f"{input.size()}"
            )
        if eps <= 0.0:
            raise ValueError(f"batch_norm eps must be positive during training, but got {eps}")
    elif eps < 0.0:
        raise ValueError(f"batch_norm eps must be non-negative, but got {eps}")
    if not training:
        for name, t in (("running_mean", running_mean), ("running_var", running_var)):
            if t is None:
                raise RuntimeError(f"{name} must be defined in evaluation mode")
    c = shape_in[1] if len(shape_in) > 1 else 0  # PyTorch counts 0 features below 2-D
    for name, t in (("running_mean", running_mean), ("running_var", running_var)) + (
        ("weight", weight),
        ("bias", bias),
    ):  # PyTorch's checks, in its order, before any arithmetic
        if t is not None and t.numel() != c:
            raise RuntimeError(f"{name} should contain {c} elements not {t.numel()}")
    if len(shape_in) < 2:
        wrap_dim(1, len(shape_in))  # PyTorch's size(1)
    float_only(input, "batch_norm")
    _check_mixed_dtypes(input, (weight, bias, running_mean, running_var))
    half = input.dtype if _is_half(input) else None
    if half is not None:  # statistics in float32, as PyTorch's kernel
        input = input.to(D.float32)
    dims = (0,) + tuple(range(2, input.ndim))
    shape = (1, input.shape[1]) + (1,) * (input.ndim - 2)
    if training:
        n = input.numel() // input.shape[1]
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
    if use_input_stats:  # F.instance_norm's _verify_spatial_size
        spatial = 1
        for s in input._data.shape[2:]:
            spatial *= s
        if spatial == 1:
            raise ValueError(
                f"Expected more than 1 spatial element when training, got input size {input.size()}"
            )
    float_only(input, "batch_norm")  # PyTorch's runs batch_norm's kernel
    shape = (1, input.shape[1]) + (1,) * (input.ndim - 2)
    y = _normalized(input, tuple(range(2, input.ndim)), eps)
    y = _affine(y, weight, bias, shape)
    return y


def _check_group_norm(input: Tensor, groups: int, weight, bias) -> None:
    """PyTorch's checks (its Python wrapper's, then its kernel's), in its order and words."""
    if input.ndim < 2:
        raise RuntimeError(
            f"Expected at least 2 dimensions for input tensor but received {input.ndim}"
        )
    n, c = input.shape[0], input.shape[1]
    size = [n * c // groups, groups] + list(input.shape[2:])  # // 0: ZeroDivisionError too
    prod = size[0]
    for s in size[2:]:
        prod *= s
    if prod == 1:
        raise ValueError(
            f"Expected more than 1 value per channel when training, got input size {size}"
        )
    if groups <= 0:
        raise RuntimeError(f"Expected num groups to be greater than 0, got {groups}")
    if c % groups:
        raise RuntimeError(
            f"Expected number of channels in input to be divisible by num_groups, but got "
            f"input of shape {list(input.shape)} and num_groups={groups}"
        )
    if weight is not None and (weight.ndim != 1 or weight.numel() != c):
        raise RuntimeError(
            "Expected weight to be a vector of size equal to the number of channels in input, "
            f"but got weight of shape {list(weight.shape)} and input of shape "
            f"{list(input.shape)}"
        )
    if bias is not None and (bias.ndim != 1 or bias.numel() != c):
        # PyTorch's text shows the weight's shape here ([0] when there is none)
        shown = [0] if weight is None else list(weight.shape)
        raise RuntimeError(
            "Expected bias to be a vector of size equal to the number of channels in input, "
            f"but got bias of shape {shown} and input of shape {list(input.shape)}"
        )
    _check_group_norm_dtypes(input, weight, bias)


def _check_mixed_dtypes(input: Tensor, params: tuple) -> None:
    """PyTorch's CPU rules for a norm's parameters (``params`` in its order, None where
    absent): all of the input's dtype, or, where the first is not, all float32 with a half
    input ("mixed dtype")."""
    given = [p for p in params if p is not None]
    dt = input._data.dtype
    if all(p._data.dtype == dt for p in given):
        return
    if given[0]._data.dtype == dt:  # not mixed: a later parameter of another dtype
        bad = next(p for p in given if p._data.dtype != dt)
        raise RuntimeError(
            f"expected scalar type {D.scalar_type_name(input.dtype)} but found "
            f"{D.scalar_type_name(bad.dtype)}"
        )
    if any(p.dtype != D.float32 for p in given):
        raise RuntimeError("mixed dtype (CPU): expect parameter to have scalar type of Float")
    if not _is_half(input):
        raise RuntimeError("mixed dtype (CPU): all inputs must share same datatype.")


def _check_group_norm_dtypes(input: Tensor, weight, bias) -> None:
    """PyTorch's CPU rules: parameters of the input's dtype, or float32 ones for a half
    input."""
    _check_mixed_dtypes(input, (weight, bias))


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
    _check_group_norm(input, num_groups, weight, bias)
    float_only(input, "GroupNormKernelImpl")
    if input.dtype.is_floating_point and all(
        p is None or p.dtype == input.dtype for p in (weight, bias)
    ):
        return _group_norm_fused(input, num_groups, weight, bias, float(eps))
    # a half input with float32 parameters: statistics and the affine in float32
    n, c = input.shape[0], input.shape[1]
    k = input.numel() // (n * num_groups) if n else 0
    x = input.to(D.float32).reshape(n, num_groups, k)
    y = _normalized(x, (2,), eps).reshape(tuple(input.shape))
    shape = (1, c) + (1,) * (input.ndim - 2)
    return _affine(y, weight, bias, shape).to(input.dtype)


class NativeGroupNormBackward0(Node):
    """The backend's group_norm_backward; under create_graph the same formula as Tensor ops
    (the statistics recomputed from the saved input)."""

    def backward(self, grad):
        if not _grad_state.enabled:
            return self._backward_arrays(grad)
        x, w, _ = self.saved_tensors
        n, c, s = self.dims
        groups = self.groups
        k = (c // groups) * s
        dt = x.dtype
        x3 = x.reshape(n, groups, k)
        g3 = grad.reshape(n, c, s)
        if _is_half(x):
            x3, g3 = x3.to(D.float32), g3.to(D.float32)
        xc = x3 - x3.mean(2, keepdim=True)
        rstd = ((xc * xc).mean(2, keepdim=True) + self.eps).rsqrt()
        xhat = xc * rstd
        gw = g3 if w is None else g3 * w.reshape(c, 1).to(g3.dtype)
        gw = gw.reshape(n, groups, k)
        dx = (gw - gw.mean(2, keepdim=True) - xhat * (gw * xhat).mean(2, keepdim=True)) * rstd
        out = [dx.to(dt).reshape(*x.shape)]
        if self.has_weight:
            out.append((g3 * xhat.reshape(n, c, s)).sum((0, 2)).to(dt).reshape(*w.shape))
        if self.has_bias:
            out.append(g3.sum((0, 2)).to(dt).reshape(*self.bias_shape))
        return tuple(out)

    def _arrays(self, backend, g):
        x, w, _ = self.saved_arrays()
        n, c, s = self.dims
        dx, dw, db = backend.group_norm_backward(
            g.reshape(n, c, s),
            x.reshape(n, c, s),
            self.mean,
            self.rstd,
            None if w is None else w.reshape(c),
            self.groups,
            self.has_weight or self.has_bias,
        )
        out = [_shaped(dx, x.shape)]
        if self.has_weight:
            out.append(_shaped(dw, w.shape))
        if self.has_bias:
            out.append(_shaped(db, self.bias_shape))
        return tuple(out)


def _group_norm_fused(input: Tensor, groups: int, weight, bias, eps: float) -> Tensor:
    """group_norm as the backend's kernel on an (N, C, S) view and one NativeGroupNormBackward0."""
    n, c = input.shape[0], input.shape[1]
    s = 1
    for d in input.shape[2:]:
        s *= d
    backend = input._device.backend
    w1 = None if weight is None else weight._data.reshape(c)
    b1 = None if bias is None else bias._data.reshape(c)
    y, mean, rstd = backend.group_norm(input._data.reshape(n, c, s), w1, b1, groups, eps)
    out = Tensor._make(_shaped(y, input._data.shape), input._device)
    inputs = tuple(t for t in (input, weight, bias) if t is not None)
    if needs_grad(*inputs):
        node = record(NativeGroupNormBackward0(), inputs, out)
        node.save(input, weight, None)
        node.dims, node.groups, node.eps = (n, c, s), groups, eps
        node.mean, node.rstd = mean, rstd
        node.has_weight, node.has_bias = weight is not None, bias is not None
        node.bias_shape = None if bias is None else tuple(bias.shape)
    return out


def normalize(
    input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out: Tensor | None = None
) -> Tensor:
    """input / max(||input||_p along dim, eps); with ``out``, written there and returned."""
    if out is not None:  # PyTorch's out= rules (F.normalize is no face with out=)
        from .out_argument import call_with_out

        return call_with_out(normalize, "div", out, (input, p, dim, eps), {})
    denom = input.norm(p, dim, keepdim=True).clamp(min=eps).expand_as(input)
    return input / denom
