"""Linear algebra: matrix products (matmul with 1-D, 2-D and batched broadcasting operands,
mm, bmm, dot, outer, addmm / baddbmm, linear, bilinear, einsum), inverse, determinant and
solve (nodes whose backward formulas are Tensor ops, so they have higher-order gradients), and
the vector / matrix norms of ``gpugrad.linalg``."""

from __future__ import annotations

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.grad_mode import active as _active
from ..autograd.grad_mode import state as _grad_state
from ..autograd.graph import Node, collect_next_functions
from ..backend.quiet import ArgumentTypeError
from . import _autocast as _amp
from ._checks import cpp_type_name, not_implemented_for
from ._util import (
    broadcast_error,
    check_device,
    check_devices,
    grad_for,
    meta,
    needs_grad,
    record,
    sum_to_array,
    wrap_dim,
)
from .shape import broadcast_shapes


def _subscript(n) -> str:
    """A sublist subscript as an equation letter (PyTorch's: 0-25 are A-Z, 26-51 a-z)."""
    if n is Ellipsis:
        return "..."
    if 0 <= n < 26:
        return chr(ord("A") + n)
    if 26 <= n < 52:
        return chr(ord("a") + n - 26)
    raise ValueError("einsum(): subscript in subscript list is not within the valid range [0, 52)")


def _sublist_equation(args: tuple) -> tuple:
    """``einsum(op1, sublist1, op2, sublist2, ..., [out_sublist])`` as (equation, operands),
    as torch.functional.einsum converts it."""
    equation = ",".join("".join(_subscript(n) for n in sub) for sub in args[1::2])
    if len(args) % 2 == 1:
        return equation + "->" + "".join(_subscript(n) for n in args[-1]), args[:-1:2]
    return equation, args[::2]


def _check_subscripts(inputs: list, operands) -> None:
    """PyTorch's count of subscripts against each operand's rank (NumPy's text otherwise)."""
    for i, (spec, op) in enumerate(zip(inputs, operands)):
        n, nd = len(spec.replace("...", "")), op._data.ndim
        if "..." in spec:
            if n > nd:
                raise RuntimeError(
                    f"einsum(): the number of subscripts in the equation ({n}) is more than the "
                    f"number of dimensions ({nd}) for operand {i}"
                )
        elif n != nd:
            raise RuntimeError(
                f"einsum(): the number of subscripts in the equation ({n}) does not match the "
                f"number of dimensions ({nd}) for operand {i} and no ellipsis was given"
            )


def einsum(*args) -> Tensor:
    """Einstein summation, ``einsum(equation, *operands)`` or the sublist form
    ``einsum(op1, sublist1, ..., [out_sublist])``; each operand's gradient is another einsum
    (differentiable)."""
    if len(args) < 2:
        raise ValueError(
            "einsum(): must specify the equation string and at least one operand, or at least "
            "one operand and its subscripts list"
        )
    if isinstance(args[0], Tensor):
        equation, operands = _sublist_equation(args)
    elif isinstance(args[0], str):
        equation, operands = args[0], args[1:]
    else:
        raise TypeError(
            f"einsum(): argument 'equation' (position 1) must be str, not {type(args[0]).__name__}"
        )
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    check_devices(list(operands), "einsum")
    xp = operands[0]._device.backend.xp
    lhs, _, rhs = equation.replace(" ", "").partition("->")
    inputs = lhs.split(",")
    _check_subscripts(inputs, operands)
    if not _:
        letters = sorted(
            {
                c
                for s in inputs
                for c in s
                if s.count(c) == 1 and sum(t.count(c) for t in inputs) == 1
            }
        )
        rhs = ("..." if "..." in lhs else "") + "".join(letters)  # PyTorch's implicit order
    arrays = [o._data for o in operands]
    low = arrays[0].dtype
    if low is D.BFLOAT16_NP:  # NumPy's einsum has no bfloat16: float32, rounded once
        arrays = [a.astype(D.accumulation_np(a.dtype), copy=False) for a in arrays]
    data = xp.einsum(f"{lhs}->{rhs}", *arrays)
    if low is D.BFLOAT16_NP:
        data = data.astype(low)
    out = Tensor._make(data, operands[0]._device)
    if needs_grad(*operands):
        node = record(EinsumBackward0(), tuple(operands), out)
        node.save(*operands)
        node.inputs, node.rhs = _spelled_out(inputs, rhs, operands)
    return out


class EinsumBackward0(Node):
    def backward(self, grad):
        ops = self.saved_tensors
        grads = []
        for i, spec in enumerate(self.inputs):
            if not self.needs_input_grad(i) or len(set(spec)) != len(spec):
                grads.append(None if not self.needs_input_grad(i) else _diag_error())
                continue
            others = [o for j, o in enumerate(ops) if j != i]
            specs = [s for j, s in enumerate(self.inputs) if j != i]
            g = einsum(",".join([self.rhs] + specs) + "->" + spec, grad, *others)
            grads.append(g)
        return tuple(grads)


def _spelled_out(inputs: list, rhs: str, operands) -> tuple:
    """The subscripts with each "..." written as letters no operand uses, so the backward
    einsums (whose outputs may drop the ellipsis) are explicit."""
    if not any("..." in spec for spec in inputs):
        return inputs, rhs
    used = set("".join(inputs) + rhs)
    pool = [c for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in used]
    extra = [o._data.ndim - len(spec.replace("...", "")) for spec, o in zip(inputs, operands)]
    k = max(n for spec, n in zip(inputs, extra) if "..." in spec)
    ell = "".join(pool[:k])
    spelled = [spec.replace("...", ell[k - n :]) for spec, n in zip(inputs, extra)]
    return spelled, rhs.replace("...", ell)


def _diag_error():
    raise RuntimeError("einsum backward with a repeated index in one operand is not supported")


def addmm(input: Tensor, mat1: Tensor, mat2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """beta * input + alpha * (mat1 @ mat2) (composite)."""
    if _active.autocast:  # all three operands in the lower dtype, as PyTorch's list says
        input, mat1, mat2 = _amp.lower(input, mat1, mat2)
    # PyTorch's order: the input against mat2, then mat1 against mat2 (NumPy would promote)
    for a, name in ((input, "self"), (mat1, "mat1")):
        if isinstance(a, Tensor) and isinstance(mat2, Tensor) and a.dtype != mat2.dtype:
            raise RuntimeError(
                f"{name} and mat2 must have the same dtype, but got "
                f"{D.scalar_type_name(a.dtype)} and {D.scalar_type_name(mat2.dtype)}"
            )
    if (
        mat1._data.dtype is D.BFLOAT16_NP
        and alpha == 1
        and beta == 1
        and mat1._data.ndim == 2
        and mat2._data.ndim == 2
    ):
        return linear(mat1, mat2.mT, input)  # the input added in float32, rounded once
    prod = mat1.matmul(mat2)
    prod = prod if alpha == 1 else prod * alpha
    return prod + (input if beta == 1 else input * beta)


def baddbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """beta * input + alpha * (batch1 @ batch2) for batches of matrices (composite)."""
    if _active.autocast:
        input, batch1, batch2 = _amp.lower(input, batch1, batch2)
    if input.dtype != batch1.dtype:  # (batch1 against batch2 is bmm's check)
        names = (cpp_type_name(t.dtype) for t in (input, batch1, batch2))
        raise RuntimeError(
            "Input dtypes must be the same, got: input {}, batch1: {}, batch2: {}".format(*names)
        )
    if input._data.dtype.kind == "b" and batch2.dtype == input.dtype:
        raise not_implemented_for("baddbmm", input._data.dtype)
    # PyTorch sizes the result first: batch1.size(0), batch1.size(1), batch2.size(2)
    _size(batch1, 0), _size(batch1, 1), _size(batch2, 2)
    prod = batch1.bmm(batch2)
    prod = prod if alpha == 1 else prod * alpha
    return prod + (input if beta == 1 else input * beta)


def _check(a: Tensor, b: Tensor, op: str, dtypes: bool = True) -> None:
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        bad = b if isinstance(a, Tensor) else a
        raise ArgumentTypeError(bad, f"{op}(): argument must be Tensor, not {type(bad).__name__}")
    if a._device is not b._device:
        check_device(a, b, op)
    if dtypes:
        _same_dtype(a, b)


def _same_dtype(a: Tensor, b: Tensor) -> None:
    if a._data.dtype != b._data.dtype and not (_active.autocast and _amp.casts(a, b)):
        # (in an autocast region both become its lower dtype first, as in PyTorch)
        raise RuntimeError(
            f"expected m1 and m2 to have the same dtype, but got: {a.dtype.name} != {b.dtype.name}"
        )


def _shape_error(a: Tensor, b: Tensor) -> RuntimeError:
    sa, sb = a._data.shape, b._data.shape
    if a._data.ndim == 1 and b._data.ndim == 1:
        return RuntimeError(
            f"inconsistent tensor size, expected tensor [{sa[0]}] and src [{sb[0]}] to have the "
            f"same number of elements, but got {sa[0]} and {sb[0]} elements respectively"
        )
    ra = sa if len(sa) != 1 else (1, sa[0])
    rows = 1
    for s in ra[:-1]:
        rows *= s
    if len(sa) >= 2 and len(sb) == 1:  # PyTorch folds the batch into one mv
        return RuntimeError(
            f"size mismatch, got input ({rows}), mat ({rows}x{sa[-1]}), vec ({sb[0]})"
        )
    rb = sb if len(sb) != 1 else (sb[0], 1)
    return RuntimeError(
        f"mat1 and mat2 shapes cannot be multiplied ({rows}x{ra[-1]} and {rb[-2]}x{rb[-1]})"
    )


class MmBackward0(Node):
    """Gradient of matmul for any ranks (1-D operands are promoted, then squeezed back)."""

    def backward(self, grad):
        a, b = self.saved_tensors
        if len(self.ma[0]) >= 3 and len(self.mb[0]) == 2:
            return self._folded(grad, a, b)
        a_vec, b_vec = len(self.ma[0]) == 1, len(self.mb[0]) == 1
        g = grad
        if a_vec and b_vec:
            g = g.reshape((1, 1))
        elif a_vec:
            g = g.unsqueeze(-2)
        elif b_vec:
            g = g.unsqueeze(-1)
        ga = gb = None
        if self.needs_input_grad(0):
            ga = g.matmul((b.unsqueeze(-1) if b_vec else b).mT)
            ga = grad_for(ga.squeeze(-2) if a_vec else ga, self.ma)
        if self.needs_input_grad(1):
            gb = (a.unsqueeze(0) if a_vec else a).mT.matmul(g)
            gb = grad_for(gb.squeeze(-1) if b_vec else gb, self.mb)
        return (ga, gb)

    def _folded(self, grad, a, b):
        # (..., M, K) @ (K, N): the batch dims fold into M, so each gradient is one GEMM.
        # A batched a^T @ g then summed over the batch reads a transposed per batch, which
        # NumPy's matmul does without BLAS (30 ms against 0.1 for a (16, 64, 128) input).
        g2 = grad.reshape(-1, grad.shape[-1])
        ga = gb = None
        if self.needs_input_grad(0):
            ga = grad_for(g2.matmul(b.mT).reshape(self.ma[0]), self.ma)
        if self.needs_input_grad(1):
            gb = grad_for(a.reshape(-1, a.shape[-1]).mT.matmul(g2), self.mb)
        return (ga, gb)


class DotBackward0(MmBackward0):
    pass


class MvBackward0(MmBackward0):
    pass


class BmmBackward0(MmBackward0):
    pass


# PyTorch's matmul decomposes into unsqueeze / reshape / mm / bmm / squeeze and records the
# last of them on top; gpugrad fuses the product into one node and gives it that top name.
class SqueezeBackward4(MmBackward0):
    """1-D @ 2-D (PyTorch: unsqueeze(0), mm, then squeeze_(0))."""


class UnsafeViewBackward0(MmBackward0):
    """N-D products folded into mm / mv / bmm whose result is reshaped back."""


class CloneBackward0(MmBackward0):
    """2-D @ N-D with a 2-D operand that requires grad (PyTorch folds it transposed)."""


def _matmul_node(a, b, a_grad: bool) -> type:
    na, nb = a.ndim, b.ndim
    if na <= 2 and nb <= 2:
        return ((DotBackward0, SqueezeBackward4), (MvBackward0, MmBackward0))[na - 1][nb - 1]
    if a_grad and nb >= 3 and (na == 2 or (na == nb == 3 and a.shape[0] == 1 != b.shape[0])):
        return CloneBackward0
    return UnsafeViewBackward0


def _product_kernel(na: int, nb: int) -> str:
    """The CPU kernel PyTorch's matmul reaches for these ranks (its name in dtype errors)."""
    if nb == 1:
        return "dot" if na == 1 else "addmv_impl_cpu"
    return "addmm_impl_cpu_" if nb == 2 else "bmm"


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """Matrix product with NumPy's rules for 1-D operands and broadcast batch dims."""
    return _matmul(input, other, None)


def _matmul(input: Tensor, other: Tensor, cls) -> Tensor:
    if _active.autocast:
        input, other = _amp.lower(input, other)
    _check(input, other, "matmul")
    a, b = input._data, other._data
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(
            f"both arguments to matmul need to be at least 1D, but they are {a.ndim}D and {b.ndim}D"
        )
    ka = a.shape[-1]
    kb = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if ka != kb:
        raise _shape_error(input, other)
    if a.dtype.kind == "b":  # NumPy multiplies booleans; PyTorch's kernels have no bool loop
        raise not_implemented_for(_product_kernel(a.ndim, b.ndim), a.dtype)
    try:
        data = input._device.backend.matmul(a, b)
    except ValueError:
        raise _shape_error(input, other) from None
    out = Tensor._make(data, input._device)
    if needs_grad(input, other):
        cls = cls or _matmul_node(a, b, input._requires_grad)
        node = record(cls(), (input, other), out)
        node.save(input if other._requires_grad else None, other if input._requires_grad else None)
        node.ma, node.mb = meta(input), meta(other)
    return out


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    """Product of two 2-D matrices."""
    _check(input, mat2, "mm")
    if input._data.ndim != 2 or mat2._data.ndim != 2:
        raise RuntimeError(f"{'self' if input._data.ndim != 2 else 'mat2'} must be a matrix")
    return matmul(input, mat2)


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    """Batched product of two 3-D tensors with equal batch sizes."""
    _check(input, mat2, "bmm", dtypes=False)
    if input._data.ndim != 3 or mat2._data.ndim != 3:
        raise RuntimeError(
            "batch1 must be a 3D tensor" if input._data.ndim != 3 else "batch2 must be a 3D tensor"
        )
    if input._data.shape[0] != mat2._data.shape[0] or input._data.shape[2] != mat2._data.shape[1]:
        a, b = input._data.shape, mat2._data.shape
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: [{a[0]}, {a[2]}] "
            f"but got: [{b[0]}, {b[1]}]."
        )
    if input._data.dtype.kind == "b":  # PyTorch's kernel refuses self's dtype first
        raise not_implemented_for("bmm", input._data.dtype)
    _same_dtype(input, mat2)
    return _matmul(input, mat2, BmmBackward0)


def dot(input: Tensor, other: Tensor) -> Tensor:
    """Inner product of two 1-D tensors."""
    _check(input, other, "dot")
    if input._data.ndim != 1 or other._data.ndim != 1:
        raise RuntimeError(
            f"1D tensors expected, but got {input._data.ndim}D and {other._data.ndim}D tensors"
        )
    return matmul(input, other)


def outer(input: Tensor, vec2: Tensor) -> Tensor:
    """Outer product of two 1-D tensors (composite: broadcasting multiply)."""
    for t, name in ((input, "self"), (vec2, "vec2")):
        if t._data.ndim != 1:
            raise RuntimeError(f"outer: Expected 1-D argument {name}, but got {t._data.ndim}-D")
    return input.unsqueeze(-1) * vec2.unsqueeze(0)


class AddmmBackward0(Node):
    def backward(self, grad):
        if not grad._requires_grad and not _grad_state.enabled:
            return self._backward_arrays(grad)
        x, w = self.saved_tensors
        gx = grad.matmul(w) if self.needs_input_grad(0) else None
        gw = grad.mT.matmul(x) if self.needs_input_grad(1) else None
        gb = None
        if len(self.next_functions) > 2 and self.needs_input_grad(2):
            gb = grad_for(grad, self.mb)
        return (gx, gw, gb)

    def _arrays(self, backend, g):
        # The same formulas on arrays: linear layers are the hot path of training.
        x, w = self.saved_arrays()
        nf = self.next_functions
        gx = backend.matmul(g, w) if nf[0][0] is not None else None
        gw = backend.matmul(g.T, x) if nf[1][0] is not None else None
        gb = None
        if len(nf) > 2 and nf[2][0] is not None:
            mb = self.mb
            if mb[0] == g.shape[1:] and mb[1] == g.dtype:  # the usual (out_features,) bias
                gb = backend.sum(g, 0)
            else:
                gb = sum_to_array(backend, g, mb)
        return (gx, gw, gb)


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x W^T + b; one fused node (AddmmBackward0) for 2-D input, as in PyTorch."""
    if _active.autocast:
        input, weight, bias = _amp.lower(input, weight, bias)
    _check(input, weight, "linear")
    x, w = input._data, weight._data
    if x.ndim == 0 or w.ndim == 0:
        raise RuntimeError(
            f"both arguments to linear need to be at least 1D, but they are {x.ndim}D and {w.ndim}D"
        )
    if w.ndim != 2:  # PyTorch's matmul(input, weight.t()) (or addmm with a bias)
        wt = weight.t()  # t()'s error past 2-D
        if bias is not None and (x.ndim in (2, 3) or bias._data.ndim == 1):
            raise RuntimeError("mat2 must be a matrix, got 1-D tensor")
        out = input.matmul(wt)
        return out if bias is None else out + bias
    if x.shape[-1] != w.shape[-1]:
        raise _shape_error(input, weight.mT)
    if x.ndim != 2:
        if bias is None or bias._data.ndim != 1:
            out = input.matmul(weight.mT)
            return out if bias is None else out + bias
        # PyTorch's fold: the leading dims flattened into one addmm, viewed back
        # (ViewBackward0 over AddmmBackward0, the fused node's array path in backward)
        lead = x.shape[:-1]
        flat = linear(input.reshape(-1, x.shape[-1]), weight, bias)
        return flat.view(lead + (w.shape[0],))
    if bias is not None and bias._device is not input._device:
        check_device(input, bias, "linear")
    if x.dtype.kind == "b":
        raise not_implemented_for("addmm_impl_cpu_", x.dtype)
    if x.dtype is D.BFLOAT16_NP and bias is not None:
        # PyTorch's addmm adds the bias inside the float32 GEMM and rounds once
        f32 = D.accumulation_np(x.dtype)
        data = input._device.backend.matmul(x.astype(f32), w.T.astype(f32))
        data += bias._data
        data = data.astype(x.dtype)
    else:
        data = input._device.backend.matmul(x, w.T)
        if bias is not None:
            data += bias._data
    out = Tensor._make(data, input._device)
    # record(), needs_grad() and node.save() inlined: every layer of every step runs this
    if _grad_state.enabled and (
        input._requires_grad or weight._requires_grad or (bias is not None and bias._requires_grad)
    ):
        node = AddmmBackward0()
        if bias is None:
            node.next_functions = collect_next_functions((input, weight))
            node.mb = None
        else:
            node.next_functions = collect_next_functions((input, weight, bias))
            node.mb = (bias._data.shape, bias._data.dtype)
        out._requires_grad, out._grad_fn = True, node
        sx = input if weight._requires_grad else None
        sw = weight if input._requires_grad else None
        if _active.saved_hooks or input._inference or weight._inference:
            node.save(sx, sw)  # saved-tensor hooks, or inference tensors (an error)
        else:
            node._saved = (
                None if sx is None else (sx, sx._vc[0]),
                None if sw is None else (sw, sw._vc[0]),
            )
    return out


def _sgn(x: Tensor) -> Tensor:
    # PyTorch's sign of NaN is 0 (its norm gradients rely on that)
    s = x.sign()
    return s.masked_fill(x.isnan(), 0) if D.is_floating(x._data.dtype) else s


class LinalgVectorNormBackward0(Node):
    """PyTorch's norm_backward: the subgradient 0 where the norm (or, for ord < 1, an
    element) is 0; the inf norms share the gradient among the tied maxima (and NaNs)."""

    def backward(self, grad):
        x, norm = self.saved_tensors
        p = self.ord
        if p == 0:
            return (None,)
        if x.dtype != self.acc:  # float16 computes in float32, as the forward did
            x, norm, grad = x.to(self.acc), norm.to(self.acc), grad.to(self.acc)
        if not self.keepdim:
            grad, norm = grad.reshape(self.kshape), norm.reshape(self.kshape)
        if p == 1:
            g = _sgn(x) * grad
        elif p == 2:
            g = grad * (x / norm).masked_fill(norm == 0, 0)
        elif p in (float("inf"), float("-inf")):
            a = x.abs()
            mask = (a == norm) | a.isnan()
            g = _sgn(x) * ((grad / mask.sum(self.dims, keepdim=True)) * mask)
        elif p < 1:
            g = _sgn(x) * x.abs().pow(p - 1).masked_fill(x == 0, 0) * grad * norm.pow(1 - p)
        else:
            scale = (grad / norm.pow(p - 1)).masked_fill(norm == 0, 0)
            g = (_sgn(x) * x.abs().pow(p - 1) if p < 2 else x * x.abs().pow(p - 2)) * scale
        return (grad_for(g, self.m),)


def _norm_dims(dim, ndim: int) -> tuple:
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    seen = set()
    for d in dims:
        w = wrap_dim(d, ndim)
        if w in seen:
            raise RuntimeError(f"dim {w} appears multiple times in the list of dims")
        seen.add(w)
    return tuple(sorted(seen))


def vector_norm(x: Tensor, ord=2, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """The ``ord``-norm of ``x`` as a vector over ``dim`` (every element when None or ``()``).

    float16 accumulates in float32, as PyTorch's. ``dtype`` converts ``x`` first (it may
    only widen)."""
    if isinstance(ord, str) or not isinstance(ord, (int, float)):
        raise TypeError(
            f"linalg_vector_norm(): argument 'ord' must be Number, not {type(ord).__name__}"
        )
    if not isinstance(x, Tensor):
        raise TypeError(
            f"linalg_vector_norm(): argument 'input' must be Tensor, not {type(x).__name__}"
        )
    if not D.is_floating(x._data.dtype):
        raise RuntimeError(
            "linalg.vector_norm: Expected a floating point or complex tensor as input. "
            f"Got {D.scalar_type_name(x._data.dtype)}"
        )
    if dtype is not None:
        if D.promote_types(x.dtype, dtype) != dtype:
            raise RuntimeError(
                "linalg.vector_norm: the dtype of the input "
                f"({D.scalar_type_name(x._data.dtype)}) should be convertible without "
                f"narrowing to the specified dtype ({D.scalar_type_name(dtype.np)})"
            )
        x = x.to(dtype)
    d = x._data
    dims = _norm_dims(dim, d.ndim)
    p = float(ord)
    if d.size == 0 and (p < 0 or p == float("inf")):
        if dim is None:
            raise RuntimeError(
                f"linalg.vector_norm cannot compute the {p:g} norm on an empty tensor "
                "because the operation does not have an identity"
            )
        for k in dims:
            if d.shape[k] == 0:  # PyTorch's text, its missing space included
                raise RuntimeError(
                    f"linalg.vector_norm cannot compute the {p:g} norm on the dimension {k}"
                    "because this dimension is empty and the operation does not have an identity"
                )
    # the backend's kernel: one pass on either device where an engine serves it (0 ** negative
    # p is inf there, as torch's, silently)
    r = x._device.backend.vector_norm(d, p, dims if d.ndim else None, keepdim)
    out = Tensor._make(r, x._device)
    if needs_grad(x):
        node = record(LinalgVectorNormBackward0(), (x,), out)
        node.save(x, out)
        node.ord, node.dims, node.keepdim, node.m = p, dims, keepdim, meta(x)
        node.acc = D._BY_NP[D.accumulation_np(d.dtype)]
        node.kshape = tuple(1 if i in dims else s for i, s in enumerate(d.shape))
    return out


_MATRIX_ORDS = ("fro", "nuc", 1, -1, 2, -2, float("inf"), float("-inf"))


def matrix_norm(A: Tensor, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None):
    """The ``ord`` matrix norm over the two dims ``dim``: Frobenius ('fro'), nuclear ('nuc':
    the sum of the singular values), spectral (2 / -2: the largest / smallest singular
    value), or the max / min absolute column (1, -1) or row (inf, -inf) sum."""
    if A._data.ndim < 2:
        raise RuntimeError(
            "linalg.matrix_norm: The input tensor A must have at least 2 dimensions."
        )
    if ord not in _MATRIX_ORDS:
        if isinstance(ord, str):
            raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
        raise RuntimeError(f"linalg.matrix_norm: Order {ord:g} not supported.")
    x = A if dtype is None else A.to(dtype)
    d0, d1 = (wrap_dim(d, x._data.ndim) for d in dim)
    if d0 == d1:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({d0}, {d1})")
    if ord == "fro":
        return vector_norm(x, 2, (d0, d1), keepdim)
    if ord in ("nuc", 2, -2):
        from .decomposition import svdvals

        # the two dims last, then the singular values reduced as PyTorch does (sum/amax/amin)
        s = svdvals(x.movedim((d0, d1), (-2, -1)))
        red = s.sum if ord == "nuc" else s.amax if ord == 2 else s.amin
        if not keepdim:
            return red(-1)
        return red(-1, keepdim=True).unsqueeze(-1).movedim((-2, -1), (d0, d1))
    # 1/-1: sums down the columns (over d0), then max/min across d1; inf/-inf: the rows
    summed, across = (d0, d1) if ord in (1, -1) else (d1, d0)
    s = x.abs().sum(summed, keepdim=keepdim)
    if not keepdim and across > summed:
        across -= 1  # the summed dim is gone
    return s.amax(across, keepdim=keepdim) if ord > 0 else s.amin(across, keepdim=keepdim)


def linalg_norm(A: Tensor, ord=None, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """``vector_norm`` or ``matrix_norm`` by ``dim`` (an int or a pair), as torch.linalg.norm;
    with neither ``ord`` nor ``dim``, the 2-norm of all elements."""
    if isinstance(dim, int):
        dim = (dim,)
    matrix = len(dim) == 2 if dim is not None else ord is not None and A.ndim == 2
    if matrix:
        return matrix_norm(A, "fro" if ord is None else ord, dim or (-2, -1), keepdim, dtype=dtype)
    if dim is None and ord is not None and A.ndim != 1:
        raise RuntimeError(
            f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. "
            f"Got {A.ndim}D."
        )
    return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)


def _square(A: Tensor, op: str) -> None:
    s = A._data.shape
    if len(s) < 2:
        raise RuntimeError(f"linalg.{op}: The input tensor A must have at least 2 dimensions.")
    if s[-1] != s[-2]:
        raise RuntimeError(
            f"linalg.{op}: A must be batches of square matrices, but they are {s[-2]} by "
            f"{s[-1]} matrices"
        )
    if not D.is_floating(A._data.dtype):
        raise RuntimeError(
            f"linalg.{op}: Expected a floating point or complex tensor as input. "
            f"Got {D.scalar_type_name(A._data.dtype)}"
        )


class LinalgInvExBackward0(Node):
    def backward(self, grad):
        (inv_a,) = self.saved_tensors
        return (-(inv_a.mT @ grad @ inv_a.mT),)


def inv(A: Tensor) -> Tensor:
    """The inverse of each square matrix in ``A``; singular ones raise."""
    _square(A, "inv")
    xp = A._device.backend.xp
    try:
        data = xp.linalg.inv(A._data)
    except Exception:  # NumPy's LinAlgError (CuPy returns inf/nan instead)
        raise RuntimeError(
            "linalg.inv: The input matrix is singular, the inversion could not be completed."
        ) from None
    out = Tensor._make(data, A._device)
    if needs_grad(A):
        record(LinalgInvExBackward0(), (A,), out).save(out)
    return out


class LinalgDetBackward0(Node):
    def backward(self, grad):
        A, d = self.saved_tensors
        # d det / dA = det(A) * A^-T (A invertible; a singular A gives inf/nan here)
        return ((grad * d).unsqueeze(-1).unsqueeze(-1) * inv(A).mT,)


def det(A: Tensor) -> Tensor:
    """The determinant of each square matrix in ``A``."""
    _square(A, "det")
    out = Tensor._make(A._device.backend.xp.linalg.det(A._data), A._device)
    if needs_grad(A):
        record(LinalgDetBackward0(), (A,), out).save(A, out)
    return out


class LinalgSolveExBackward0(Node):
    def backward(self, grad):
        A, X = self.saved_tensors
        # X = A^-1 B: dB = A^-T dX, dA = -dB X^T (Tensor ops: differentiable again)
        gb = solve(A.mT, grad)
        if self.vector:
            ga = -(gb.unsqueeze(-1) * X.unsqueeze(-2))
        else:
            ga = -(gb @ X.mT)
        return (grad_for(ga, self.ma), grad_for(gb, self.mb))


def solve(A: Tensor, B: Tensor, *, left: bool = True) -> Tensor:
    """The solution X of ``A X = B`` for square ``A`` (batched, broadcasting). ``B`` is a
    (batch of) vector(s) when it is 1-D or has ``A``'s shape without the last dim, as in
    PyTorch; ``left=False`` solves ``X A = B``."""
    _square(A, "solve")
    check_device(A, B, "linalg.solve")
    a, b = A._data, B._data
    if a.dtype != b.dtype:
        raise RuntimeError(
            "linalg.solve: Expected A and B to have the same dtype, but found A of type "
            f"{D.scalar_type_name(a.dtype)} and B of type "
            f"{D.scalar_type_name(b.dtype)} instead"
        )
    vector = b.ndim == 1 or (b.ndim == a.ndim - 1 and b.shape == a.shape[:-1])
    bm = b[..., None] if vector else b
    if bm.ndim < 2:
        raise RuntimeError("linalg.solve: The input tensor B must have at least 2 dimensions.")
    k = -2 if left else -1
    if bm.shape[k] != a.shape[k]:
        raise RuntimeError(
            "linalg.solve: Incompatible shapes of A and B for the equation "
            f"{'AX = B' if left else 'XA = B'} "
            f"({a.shape[-2]}x{a.shape[-1]} and {bm.shape[-2]}x{bm.shape[-1]})"
        )
    if not left:
        if vector:
            raise RuntimeError(
                "linalg.solve: Vector broadcasting of the left hand side is not supported for "
                "left=False. In this case linalg.solve is equivalent to B / A.squeeze(-1)"
            )
        return solve(A.mT, B.mT).mT
    xp = A._device.backend.xp
    try:
        batch = broadcast_shapes(a.shape[:-2], bm.shape[:-2])
    except RuntimeError:
        raise broadcast_error(bm[..., 0, 0], a[..., 0, 0]) from None
    try:
        data = xp.linalg.solve(
            xp.broadcast_to(a, batch + a.shape[-2:]), xp.broadcast_to(bm, batch + bm.shape[-2:])
        )
    except Exception:  # NumPy's LinAlgError (CuPy returns inf/nan instead)
        raise RuntimeError(
            "torch.linalg.solve: The solver failed because the input matrix is singular."
        ) from None
    out = Tensor._make(data[..., 0] if vector else data, A._device)
    if needs_grad(A, B):
        node = record(LinalgSolveExBackward0(), (A, B), out)
        node.save(A, out)
        node.vector, node.ma, node.mb = vector, meta(A), meta(B)
    return out


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None):
    """y_k = x1^T W_k x2 + b_k."""
    ts = (input1, input2, weight) + ((bias,) if bias is not None else ())
    if len({t.dtype for t in ts}) > 1 and not _active.autocast:  # NumPy would promote
        names = ("input1", "input2", "weight", "bias")
        got = ", ".join(f"{n}: {cpp_type_name(t.dtype)}" for n, t in zip(names, ts))
        raise RuntimeError(f"All tensors must have the same dtype, got {got}")
    if input1.ndim != input2.ndim:  # broadcasting would hide it
        raise RuntimeError(
            f"bilinear(): input dimensions do not match: got {input1.ndim} and {input2.ndim}"
        )
    _bilinear_sizes(input1, input2, weight, bias)
    # (..., 1, 1, I1) @ (O, I1, I2) -> (..., O, 1, I2); then dot with x2
    t = input1.unsqueeze(-2).unsqueeze(-2) @ weight
    y = (t.squeeze(-2) * input2.unsqueeze(-2)).sum(-1)
    return y + bias if bias is not None else y


def _size(t: Tensor, d: int) -> int:
    """``t.size(d)`` with PyTorch's IndexError (a 0-d tensor has no dims to size)."""
    return t._data.shape[wrap_dim(d, t._data.ndim, wrap_scalar=False)]


def _bilinear_sizes(input1: Tensor, input2: Tensor, weight: Tensor, bias) -> None:
    """PyTorch's bilinear checks in its order (broadcasting would hide a mismatch)."""
    n = input1._data.ndim
    for i in range(n - 1):
        if _size(input1, i) != _size(input2, i):
            raise RuntimeError(
                "bilinear(): input batch dimensions do not match: got "
                f"{_size(input1, i)} and {_size(input2, i)}"
            )
    for t, k, name in ((input1, 1, "input1"), (input2, 2, "input2")):
        got, want = _size(t, t._data.ndim - 1), _size(weight, k)
        if got != want:
            raise RuntimeError(
                f"bilinear(): {name} size does not match weight size: got {got} but expected {want}"
            )
    if bias is not None and _size(bias, 0) != _size(weight, 0):
        raise RuntimeError(
            "bilinear(): bias size does not match weight size: got "
            f"{_size(bias, 0)} but expected {_size(weight, 0)}"
        )
    if weight._data.ndim != 3:
        raise RuntimeError("number of dimensions must match")
