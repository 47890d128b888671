"""Module backward hooks (``register_full_backward_hook`` / ``..._pre_hook``), as PyTorch.

The module's tensor inputs and outputs pass through an identity Function
(``BackwardHookFunctionBackward`` in the graph). The output node sees the gradients with
respect to the outputs (backward pre-hooks may replace them); the input node, which runs
once the module's own graph is done, sees those with respect to the inputs and calls the
backward hooks with both. With no input that requires grad, the hooks fire from the output
node, with ``grad_input`` all None.
"""

from __future__ import annotations

from collections.abc import Callable

from ... import _warn
from ..._tensor import Tensor
from ...autograd.function import Function
from ...autograd.grad_mode import is_grad_enabled


class BackwardHookFunction(Function):
    """Identity on its tensor arguments: a node to hang the module's hooks on."""

    @staticmethod
    def forward(ctx, *args):
        ctx.mark_non_differentiable(*[a for a in args if not a.requires_grad])
        return args

    @staticmethod
    def backward(ctx, *grads):
        return grads


class BackwardHook:
    """One module call's hooks: links the gradients seen at its outputs and its inputs."""

    def __init__(self, module, hooks: list[Callable], pre_hooks: list[Callable]) -> None:
        self.module, self.hooks, self.pre_hooks = module, hooks, pre_hooks
        self.grad_outputs: tuple | None = None
        self.n_inputs = self.n_outputs = 0
        self.input_index: list[int] | None = None
        self.output_index: list[int] | None = None

    @staticmethod
    def _wrap(args: tuple, hook: Callable) -> tuple[tuple, list[int] | None]:
        """Pass the tensors among ``args`` through BackwardHookFunction (when any requires
        grad and grad mode is on) and register ``hook`` on its node; their positions."""
        index = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        if not (is_grad_enabled() and any(args[i].requires_grad for i in index)):
            return args, None
        new = BackwardHookFunction.apply(*[args[i] for i in index])
        next(t.grad_fn for t in new if t.grad_fn is not None).register_hook(hook)
        out = list(args)
        for i, t in zip(index, new):
            out[i] = t
        return tuple(out), index

    @staticmethod
    def _pack(index: list[int], values, size: int) -> tuple:
        out = [None] * size
        for i, v in zip(index, values):
            out[i] = v
        return tuple(out)

    def setup_input_hook(self, args: tuple) -> tuple:
        self.n_inputs = len(args)
        args, self.input_index = self._wrap(args, self._input_hook)
        return args

    def setup_output_hook(self, result):
        single = not isinstance(result, tuple)
        outs = (result,) if single else result
        self.n_outputs = len(outs)
        outs, self.output_index = self._wrap(outs, self._output_hook)
        return outs[0] if single else outs

    def _output_hook(self, grad_inputs, grad_outputs):
        # identity node: its grad_inputs are the gradients w.r.t. the module's outputs
        grads = self._pack(self.output_index, grad_inputs, self.n_outputs)
        grads = _chain(
            self.pre_hooks, lambda h, g: h(self.module, g), grads, "Backward pre hook", "output"
        )
        self.grad_outputs = grads
        if self.input_index is None:
            _warn.warn(
                "Full backward hook is firing when gradients are computed with respect to "
                "module outputs since no inputs require gradients. See "
                "https://docs.pytorch.org/docs/main/generated/torch.nn.Module.html"
                "#torch.nn.Module.register_full_backward_hook for more details."
            )
            none = (None,) * self.n_inputs
            for hook in self.hooks:
                res = hook(self.module, none, grads)
                if res is not None and not (isinstance(res, tuple) and all(r is None for r in res)):
                    raise RuntimeError(
                        "Backward hook for Modules where no input requires gradient should "
                        "always return None or None for all gradients."
                    )
            self.grad_outputs = None
        return tuple(grads[i] for i in self.output_index)

    def _input_hook(self, grad_inputs, grad_outputs):
        if self.grad_outputs is None:
            return None  # the gradient reached the inputs without passing the outputs
        grads = self._pack(self.input_index, grad_inputs, self.n_inputs)
        outs = self.grad_outputs
        grads = _chain(
            self.hooks, lambda h, g: h(self.module, g, outs), grads, "Backward hook", "input"
        )
        self.grad_outputs = None
        return tuple(grads[i] for i in self.input_index)


def _chain(hooks: list, call, grads: tuple, who: str, side: str) -> tuple:
    """Run ``hooks`` in turn; each may return replacements for ``grads`` (as many)."""
    for hook in hooks:
        new = call(hook, grads)
        if new is None:
            continue
        if len(new) != len(grads):
            raise RuntimeError(
                f"{who} returned an invalid number of grad_{side}, got {len(new)}, but "
                f"expected {len(grads)}"
            )
        grads = new
    return grads
