"""Grad modes: no_grad, enable_grad, set_grad_enabled, inference_mode (per thread)."""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any


class _Active:
    """How many threads have each rarely used mode on (inference mode, anomaly detection,
    saved-tensor hooks, autocast). A thread-local read costs about ten plain attribute reads,
    and every op would pay it for modes that are almost always off: the per-op checks read
    this first, and the thread's own flag only when some thread has the mode on. (A thread
    that ends with a mode on leaves its count behind: the checks stay right, only a little
    slower.)"""

    def __init__(self) -> None:
        self.inference = self.anomaly = self.saved_hooks = self.autocast = 0


active = _Active()
_active_lock = threading.Lock()


def counted_flag(name: str) -> property:
    """A per-thread bool whose threads-on count is kept in ``active.<name>``."""
    attr = "_" + name

    def get(self) -> bool:
        return getattr(self, attr)

    def set(self, value: bool) -> None:
        value = bool(value)
        if value != getattr(self, attr):
            with _active_lock:
                setattr(active, name, getattr(active, name) + (1 if value else -1))
            setattr(self, attr, value)

    return property(get, set)


class _State(threading.local):
    # Class attributes are each thread's defaults.
    enabled = True
    _inference = False
    _anomaly = False
    anomaly_check_nan = True
    inference = counted_flag("inference")
    anomaly = counted_flag("anomaly")


state = _State()


def is_grad_enabled() -> bool:
    """True when ops record their history for backward (the default)."""
    return state.enabled


def is_inference_mode_enabled() -> bool:
    return state.inference


class _DecoratorContextManager:
    """A context manager that also decorates functions (and generators) like PyTorch's."""

    def __call__(self, fn: Callable) -> Callable:
        if inspect.isclass(fn):
            raise TypeError("grad-mode decorators apply to functions, not classes")
        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def gen_wrapper(*args, **kwargs):
                gen = fn(*args, **kwargs)
                try:
                    with self.clone():
                        response = gen.send(None)
                    while True:
                        try:
                            request = yield response
                        except GeneratorExit:
                            with self.clone():
                                gen.close()
                            raise
                        except BaseException as e:  # forward throws into the generator
                            with self.clone():
                                response = gen.throw(e)
                        else:
                            with self.clone():
                                response = gen.send(request)
                except StopIteration as e:
                    return e.value

            return gen_wrapper

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.clone():
                return fn(*args, **kwargs)

        return wrapper

    def clone(self):
        return self.__class__()


class no_grad(_DecoratorContextManager):  # noqa: N801
    """Disable gradient recording inside the block (results have requires_grad=False)."""

    def __new__(cls, orig_func=None):
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)  # bare @no_grad

    def __enter__(self) -> None:
        self.prev = state.enabled
        state.enabled = False

    def __exit__(self, *exc: Any) -> None:
        state.enabled = self.prev


class enable_grad(_DecoratorContextManager):  # noqa: N801
    """Re-enable gradient recording inside a no_grad block."""

    def __new__(cls, orig_func=None):
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)  # bare @enable_grad

    def __enter__(self) -> None:
        self.prev = state.enabled
        state.enabled = True

    def __exit__(self, *exc: Any) -> None:
        state.enabled = self.prev


class set_grad_enabled(_DecoratorContextManager):  # noqa: N801
    """Set grad mode: a plain call takes effect at once, ``with`` restores it afterwards."""

    def __init__(self, mode: bool) -> None:
        self.prev = state.enabled
        self.mode = bool(mode)
        state.enabled = self.mode

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: Any) -> None:
        state.enabled = self.prev

    def clone(self):
        return self.__class__(self.mode)


class inference_mode(_DecoratorContextManager):  # noqa: N801
    """no_grad, and tensors made inside are inference tensors that backward may not save."""

    def __init__(self, mode: bool = True) -> None:
        self.mode = mode

    def __enter__(self) -> None:
        self.prev = (state.enabled, state.inference)
        if self.mode:
            state.enabled, state.inference = False, True
        else:
            state.inference = False

    def __exit__(self, *exc: Any) -> None:
        state.enabled, state.inference = self.prev

    def clone(self):
        return self.__class__(self.mode)
