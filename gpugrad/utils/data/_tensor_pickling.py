"""How a Tensor crosses a process boundary in the DataLoader: as a NumPy array, pickled.

gpugrad tensors refuse plain pickling (state dicts go through ``gpugrad.save``), but worker
processes must send batches back and, with the ``spawn`` / ``forkserver`` start methods,
receive the dataset. ``multiprocessing`` pickles through ``ForkingPickler``, so registering a
reducer there (as ``torch.multiprocessing`` does for its tensors) covers exactly that traffic
and nothing else.
"""

from __future__ import annotations

from multiprocessing.reduction import ForkingPickler

from ..._tensor import Tensor


def _rebuild(array, device: str, requires_grad: bool) -> Tensor:
    from ..._device import canonical

    dev = canonical(device)
    data = array if dev.type == "cpu" else dev.backend.asarray(array)
    out = Tensor._make(data, dev)
    if requires_grad:
        out.requires_grad_(True)
    return out


def _reduce(t: Tensor):
    if t._requires_grad and not t.is_leaf:
        raise RuntimeError(
            "Cowardly refusing to serialize non-leaf tensor which requires_grad, since "
            "autograd does not support crossing process boundaries.  If you just want to "
            "transfer the data, call detach() on the tensor before serializing (e.g., "
            "putting it on the queue)."
        )
    dev = t._device
    array = t._data if dev.type == "cpu" else dev.backend.to_host(t._data)
    return _rebuild, (array, str(dev), bool(t._requires_grad))


def register() -> None:
    """Teach multiprocessing's pickler about Tensor (and its subclasses, e.g. Parameter)."""
    ForkingPickler.register(Tensor, _reduce)


register()
