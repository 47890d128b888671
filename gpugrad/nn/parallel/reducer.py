"""DistributedDataParallel's gradient reducer: buckets, hooks and the end-of-backward wait.

PyTorch's design: parameters, in reverse order (roughly the order backward produces their
gradients), are packed into buckets of about ``bucket_cap_mb`` (with the default cap the
first one holds 1 MiB, so that communication starts early). A parameter's
post-accumulate-grad hook copies its gradient into its bucket; a full bucket starts an
asynchronous all-reduce (the average over ranks) while backward goes on, buckets always in
the same order on every rank. An end-of-backward callback waits for them and writes the
averages back into ``.grad``.
"""

from __future__ import annotations

import gpugrad
import gpugrad.distributed as dist
from gpugrad.autograd.engine import queue_callback

FIRST_BUCKET_BYTES = 1024 * 1024  # PyTorch's dist._DEFAULT_FIRST_BUCKET_BYTES


class _Bucket:
    def __init__(self, indices: list, params: list) -> None:
        self.indices = indices  # positions in the module's parameter list
        p0 = params[0]
        self.numel = sum(p.numel() for p in params)
        self.flat = gpugrad.zeros(self.numel, dtype=p0.dtype, device=p0.device)
        self.views = []  # each parameter's slot, an array shaped like it
        off = 0
        for p in params:
            n = p.numel()
            self.views.append(self.flat._data[off : off + n].reshape(tuple(p.shape)))
            off += n
        self.pending = len(params)
        self.work = None


class Reducer:
    """Averages the gradients of ``params`` over ``group`` during backward."""

    def __init__(
        self,
        params: list,
        group,
        bucket_cap_bytes: int,
        first_bucket_bytes: int,
        find_unused_parameters: bool,
        gradient_as_bucket_view: bool,
    ) -> None:
        self.params = params
        self.group = group
        self.find_unused = find_unused_parameters
        self.as_view = gradient_as_bucket_view
        self.buckets = self._make_buckets(first_bucket_bytes, bucket_cap_bytes)
        self.scale = 1.0 / dist.get_world_size(group) if dist.is_initialized() else 1.0
        self.where = {}  # parameter index -> (bucket, slot)
        for b in self.buckets:
            for slot, i in enumerate(b.indices):
                self.where[i] = (b, slot)
        self.armed = False  # a synced backward is expected (set by the forward)
        self.queued = False
        self.ready: set = set()
        self.next_bucket = 0
        self.unfinished: list | None = None  # parameter indices that got no gradient
        self.handles = [
            p.register_post_accumulate_grad_hook(self._hook(i)) for i, p in enumerate(params)
        ]

    def _make_buckets(self, first: int, cap: int) -> list:
        """PyTorch's assignment: in reverse order, one open bucket per (device, dtype); a
        bucket closes once it holds at least its limit (``first``, then ``cap``)."""
        order = list(reversed(range(len(self.params))))
        closed, open_ = [], {}  # open_: key -> [indices, bytes, limit]
        for i in order:
            p = self.params[i]
            key = (p.device, p.dtype)
            b = open_.setdefault(key, [[], 0, first])
            b[0].append(i)
            b[1] += p.numel() * p.element_size()
            if b[1] >= b[2]:
                closed.append(b[0])
                open_[key] = [[], 0, cap]
        closed += [b[0] for b in open_.values() if b[0]]
        closed.sort(key=lambda ix: order.index(ix[0]))
        return [_Bucket(ix, [self.params[i] for i in ix]) for ix in closed]

    # ---- forward side -----------------------------------------------------------------
    def prepare_for_backward(self, outputs) -> None:
        """Arm the hooks for the backward of this forward's ``outputs``."""
        self.ensure_prior_reduction_finished()
        self.armed, self.queued = True, False
        self.ready = set()
        self.next_bucket = 0
        for b in self.buckets:
            b.pending = len(b.indices)
            b.work = None
        self.used = set()
        if self.find_unused:
            reached = _reachable_leaves(outputs)
            for i, p in enumerate(self.params):
                if id(p) not in reached:  # no gradient will come: ready now, as zeros
                    b, slot = self.where[i]
                    b.views[slot][...] = 0
                    self.ready.add(i)
                    b.pending -= 1

    def disarm(self) -> None:
        """A forward under no_sync (or without grad): the next backward stays local."""
        self.armed = False

    def ensure_prior_reduction_finished(self) -> None:
        if self.unfinished is not None:
            missing, self.unfinished = self.unfinished, None
            raise RuntimeError(
                "Expected to have finished reduction in the prior iteration before starting a "
                "new one. This error indicates that your module has parameters that were not "
                "used in producing loss. You can enable unused parameter detection by passing "
                "the keyword argument `find_unused_parameters=True` to "
                "`gpugrad.nn.parallel.DistributedDataParallel`, and by \nmaking sure all "
                "`forward` function outputs participate in calculating loss. \nIf you already "
                "have done the above, then the distributed data parallel module wasn't able "
                "to locate the output tensors in the return value of your module's `forward` "
                "function. Please include the loss function and the structure of the return "
                "value of `forward` of your module when reporting this issue (e.g. list, "
                "dict, iterable).\nParameter indices which did not receive grad for rank "
                f"{dist.get_rank(self.group)}: {' '.join(map(str, missing))}"
            )

    # ---- backward side ----------------------------------------------------------------
    def _hook(self, index: int):
        def hook(param) -> None:
            if not self.armed:
                return
            if not self.queued:
                queue_callback(self._finalize)
                self.queued = True
            if index in self.ready:  # a parameter used twice in one graph: once is all
                return
            b, slot = self.where[index]
            g = param._grad._data
            view = b.views[slot]
            # PyTorch's copy_grad_to_bucket: the copy divides by the world size on the way,
            # so the all-reduce is a plain sum and no pass over the bucket is added
            xp = param._device.backend.xp
            xp.multiply(g, self.scale, out=view)
            self.used.add(index)
            self.ready.add(index)
            b.pending -= 1
            if b.pending == 0:
                self._launch_ready()

        return hook

    def _launch_ready(self) -> None:
        # in bucket order on every rank: collectives must match across ranks
        while self.next_bucket < len(self.buckets) and self.buckets[self.next_bucket].pending == 0:
            b = self.buckets[self.next_bucket]
            b.work = dist.all_reduce(b.flat, op=dist.ReduceOp.SUM, group=self.group, async_op=True)
            self.next_bucket += 1

    def _finalize(self) -> None:
        """End of backward: wait for every bucket, then write the averages into .grad."""
        self.armed = False
        if self.next_bucket < len(self.buckets):
            # some parameter got no gradient: PyTorch reports it at the next forward
            self.unfinished = sorted(set(range(len(self.params))) - self.ready)
            for b in self.buckets[: self.next_bucket]:
                b.work.wait()  # the launched ones still finish, on every rank alike
            return
        globally_used = None
        if self.find_unused:
            # on the parameters' device: the group's backend may serve only that one
            device = self.params[0].device
            flags = gpugrad.zeros(len(self.params), dtype=gpugrad.int64, device=device)
            for i in self.used:
                flags[i] = 1
            dist.all_reduce(flags, op=dist.ReduceOp.MAX, group=self.group)
            globally_used = flags.tolist()
        for b in self.buckets:
            b.work.wait()
            for slot, i in enumerate(b.indices):
                if globally_used is not None and not globally_used[i]:
                    continue  # no rank produced a gradient: .grad stays as it was
                p = self.params[i]
                view = b.views[slot]
                grad = p._grad
                if self.as_view:
                    if grad is None or grad._data is not view:
                        p.grad = gpugrad.Tensor._make(view, p._device)
                    else:
                        grad._vc[0] += 1
                elif grad is None:
                    p.grad = gpugrad.Tensor._make(view.copy(), p._device)
                else:
                    grad._data[...] = view
                    grad._vc[0] += 1

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def _reachable_leaves(outputs) -> set:
    """ids of the leaf tensors whose gradients backward from ``outputs`` can reach."""
    leaves, seen, nodes, stack = set(), set(), [], [outputs]
    while stack:  # the output structure: tensors in tuples, lists, dicts
        o = stack.pop()
        if isinstance(o, gpugrad.Tensor):
            if o.grad_fn is not None:
                nodes.append(o.grad_fn)
            elif o.requires_grad:
                leaves.add(id(o))
        elif isinstance(o, dict):
            stack.extend(o.values())
        elif isinstance(o, (list, tuple)):
            stack.extend(o)
    while nodes:
        node = nodes.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        var = getattr(node, "variable", None)
        if var is not None:
            leaves.add(id(var))
        for nxt, _ in node.next_functions:
            if nxt is not None:
                nodes.append(nxt)
    return leaves
