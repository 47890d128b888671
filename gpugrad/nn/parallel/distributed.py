"""``DistributedDataParallel``: one model replica per process, gradients averaged."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import gpugrad
import gpugrad.distributed as dist

from ..modules import Module
from .reducer import FIRST_BUCKET_BYTES, Reducer


class DistributedDataParallel(Module):
    """PyTorch's DDP: wrap a module so that backward averages its gradients over ranks.

    At construction rank 0's parameters and buffers are broadcast, so every replica starts
    equal; each forward (with ``broadcast_buffers``) broadcasts rank 0's buffers again.
    ``module`` is the wrapped module; state dict keys are prefixed ``module.``.
    """

    def __init__(
        self,
        module: Module,
        device_ids: list | None = None,
        output_device=None,
        dim: int = 0,
        broadcast_buffers: bool = True,
        process_group=None,
        bucket_cap_mb: float | None = None,
        find_unused_parameters: bool = False,
        check_reduction: bool = False,
        gradient_as_bucket_view: bool = False,
        static_graph: bool = False,
    ) -> None:
        super().__init__()
        if not dist.is_initialized() and process_group is None:
            raise ValueError(
                "Default process group has not been initialized, please make sure to call "
                "init_process_group."
            )
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            raise RuntimeError(
                "DistributedDataParallel is not needed when a module doesn't have any "
                "parameter that requires a gradient."
            )
        devices = {p.device for p in module.parameters()}
        if device_ids is not None and (
            len(devices) > 1 or next(iter(devices)).type != "cuda" or len(device_ids) != 1
        ):
            raise ValueError(
                "DistributedDataParallel device_ids and output_device arguments only work with "
                "single-device/multiple-device GPU modules or CPU modules, but got device_ids "
                f"{device_ids}, output_device {output_device}, and module parameters "
                f"{devices}."
            )
        if len(devices) > 1:
            raise ValueError(
                f"DistributedDataParallel needs the module on one device, got {devices}"
            )
        self.module = module
        self.device_ids = device_ids
        self.output_device = output_device
        self.dim = dim
        self.broadcast_buffers = broadcast_buffers
        self.process_group = process_group if process_group is not None else dist.GroupMember.WORLD
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.static_graph = static_graph
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True
        mb = 25 if bucket_cap_mb is None else bucket_cap_mb
        self.bucket_bytes_cap = int(mb * 1024 * 1024)
        self._sync_module_states(list(module.parameters()) + list(module.buffers()))
        self.reducer = Reducer(
            params,
            self.process_group,
            self.bucket_bytes_cap,
            FIRST_BUCKET_BYTES if bucket_cap_mb is None else self.bucket_bytes_cap,
            find_unused_parameters,
            gradient_as_bucket_view,
        )

    def _sync_module_states(self, tensors: list) -> None:
        """Rank 0's values into every rank's tensors, one broadcast per dtype."""
        by_dtype: dict = {}
        for t in tensors:
            by_dtype.setdefault((t.device, t.dtype), []).append(t)
        for ts in by_dtype.values():
            with gpugrad.no_grad():
                flat = gpugrad.cat([t.detach().reshape(-1) for t in ts])
                dist.broadcast(flat, src=self._global_rank0(), group=self.process_group)
                off = 0
                for t in ts:
                    n = t.numel()
                    t._data[...] = flat._data[off : off + n].reshape(tuple(t.shape))
                    t._vc[0] += 1
                    off += n

    def _global_rank0(self) -> int:
        return dist.get_process_group_ranks(self.process_group)[0]

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        grad = gpugrad.is_grad_enabled()
        if grad and self.require_backward_grad_sync:
            self.reducer.ensure_prior_reduction_finished()
        if self.broadcast_buffers and self.require_forward_param_sync:
            buffers = list(self.module.buffers())
            if buffers:
                self._sync_module_states(buffers)
        out = self.module(*inputs, **kwargs)
        if grad and self.require_backward_grad_sync:
            self.reducer.prepare_for_backward(out)
        else:
            self.reducer.disarm()
        return out

    @contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backward passes of forwards run inside keep their gradients local (accumulate);
        the first synced backward after it averages the accumulated gradients."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    def extra_repr(self) -> str:
        return ""
