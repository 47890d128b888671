"""Activations beyond the core's (which live in gpugrad.ops.activation): composites."""

from __future__ import annotations

from ..._tensor import Tensor
from ...autograd.graph import Node
from ...ops import activation as _core
from ...ops._util import needs_grad, record
from ...ops.compare import where as _where


def _inplace_result(input: Tensor, out: Tensor) -> Tensor:
    return input.copy_(out)


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    return input.relu_() if inplace else _core.relu(input)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x for x > 0, negative_slope * x otherwise."""
    out = _where(input > 0, input, input * negative_slope)
    return _inplace_result(input, out) if inplace else out


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    out = _where(input > 0, input, (input.clamp(max=0).exp() - 1) * alpha)
    return _inplace_result(input, out) if inplace else out


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    out = elu(input, alpha) * scale
    return _inplace_result(input, out) if inplace else out


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    out = _where(input > 0, input, ((input / alpha).clamp(max=0).exp() - 1) * alpha)
    return _inplace_result(input, out) if inplace else out


def hardtanh(
    input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False
) -> Tensor:
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    out = input.clamp(min_val, max_val)
    return _inplace_result(input, out) if inplace else out


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    return hardtanh(input, 0.0, 6.0, inplace)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    out = (input / 6 + 0.5).clamp(0, 1)
    return _inplace_result(input, out) if inplace else out


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    out = input * (input + 3).clamp(0, 6) / 6
    return _inplace_result(input, out) if inplace else out


class SoftplusBackward0(Node):
    def backward(self, grad):
        (x,) = self.saved_tensors
        bx = x * self.beta
        # sigmoid(beta x), and 1 where the forward was linear
        return (grad * _where(bx <= self.threshold, bx.sigmoid(), 1.0),)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, and x where beta x > threshold (a primitive: the
    composite through |x| has a wrong derivative at exactly 0)."""
    xp = input._device.backend.xp
    x = input._data
    bx = x * beta
    soft = (xp.log1p(xp.exp(-xp.abs(bx))) + xp.maximum(bx, 0)) / beta
    data = xp.where(bx > threshold, x, soft).astype(x.dtype, copy=False)
    out = Tensor._make(data, input._device)
    if needs_grad(input):
        node = record(SoftplusBackward0(), (input,), out)
        node.save(input)
        node.beta, node.threshold = beta, threshold
    return out


def logsigmoid(input: Tensor) -> Tensor:
    return -softplus(-input)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    out = input * softplus(input).tanh()
    return _inplace_result(input, out) if inplace else out


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    out = _core.silu(input)
    return _inplace_result(input, out) if inplace else out


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    return _core.gelu(input, approximate=approximate)


def sigmoid(input: Tensor) -> Tensor:
    return input.sigmoid()


def tanh(input: Tensor) -> Tensor:
    return input.tanh()


def softsign(input: Tensor) -> Tensor:
    return input / (input.abs() + 1)


def tanhshrink(input: Tensor) -> Tensor:
    return input - input.tanh()


def glu(input: Tensor, dim: int = -1) -> Tensor:
    if input.shape[dim] % 2:
        raise RuntimeError(
            f"Halving dimension must be even, but dimension {dim % input.ndim} is size "
            f"{input.shape[dim]}"
        )
    a, b = input.chunk(2, dim)
    return a * b.sigmoid()


def _softmax_dim_warn(name: str, ndim: int) -> int:
    import warnings

    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
        "dim=X as an argument.",
        stacklevel=3,
    )
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    if dim is None:
        dim = _softmax_dim_warn("softmax", input.ndim)
    return _core.softmax(input, dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    if dim is None:
        dim = _softmax_dim_warn("log_softmax", input.ndim)
    return _core.log_softmax(input, dim, dtype=dtype)


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    if dim is None:
        dim = _softmax_dim_warn("softmin", input.ndim)
    return _core.softmax(-input, dim, dtype=dtype)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    out = _where(input > threshold, input, float(value))
    return _inplace_result(input, out) if inplace else out
