"""Tensor: an array on a device (NumPy on cpu, CuPy on cuda) plus its autograd record."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from . import _dtype as D
from . import _warn
from ._device import device as Device
from .autograd import backward as _autograd_backward
from .autograd import graph as _graph
from .autograd.engine import backward_scalar as _backward_scalar
from .autograd.grad_mode import active as _active
from .autograd.grad_mode import state as _grad_state
from .autograd.graph import AccumulateGrad, _add_hook
from .backend.numpy_backend import SCALAR_TYPES, as_array

_new = object.__new__
_weakref = weakref.ref


class Size(tuple):
    """A tensor's shape: a tuple that prints like PyTorch's ``torch.Size``."""

    def __repr__(self) -> str:
        return f"{D.PRINTED_MODULE}.Size([{', '.join(str(s) for s in self)}])"

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n


class layout:
    """How a tensor's elements are stored: ``gpugrad.strided`` (dense) or ``sparse_coo``."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return f"{D.PRINTED_MODULE}.{self._name}"

    def __reduce__(self):
        return self._name  # the module-level singleton, as pickle finds it


strided = layout("strided")
sparse_coo = layout("sparse_coo")


class memory_format:
    """The element order asked of a new tensor (``contiguous_format``, ``preserve_format``,
    ``channels_last`` ...). gpugrad's dense tensors are made row-major whichever is asked: the
    values are the same, only PyTorch's strides would differ."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return f"{D.PRINTED_MODULE}.{self._name}"

    def __reduce__(self):
        return self._name


contiguous_format = memory_format("contiguous_format")
preserve_format = memory_format("preserve_format")
channels_last = memory_format("channels_last")
channels_last_3d = memory_format("channels_last_3d")


class Tensor:
    """A multi-dimensional array that can record the operations applied to it.

    Create tensors with ``gpugrad.tensor``, ``zeros``, ``randn`` ...; ops run on the backend
    of the device that holds them.
    """

    # Defaults live on the class so creating a tensor writes only what differs: the per-op
    # cost of Python objects is what small tensors pay for.
    _requires_grad = False
    _grad_fn = None
    _output_nr = 0
    _grad = None
    _base = None
    _acc = None
    _backward_hooks = None
    _post_acc_hooks = None
    _inference = False
    _vver = 0  # a view: the shared version when its grad_fn was last right (see refresh_view)
    _sparse = None  # a sparse COO tensor's indices and values (ops/sparse.py)

    # Let NumPy defer to Tensor's reflected operators (ndarray * tensor -> Tensor).
    __array_priority__ = 1000

    @classmethod
    def _make(cls, data, dev, base=None) -> Tensor:
        """Wrap an array; ``base`` is the tensor this one is a view of (shares versions)."""
        t = _new(cls)
        t._data = as_array(data) if type(data) in SCALAR_TYPES else data
        t._device = dev
        if base is None:
            t._vc = [0]
        else:
            t._vc = vc = base._vc
            t._base = base if base._base is None else base._base
            t._vver = vc[0]
        if _active.inference and _grad_state.inference:
            t._inference = True
        return t

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass  # done in __new__ (bound in _tensor_methods) and _make (every other tensor)

    # ---- autograd record -------------------------------------------------------------
    def _grad_edge(self) -> tuple:
        if self._base is not None and self._vver != self._vc[0]:
            _graph.refresh_view(self)
        gf = self._grad_fn
        return (gf, self._output_nr) if gf is not None else (self._grad_accumulator(), 0)

    def _grad_accumulator(self) -> AccumulateGrad:
        """The leaf's one AccumulateGrad node, cached through a weak reference."""
        ref = self._acc
        if ref is not None:
            node = ref()
            if node is not None:
                return node
        # a new node for each graph the leaf enters (the graph owns it, as in PyTorch);
        # built without a Python __init__: this runs for every parameter on every step
        node = _new(AccumulateGrad)
        node.variable = self
        self._acc = _weakref(node)
        return node

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        if flag and self._grad_fn is None and not D.is_floating(self._data.dtype):
            raise RuntimeError(
                "only Tensors of floating point and complex dtype can require gradients"
            )
        self.requires_grad_(flag)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set requires_grad on a leaf (floating-point dtypes only)."""
        if self._grad_fn is not None:
            if not requires_grad:
                raise RuntimeError(
                    "you can only change requires_grad flags of leaf variables. If you want "
                    "to use a computed variable in a subgraph that doesn't require "
                    "differentiation use var_no_grad = var.detach()."
                )
            return self
        if requires_grad and not self.dtype.is_floating_point:
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        self._requires_grad = bool(requires_grad)
        if self._sparse is not None:
            self._sparse.set_requires_grad(bool(requires_grad))
        return self

    @property
    def grad_fn(self):
        if self._base is not None and self._vver != self._vc[0]:
            _graph.refresh_view(self)
        return self._grad_fn

    @property
    def is_leaf(self) -> bool:
        return self._grad_fn is None

    @property
    def grad(self) -> Tensor | None:
        if self._sparse is not None:  # a sparse leaf's gradient lives on its values
            return self._sparse.leaf_grad(self)
        if self._grad_fn is not None and not self.retains_grad and self._grad is None:
            _warn.warn(
                "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. "
                "Its .grad attribute won't be populated during autograd.backward(). If you "
                "indeed want the .grad field to be populated for a non-leaf Tensor, use "
                ".retain_grad() on the non-leaf Tensor. If you access the non-leaf Tensor by "
                "mistake, make sure you access the leaf Tensor instead. See "
                "github.com/pytorch/pytorch/pull/30531 for more information.",
                UserWarning,
            )
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(
                    f"assigned grad expected to be a Tensor or None but got grad of type "
                    f"{type(value).__name__}"
                )
            if value._device != self._device:
                raise RuntimeError(
                    f"assigned grad has data located on a different device ({value._device}) "
                    f"than the tensor ({self._device})"
                )
            if value.dtype != self.dtype:
                raise RuntimeError(
                    f"assigned grad has data of a different type ({value.dtype}) than the "
                    f"tensor ({self.dtype})"
                )
            if value._data.shape != self._data.shape:
                raise RuntimeError(
                    f"assigned grad has data of a different size ({list(value.shape)}) than the "
                    f"tensor ({list(self.shape)})"
                )
        self._grad = value

    @property
    def retains_grad(self) -> bool:
        gf = self._grad_fn
        hooks = gf._retain_grad_hooks if gf is not None else None
        return bool(hooks) and self._output_nr in hooks and hooks[self._output_nr]() is self

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in ``.grad`` after backward."""
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        gf = self._grad_fn
        if gf is None:
            return
        if gf._retain_grad_hooks is None:
            gf._retain_grad_hooks = {}
        gf._hooked = True
        gf._retain_grad_hooks[self._output_nr] = weakref.ref(self)

    def register_hook(self, hook: Callable) -> Any:
        """hook(grad) runs when this tensor's gradient is computed; may return a new one."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._grad_fn is not None:
            return self._grad_fn._register_tensor_hook(self._output_nr, hook)
        self._backward_hooks, h = _add_hook(self._backward_hooks, hook)
        return h

    def register_post_accumulate_grad_hook(self, hook: Callable) -> Any:
        """hook(tensor) runs after this leaf's ``.grad`` was updated."""
        if self._grad_fn is not None:
            raise RuntimeError(
                "post accumulate grad hooks cannot be registered on non-leaf tensors"
            )
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        self._post_acc_hooks, h = _add_hook(self._post_acc_hooks, hook)
        return h

    def backward(
        self,
        gradient: Tensor | None = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs=None,
    ) -> None:
        """Accumulate the gradient of this tensor into the ``.grad`` of graph leaves."""
        if gradient is None and retain_graph is None and not create_graph and inputs is None:
            _backward_scalar(self)  # loss.backward(): the training step's call
        else:
            _autograd_backward(self, gradient, retain_graph, create_graph, inputs=inputs)

    def is_inference(self) -> bool:
        """True for tensors created under inference_mode."""
        return self._inference

    @property
    def _version(self) -> int:
        return self._vc[0]

    def _bump_version(self) -> None:
        self._vc[0] += 1

    # ---- metadata ----------------------------------------------------------------
    @property
    def dtype(self) -> D.dtype:
        return D._BY_NP[self._data.dtype]

    @property
    def device(self) -> Device:
        return self._device

    @property
    def is_cuda(self) -> bool:
        return self._device.type == "cuda"

    @property
    def is_sparse(self) -> bool:
        return self._sparse is not None

    @property
    def is_sparse_csr(self) -> bool:
        return False  # gpugrad's only sparse layout is COO

    @property
    def layout(self) -> layout:
        return strided if self._sparse is None else sparse_coo

    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim: int | None = None):
        """The shape, or the length of one dimension."""
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_wrap_dim(dim, self._data.ndim)]

    def dim(self) -> int:
        return self._data.ndim

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def ndimension(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return int(self._data.size)

    nelement = numel

    def element_size(self) -> int:
        return self._data.itemsize

    @property
    def itemsize(self) -> int:
        """Bytes per element (``element_size()``)."""
        return self._data.itemsize

    @property
    def nbytes(self) -> int:
        """Bytes of the elements this view holds: ``numel() * element_size()``."""
        return int(self._data.size) * self._data.itemsize

    def stride(self, dim: int | None = None):
        d = self._data
        if d.size:
            st = tuple(s // d.itemsize for s in d.strides)
        else:  # NumPy gives an empty array zero strides; PyTorch the contiguous ones
            st, step = [], 1
            for n in reversed(d.shape):
                st.append(step)
                step *= max(n, 1)
            st = tuple(reversed(st))
        return st if dim is None else st[_wrap_dim(dim, d.ndim)]

    def is_contiguous(self, memory_format=None) -> bool:
        return bool(self._data.flags.c_contiguous)

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    def data_ptr(self) -> int:
        return _data_ptr(self._data)

    @property
    def data(self) -> Tensor:
        """The same memory without history. Unsafe: in-place changes are not version-tracked."""
        return Tensor._make(self._data, self._device)

    @data.setter
    def data(self, value: Tensor) -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"data must be a Tensor, not {type(value).__name__}")
        self._data, self._device = value._data, value._device

    # ---- conversion --------------------------------------------------------------
    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._data.size} elements cannot be converted to Scalar"
            )
        return self._device.backend.to_host(self._data).reshape(()).item()

    def tolist(self):
        return self._device.backend.to_host(self._data).tolist()

    def numpy(self, *, force: bool = False):
        """The NumPy array sharing this CPU tensor's memory."""
        if self._requires_grad and not force:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                "instead."
            )
        if self._sparse is not None:
            raise TypeError(
                "can't convert Sparse layout tensor to numpy. Use Tensor.to_dense() first."
            )
        if self._device.type != "cpu":
            if not force:
                raise TypeError(
                    f"can't convert {self._device} device type tensor to numpy. Use "
                    "Tensor.cpu() to copy the tensor to host memory first."
                )
            return self._device.backend.to_host(self._data)
        return self._data

    def __array__(self, dtype=None, copy=None):
        arr = self.numpy()
        return arr if dtype is None else arr.astype(dtype, copy=False)

    def __dlpack__(self, *args, **kwargs):
        """A DLPack capsule of this tensor's memory (``torch.from_dlpack``, ``np.from_dlpack``)."""
        # a capsule carries no autograd record or sparse layout: refused as PyTorch refuses
        if self._requires_grad:
            raise BufferError("Can't export tensors that require gradient, use tensor.detach()")
        if self._sparse is not None:
            raise BufferError("Can't export tensors with layout other than torch.strided")
        return self._data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self._data.__dlpack_device__()

    @property
    def __cuda_array_interface__(self) -> dict:
        """A CUDA tensor's memory as CuPy, Numba ... read it (the array's own interface)."""
        # AttributeError off the GPU, so hasattr(cpu_tensor, ...) is False, as in PyTorch
        if self._device.type != "cuda":
            raise AttributeError(
                f"Can't get __cuda_array_interface__ on non-CUDA tensor type: {self.type()} "
                "If CUDA data is required use tensor.cuda() to copy tensor to device memory."
            )
        if self._sparse is not None:
            raise AttributeError(
                f"Can't get __cuda_array_interface__ on sparse type: {self.type()} "
                "Use Tensor.to_dense() to convert to a dense tensor first."
            )
        if self._requires_grad:
            raise RuntimeError(
                "Can't get __cuda_array_interface__ on Variable that requires grad. If "
                "gradients aren't required, use var.detach() to get Variable that doesn't "
                "require grad."
            )
        return self._data.__cuda_array_interface__

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(
                "Boolean value of Tensor with more than one value is ambiguous"
                if self._data.size
                else "Boolean value of Tensor with no values is ambiguous"
            )
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.is_floating_point or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __complex__(self) -> complex:
        return complex(self.item())

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        from ._tensor_format import tensor_repr

        return tensor_repr(self)

    def __format__(self, spec: str) -> str:
        # PyTorch's rule: a 0-d tensor formats its Python number (f"{t}" gives "2.0", not
        # "tensor(2.)"); any other tensor is an object (str for "", a TypeError for a spec)
        if self._data.ndim == 0 and self._sparse is None:
            return format(self.item(), spec)
        return object.__format__(self, spec)

    def __reduce__(self):
        raise TypeError("gpugrad tensors are not pickled; save state dicts with gpugrad.save")

    def __deepcopy__(self, memo):
        if self._grad_fn is not None:
            raise RuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support the "
                "deepcopy protocol at the moment.  If you were attempting to deepcopy a module, "
                "this may be because of a torch.nn.utils.weight_norm usage, see "
                "https://github.com/pytorch/pytorch/pull/103001"
            )
        import copy

        new = type(self)._make(self._data.copy(), self._device)
        new._requires_grad = self._requires_grad
        memo[id(self)] = new
        if self._grad is not None:
            new._grad = self._grad.__deepcopy__(memo)
        if self.__dict__:  # user attributes, as PyTorch copies them
            new.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return new

    def __copy__(self) -> Tensor:
        """``copy.copy``: a new tensor object on the same memory (and version counter)."""
        new = type(self)._make(self._data, self._device)
        new._vc, new._requires_grad = self._vc, self._requires_grad and self._grad_fn is None
        new.__dict__.update(self.__dict__)
        return new


def _data_ptr(arr) -> int:
    iface = getattr(arr, "__array_interface__", None) or arr.__cuda_array_interface__
    return iface["data"][0]


def _wrap_dim(dim: int, ndim: int) -> int:
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})"
        )
    return dim + n if dim < 0 else dim


_graph.Tensor = Tensor  # graph.py rebuilds saved outputs as Tensors
