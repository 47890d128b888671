"""Sparse COO tensors, as graph networks use them: build, convert, coalesce, multiply, sum.

A sparse tensor is a ``Tensor`` whose ``_sparse`` holds its ``indices`` (int64, sparse_dim x
nnz) and ``values`` (nnz x dense dims) tensors; its ``_data`` is a ``SparseMeta`` (shape and
dtype, no array), so that a dense-only op reaching it fails with PyTorch's "Could not run
'aten::...' with arguments from the 'SparseCPU' backend" instead of computing nonsense.

Gradients go to the values tensor (and to the dense operand): the ops here record edges to
``values`` itself, so a sparse adjacency built from learned edge weights trains them, and a
constant one costs nothing. Products run on the backend's sparse library (scipy.sparse on the
CPU, cupyx.scipy.sparse on CUDA) through ``coo_matmul``.
"""

from __future__ import annotations

from .. import _dtype as D
from .._device import device as Device
from .._dtype import get_default_dtype, int64, scalar_type_name
from .._tensor import Tensor, sparse_coo, strided
from ..autograd.graph import Node
from ._util import check_device, needs_grad, record, wrap_dim, wrap_dims

_NOT_RUN = (
    "Could not run 'aten::{op}' with arguments from the '{key}' backend. This could be because "
    "the operator doesn't exist for this backend, or was omitted during the selective/custom "
    "build process (if using custom build)."
)


_REDUCTIONS = {"add": "sum", "multiply": "prod", "maximum": "amax", "minimum": "amin"}
# NumPy's ufunc names that differ from PyTorch's op names (the error names the aten op)
_ATEN_NAMES = {
    "negative": "neg",
    "absolute": "abs",
    "multiply": "mul",
    "subtract": "sub",
    "divide": "div",
    "true_divide": "div",
    "power": "pow",
    "arcsin": "asin",
    "arccos": "acos",
    "arctan": "atan",
    "arcsinh": "asinh",
    "arccosh": "acosh",
    "arctanh": "atanh",
    "arctan2": "atan2",
}


class SparseMeta:
    """A sparse tensor's ``_data``: its shape and dtype; any array operation raises."""

    __slots__ = ("shape", "dtype", "key")

    def __init__(self, shape: tuple, dtype, key: str) -> None:
        self.shape, self.dtype, self.key = shape, dtype, key  # key: 'SparseCPU', 'SparseCUDA'

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    def error(self, op: str) -> NotImplementedError:
        return NotImplementedError(_NOT_RUN.format(op=op, key=self.key))

    # NumPy hands ufuncs and array functions to these before touching the object
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        name = ufunc.__name__
        if method == "reduce":
            raise self.error(_REDUCTIONS.get(name, name))
        raise self.error(_ATEN_NAMES.get(name, name))

    def __array_function__(self, func, types, args, kwargs):
        raise self.error(func.__name__)

    def __getattr__(self, name: str):  # reshape, astype, sum, copy ... of the array
        raise self.error(name)

    def __getitem__(self, key):
        raise self.error("index")


def _binary_error(name: str):
    def method(self, *args):
        raise self.error(name)

    return method


for _op in "add sub mul truediv floordiv mod pow matmul and or xor lshift rshift".split():
    for _dunder in (f"__{_op}__", f"__r{_op}__"):
        setattr(SparseMeta, _dunder, _binary_error(_op))
for _op in ("neg", "abs", "invert", "lt", "le", "gt", "ge"):
    setattr(SparseMeta, f"__{_op}__", _binary_error(_op))


class SparseCoo:
    """What a sparse tensor holds: indices, values, and whether they are coalesced."""

    __slots__ = ("indices", "values", "coalesced")

    def __init__(self, indices: Tensor, values: Tensor, coalesced: bool) -> None:
        self.indices, self.values, self.coalesced = indices, values, coalesced

    def leaf_grad(self, t: Tensor) -> Tensor | None:
        """A sparse leaf's ``.grad``: the gradient at each of its positions, coalesced as
        PyTorch gives it (each copy of a repeated index got the position's whole gradient)."""
        g = self.values._grad
        if g is None:
            return None
        shape = tuple(t.shape)
        if self.coalesced:
            return _make(self.indices, g, shape, True)
        new_idx, inverse, count = _unique_positions(self.indices, shape)
        data = t._device.backend.xp.zeros((count,) + g._data.shape[1:], g._data.dtype)
        data[inverse] = g._data  # repeated positions write the same value
        return _make(Tensor._make(new_idx, t._device), Tensor._make(data, t._device), shape, True)

    def set_requires_grad(self, flag: bool) -> None:
        self.values.requires_grad_(flag)

    @staticmethod
    def sum_grads(old: Tensor | None, grad: Tensor) -> Tensor:
        """Accumulated gradients where one is sparse, as PyTorch sums them: a first sparse
        gradient kept (detached), sparse + sparse concatenated (uncoalesced), dense + sparse
        dense (the values added at their indices)."""
        if old is None:
            if grad._sparse is None:
                return grad.detach().clone()
            p = grad._sparse
            return _make(p.indices.detach(), p.values.detach().clone(), tuple(grad.shape),
                         p.coalesced)  # fmt: skip
        if old._sparse is not None and grad._sparse is not None:
            a, b = old._sparse, grad._sparse
            xp = old._device.backend.xp
            idx = xp.concatenate([a.indices._data, b.indices._data], axis=1)
            vals = xp.concatenate([a.values._data, b.values._data])
            dev = old._device
            return _make(Tensor._make(idx, dev), Tensor._make(vals, dev), tuple(old.shape), False)
        dense, sp = (old, grad) if grad._sparse is not None else (grad, old)
        out = dense._data.copy()
        p = sp._sparse
        key = tuple(p.indices._data[d] for d in range(p.indices.shape[0]))
        dense._device.backend.scatter_add(out, key, p.values._data)
        return Tensor._make(out, dense._device)


# ---- construction -----------------------------------------------------------------------
class SparseCooTensorWithDimsAndTensorsBackward0(Node):
    """A sparse tensor made from values with history; a dense gradient of the whole tensor
    reaches the values at their indices (ops here usually edge to the values directly)."""

    def backward(self, grad):
        if grad._sparse is not None:
            grad = grad.to_dense()
        return (grad[self.key],)


class ToSparseBackward1(SparseCooTensorWithDimsAndTensorsBackward0):
    pass


def _make(indices: Tensor, values: Tensor, shape: tuple, coalesced: bool, node=None) -> Tensor:
    key = "SparseCUDA" if values._device.type == "cuda" else "SparseCPU"
    t = Tensor._make(SparseMeta(tuple(shape), values._data.dtype, key), values._device)
    t._sparse = SparseCoo(indices, values, coalesced)
    if values._requires_grad:
        t._requires_grad = True
        if values._grad_fn is not None:
            node = record((node or SparseCooTensorWithDimsAndTensorsBackward0)(), (values,), t)
            node.key = _index_key(indices)
    return t


def _index_key(indices: Tensor) -> tuple:
    return tuple(indices[d] for d in range(indices.shape[0]))


def _as_tensor(x, dtype=None, device=None) -> Tensor:
    """A tensor of ``x`` (a tensor, or nested lists / host arrays: Python floats take the
    default dtype, as ``gpugrad.tensor`` gives them)."""
    if isinstance(x, Tensor):
        return x if dtype is None else x.to(dtype)
    dev = _device(device if device is not None else "cpu")
    arr = dev.backend.asarray(x, dtype=None if dtype is None else dtype.np)
    if dtype is None and D.is_floating(arr.dtype) and not hasattr(x, "dtype"):
        arr = arr.astype(get_default_dtype().np)
    return Tensor._make(arr, dev)


def sparse_coo_tensor(
    indices,
    values,
    size=None,
    *,
    dtype=None,
    device=None,
    requires_grad: bool = False,
    check_invariants: bool | None = None,
    is_coalesced: bool | None = None,
) -> Tensor:
    """A sparse COO tensor with ``values`` at ``indices`` (sparse_dim x nnz); repeated
    indices add up (the tensor is uncoalesced until ``coalesce()``)."""
    for name, arg in (("indices", indices), ("values", values)):
        if arg is None:  # NumPy would make an object array of it
            raise TypeError(f"sparse_coo_tensor(): argument '{name}' must be Tensor, not NoneType")
    values = _as_tensor(values, dtype, device)
    if device is not None and values.device != _device(device):
        values = values.to(device)
    indices = _as_tensor(indices, device=values._device)
    check_device(indices, values, "sparse_coo_tensor")
    if indices.dtype is not int64:
        indices = indices.to(int64)
    if indices.ndim != 2:
        raise RuntimeError(f"indices must be sparse_dim x nnz, but got: {list(indices.shape)}")
    sparse_dim, nnz = indices.shape
    if values.ndim == 0 or values.shape[0] != nnz:
        raise RuntimeError(
            f"indices and values must have same nnz, but got nnz from indices: {nnz}, nnz "
            f"from values: {values.shape[0] if values.ndim else 1}"
        )
    xp = indices._device.backend.xp
    idx = indices._data
    if size is None:
        top = idx.max(axis=1) + 1 if nnz else xp.zeros(sparse_dim, "int64")
        size = tuple(int(s) for s in top.tolist()) + tuple(values.shape[1:])
    size = tuple(int(s) for s in size)
    dense_dim = values.ndim - 1
    if len(size) != sparse_dim + dense_dim:
        raise RuntimeError(
            "'len(size) == sparse_dim + dense_dim' is not satisfied: len(size) = "
            f"{len(size)}, sparse_dim = {sparse_dim}, dense_dim = {dense_dim}"
        )
    if tuple(values.shape[1:]) != size[sparse_dim:]:
        raise RuntimeError(
            f"values has incorrect size, expected {[nnz, *size[sparse_dim:]]}, got "
            f"{list(values.shape)}"
        )
    if nnz:  # always checked: an index out of range would otherwise fail far from here
        low = [int(v) for v in idx.min(axis=1).tolist()]
        high = [int(v) for v in idx.max(axis=1).tolist()]
        for d in range(sparse_dim):
            if low[d] < 0:
                raise RuntimeError(f"found negative index {low[d]} for dim {d}")
            if high[d] >= size[d]:
                raise RuntimeError(
                    f"size is inconsistent with indices: for dim {d}, size is {size[d]} but "
                    f"found index {high[d]}"
                )
    if requires_grad:
        values = values.detach().requires_grad_()
    return _make(indices, values, size, bool(is_coalesced) or nnz <= 1)


def _device(dev):
    return dev if isinstance(dev, Device) else Device(dev)


def to_sparse(input: Tensor, sparse_dim: int | None = None, *, layout=None) -> Tensor:
    """The COO tensor of ``input``'s nonzero entries (coalesced); differentiable."""
    if layout is not None and layout is not sparse_coo:
        raise RuntimeError(f"to_sparse: layout {layout} is not supported; gpugrad has COO only")
    if input._sparse is not None:
        return input
    nd = input.ndim
    sd = nd if sparse_dim is None else sparse_dim
    if not 0 <= sd <= nd:
        raise RuntimeError(
            f"dense_to_sparse: sparse_dim argument must be in [0,{nd}] range, but {sd} is given"
        )
    if sd == 0 and nd:  # (a 0-d tensor is one entry with no sparse dims, as in PyTorch)
        raise NotImplementedError("to_sparse(sparse_dim=0) of a non-scalar tensor in gpugrad")
    xp = input._device.backend.xp
    data = input._data
    nonzero = data != 0
    if sd < nd:  # a hybrid tensor: a row of dense values is kept where any of it is nonzero
        nonzero = nonzero.any(axis=tuple(range(sd, nd)))
    if nd:
        idx = xp.stack(xp.nonzero(nonzero))
        values = input[_index_key(Tensor._make(idx.astype("int64"), input._device))]
    else:  # PyTorch keeps a 0-d tensor's value as one entry only where it is nonzero
        keep = input._data.reshape(1) != 0
        idx = xp.zeros((0, int(keep.sum())), "int64")  # (to_sparse reads the data anyway)
        values = input.reshape(1)[Tensor._make(keep, input._device)]
    indices = Tensor._make(idx.astype("int64"), input._device)
    return _make(indices, values, tuple(input.shape), True, ToSparseBackward1)


# ---- reading ----------------------------------------------------------------------------
def _parts(t: Tensor, op: str) -> SparseCoo:
    if t._sparse is None:
        raise RuntimeError(f"{op} expected sparse coordinate tensor layout but got Strided")
    return t._sparse


def indices(t: Tensor) -> Tensor:
    p = _parts(t, "indices")
    if not p.coalesced:
        raise RuntimeError(
            "Cannot get indices on an uncoalesced tensor, please call .coalesce() first"
        )
    return p.indices


def values(t: Tensor) -> Tensor:
    p = _parts(t, "values")
    if not p.coalesced:
        raise RuntimeError(
            "Cannot get values on an uncoalesced tensor, please call .coalesce() first"
        )
    return p.values


def raw_indices(t: Tensor) -> Tensor:
    return _parts(t, "_indices").indices


def raw_values(t: Tensor) -> Tensor:
    return _parts(t, "_values").values


def nnz(t: Tensor) -> int:
    return int(_parts(t, "_nnz").indices.shape[1])


def sparse_dim(t: Tensor) -> int:
    return int(t._sparse.indices.shape[0]) if t._sparse is not None else 0


def dense_dim(t: Tensor) -> int:
    return t._sparse.values.ndim - 1 if t._sparse is not None else 0


def is_coalesced(t: Tensor) -> bool:
    return _parts(t, "is_coalesced").coalesced


def layout(t: Tensor):
    return strided if t._sparse is None else sparse_coo


# ---- coalesce / to_dense -------------------------------------------------------------
def _unique_positions(indices: Tensor, shape: tuple):
    """(sorted unique index columns, each column's place among them, their count)."""
    xp = indices._device.backend.xp
    idx = indices._data
    sd = idx.shape[0]
    strides = [1] * sd
    for d in range(sd - 2, -1, -1):
        strides[d] = strides[d + 1] * shape[d + 1]
    linear = xp.zeros(idx.shape[1], "int64")
    for d in range(sd):
        linear += idx[d] * strides[d]  # row-major position: its order is the sorted order
    unique, inverse = xp.unique(linear, return_inverse=True)
    new_idx = xp.stack([(unique // strides[d]) % shape[d] for d in range(sd)]).astype("int64")
    return new_idx, inverse.reshape(-1), int(unique.shape[0])


class CoalesceBackward0(Node):
    def backward(self, grad):
        return (grad[self.inverse],)


def coalesce(t: Tensor) -> Tensor:
    """Sorted, unique indices with the values of repeated ones added (differentiable)."""
    p = _parts(t, "coalesce")
    if p.coalesced:
        return t
    backend = t._device.backend
    shape = tuple(t.shape)
    new_idx, inverse, count = _unique_positions(p.indices, shape)
    vals = p.values._data
    summed = backend.xp.zeros((count,) + vals.shape[1:], vals.dtype)
    backend.scatter_add(summed, inverse, vals)
    new_values = Tensor._make(summed, t._device)
    if needs_grad(p.values):
        record(CoalesceBackward0(), (p.values,), new_values).inverse = Tensor._make(
            inverse, t._device
        )
    return _make(Tensor._make(new_idx, t._device), new_values, shape, True)


class ToDenseBackward0(Node):
    def backward(self, grad):
        if not self.key:  # no sparse dims: every value landed on the whole tensor
            return (grad.unsqueeze(0).expand((self.nnz,) + tuple(grad.shape)),)
        return (grad[self.key],)


def to_dense(t: Tensor, dtype=None, *, masked_grad=None) -> Tensor:
    """The dense tensor of a sparse one (repeated indices add); a dense one is returned."""
    if t._sparse is None:
        return t if dtype is None else t.to(dtype)
    p = t._sparse
    backend = t._device.backend
    vals = p.values._data
    out = backend.xp.zeros(tuple(t.shape), vals.dtype)
    key = tuple(p.indices._data[d] for d in range(p.indices.shape[0]))
    if key:
        backend.scatter_add(out, key, vals)
    else:  # no sparse dims (a 0-d tensor's): the values add up into the whole tensor
        out += vals.sum(0)
    dense = Tensor._make(out, t._device)
    if needs_grad(p.values):
        node = record(ToDenseBackward0(), (p.values,), dense)
        node.key, node.nnz = _index_key(p.indices), vals.shape[0]
    return dense if dtype is None else dense.to(dtype)


# ---- products -----------------------------------------------------------------------
class SparseAddmmBackward0(Node):
    """out = S @ D with S = (rows, cols, values): dD = S^T @ dout, dvalues[k] = dout[rows[k]]
    . D[cols[k]]; both written with gpugrad ops, so they are differentiable in turn."""

    def backward(self, grad):
        (dense,) = self.saved_tensors  # saved only when the values need a gradient
        idx, vals = self.indices, self.vals
        gv = gd = None
        if self.needs_input_grad(0):
            gv = (grad.index_select(0, idx[0]) * dense.index_select(0, idx[1])).sum(-1)
        if self.needs_input_grad(1):
            transposed = _make(idx.flip(0), vals, (self.shape[1], self.shape[0]), False)
            gd = _sparse_dense_mm(transposed, grad)
        return (gv, gd)


def _sparse_dense_mm(s: Tensor, dense: Tensor) -> Tensor:
    p = s._sparse
    vals = p.values
    check_device(vals, dense, "addmm")
    if vals._data.dtype != dense._data.dtype:
        raise RuntimeError(
            f"expected scalar type {scalar_type_name(vals.dtype)} but found "
            f"{scalar_type_name(dense.dtype)}"
        )
    shape = tuple(s.shape)
    if dense.ndim != 2 or dense.shape[0] != shape[1]:
        if dense.ndim != 2:
            raise RuntimeError(f"mat2 must be a matrix, got {dense.ndim}-D tensor")
        raise RuntimeError(
            f"addmm: Argument #3 (dense): Expected dim 0 size {shape[1]}, got {dense.shape[0]}"
        )
    backend = dense._device.backend
    idx, v, d = p.indices._data, vals._data, dense._data
    if D.is_reduced_float(v.dtype):  # no float16 sparse kernels: float32
        v, d = v.astype("float32"), d.astype("float32")
    data = backend.coo_matmul(idx[0], idx[1], v, shape, d)
    if data.dtype != vals._data.dtype:
        data = data.astype(vals._data.dtype)
    out = Tensor._make(data, dense._device)
    if needs_grad(vals, dense):
        node = record(SparseAddmmBackward0(), (vals, dense), out)
        node.save(dense if vals._requires_grad else None)  # a constant adjacency keeps none
        node.indices, node.vals, node.shape = p.indices, vals, shape
    return out


def sparse_mm(mat1: Tensor, mat2: Tensor) -> Tensor:
    """``mat1 @ mat2`` with a sparse COO ``mat1`` (2-D) and a dense ``mat2``: dense out."""
    if mat1._sparse is None and mat2._sparse is None:
        return mat1.mm(mat2)
    if mat2._sparse is not None:
        if mat1._sparse is not None:
            raise RuntimeError("sparse @ sparse is not supported by gpugrad (COO @ dense only)")
        return _dense_sparse_mm(mat1, mat2)
    if mat1.ndim != 2:
        raise RuntimeError(f"sparse.mm: mat1 must be a matrix, got {mat1.ndim}-D tensor")
    if dense_dim(mat1):
        raise RuntimeError(
            "sparse.mm: a hybrid sparse mat1 (values with dense dims) is not supported"
        )
    return _sparse_dense_mm(mat1, mat2)


def _dense_sparse_mm(dense: Tensor, s: Tensor) -> Tensor:
    """dense @ S = (S^T @ dense^T)^T."""
    if s.ndim != 2 or dense_dim(s):
        raise RuntimeError("mm: the sparse mat2 must be a 2-D COO matrix")
    p = s._sparse
    transposed = _make(p.indices.flip(0), p.values, (s.shape[1], s.shape[0]), False)
    return _sparse_dense_mm(transposed, dense.t()).t()


def spmm(input: Tensor, mat2: Tensor) -> Tensor:
    """``torch.spmm``: a sparse (or dense) matrix times a dense one."""
    return sparse_mm(input, mat2)


def sparse_matmul(input: Tensor, other: Tensor) -> Tensor:
    """``matmul`` where an operand is sparse: 2-D @ 2-D, or a sparse matrix @ a vector."""
    if input._sparse is not None and other._sparse is None and other.ndim == 1:
        return sparse_mm(input, other.unsqueeze(1)).squeeze(1)
    if input.ndim != 2 or other.ndim != 2:
        raise RuntimeError(
            "matmul with a sparse operand supports 2-D matrices (and a sparse matrix times a "
            f"vector), got {input.ndim}-D and {other.ndim}-D"
        )
    return sparse_mm(input, other)


# ---- sums -------------------------------------------------------------------------------
def sparse_sum(input: Tensor, dim=None, dtype=None) -> Tensor:
    """``torch.sparse.sum``: all entries (a dense 0-d tensor), or over ``dim``: sparse while
    sparse dims remain, dense once all of them are summed."""
    p = _parts(input, "coalesce")
    if dim is None:
        out = p.values.sum()
        return out if dtype is None else out.to(dtype)
    dims = wrap_dims(dim, input.ndim)
    sd = p.indices.shape[0]
    dense_dims = [d - sd + 1 for d in dims if d >= sd]
    vals = p.values.sum(tuple(dense_dims)) if dense_dims else p.values
    keep = [d for d in range(sd) if d not in dims]
    shape = [input.shape[d] for d in keep] + [
        s for d, s in enumerate(input.shape) if d >= sd and d not in dims
    ]
    if dtype is not None:
        vals = vals.to(dtype)
    if not keep:
        return vals.sum(0)
    kept = p.indices.index_select(0, Tensor._make(_arange(input, keep), input._device))
    return coalesce(_make(kept, vals, tuple(shape), False))


def _arange(t: Tensor, items: list):
    return t._device.backend.asarray(items, dtype="int64")


# ---- small methods PyTorch has on sparse tensors ------------------------------------------
def detach(t: Tensor) -> Tensor:
    p = t._sparse
    return _make(p.indices, p.values.detach(), tuple(t.shape), p.coalesced)


def clone(t: Tensor) -> Tensor:
    p = t._sparse
    return _make(p.indices.clone(), p.values.clone(), tuple(t.shape), p.coalesced)


def transpose(t: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two sparse dims (the indices' rows): no data moves."""
    p = t._sparse
    sd = p.indices.shape[0]
    d0, d1 = wrap_dim(dim0, t.ndim), wrap_dim(dim1, t.ndim)
    if d0 >= sd or d1 >= sd:
        raise RuntimeError("transpose of a hybrid sparse tensor's dense dims is not supported")
    order = list(range(sd))
    order[d0], order[d1] = order[d1], order[d0]
    shape = list(t.shape)
    shape[d0], shape[d1] = shape[d1], shape[d0]
    idx = p.indices.index_select(0, Tensor._make(_arange(t, order), t._device))
    return _make(idx, p.values, tuple(shape), False)


def converted(t: Tensor, convert, *args, **kwargs) -> Tensor:
    """A dtype/device conversion (``to``, ``cuda``, ``double`` ...) of a sparse tensor: the
    dense conversion ``convert`` applied to its values, the indices following their device."""
    p = t._sparse
    vals = convert(p.values, *args, **kwargs)
    if vals is p.values:
        return t
    idx = p.indices if p.indices._device is vals._device else p.indices.to(vals._device)
    return _make(idx, vals, tuple(t.shape), p.coalesced)
