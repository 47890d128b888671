"""The kernel engine: compiled implementations of catalogue names, bound per backend."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ... import _warn

_KERNEL_MARK = "_gpugrad_kernel"


def kernel(fn: Callable) -> Callable:
    """Mark a backend method as a catalogue name an engine may implement."""
    setattr(fn, _KERNEL_MARK, True)
    return fn


def kernel_names(backend_cls: type) -> list[str]:
    """Every catalogue name a backend class answers (marked with ``@kernel`` in its MRO)."""
    names = set()
    for klass in backend_cls.__mro__:
        for name, value in vars(klass).items():
            if getattr(value, _KERNEL_MARK, False):
                names.add(name)
    return sorted(names)


class _Impl:
    __slots__ = ("name", "build", "when", "examples")

    def __init__(self, name, build, when, examples) -> None:
        self.name = name
        self.build = build
        self.when = when
        self.examples = examples


# an argument of TIER_UP_SIZE elements or more builds a tiering engine's kernel at once (its
# call alone outweighs the build)
TIER_UP_SIZE = 1 << 20


def _large(args: tuple) -> bool:
    for a in args:
        if getattr(a, "size", 0) >= TIER_UP_SIZE:
            return True
        if type(a) is list and a and getattr(a[0], "size", 0) * len(a) >= TIER_UP_SIZE:
            return True
    return False


class KernelEngine:
    """A device kind's compiled kernels: for each name, a builder and when it applies.

    ``build()`` returns a callable with the name's signature; it runs on the first call the
    predicate accepts (so ``import gpugrad`` compiles nothing). Whatever the engine raises
    while building or compiling (``is_failure``) makes that name fall back to its reference
    for the rest of the process, with one warning per engine; other exceptions (bad input)
    propagate as they would from the reference.
    """

    def __init__(
        self,
        name: str,
        *,
        enabled: Callable[[], bool],
        is_failure: Callable[[BaseException], bool],
        tier_up: int = 0,
    ) -> None:
        self.name = name
        self.tier_up = tier_up  # calls a name's reference serves before its kernel is built
        self._enabled = enabled
        self._is_failure = is_failure
        self._impls: dict[str, _Impl] = {}
        self._built: dict[str, Callable] = {}
        self._lock = threading.Lock()
        self.failed: dict[str, str] = {}  # name -> why it fell back
        self._warned = False

    # ---- registration (at import, compiles nothing) ---------------------------------
    def implements(
        self,
        name: str,
        *,
        when: Callable[..., bool],
        examples: Callable[[], list[tuple]] | None = None,
    ) -> Callable[[Callable[[], Callable]], Callable[[], Callable]]:
        """Register ``build`` (the decorated function) as the engine's kernel for ``name``.

        ``when(*args, **kwargs)`` sees the kernel's arguments and says whether the compiled
        kernel serves this call; keep it to attribute reads and comparisons (it runs on every
        call). ``examples()`` gives argument tuples that compile every specialisation
        ``warmup()`` should prepare.
        """

        def register(build: Callable[[], Callable]) -> Callable[[], Callable]:
            if name in self._impls:
                raise ValueError(f"kernel engine {self.name!r}: {name!r} registered twice")
            self._impls[name] = _Impl(name, build, when, examples)
            return build

        return register

    def names(self) -> list[str]:
        """The catalogue names this engine implements."""
        return sorted(self._impls)

    def enabled(self) -> bool:
        return self._enabled()

    # ---- building ---------------------------------------------------------------------
    def compiled(self, name: str) -> Callable:
        """The engine's own kernel for ``name``, built on first request (tests call it
        directly to compare with the reference)."""
        fn = self._built.get(name)
        if fn is None:
            with self._lock:  # two threads' first calls build once
                fn = self._built.get(name)
                if fn is None:
                    fn = self._built[name] = self._impls[name].build()
        return fn

    def _fall_back(self, name: str, err: BaseException) -> None:
        self.failed[name] = f"{type(err).__name__}: {err}"
        if not self._warned:
            self._warned = True
            _warn.warn(
                f"gpugrad: the {self.name} kernel engine could not build {name!r} "
                f"({type(err).__name__}: {err}); that kernel and any other that fails use "
                f"the reference path instead",
                RuntimeWarning,
            )

    def warmup(self) -> dict[str, str]:
        """Build and compile every kernel for its examples; returns the names that failed."""
        for name, impl in self._impls.items():
            if name in self.failed or impl.examples is None:
                continue
            try:
                fn = self.compiled(name)
                for args in impl.examples():
                    fn(*args)
            except Exception as e:
                if not self._is_failure(e):
                    raise
                self._fall_back(name, e)
        return dict(self.failed)

    # ---- binding ----------------------------------------------------------------------
    def bind(self, backend: Any) -> None:
        """Give ``backend`` this engine's kernels: each implemented name becomes a
        dispatcher over the compiled kernel and the backend's own (reference) one."""
        if not self.enabled():
            return
        catalogue = set(kernel_names(type(backend)))
        for name, impl in self._impls.items():
            if name not in catalogue:
                raise RuntimeError(
                    f"kernel engine {self.name!r} implements {name!r}, which is not a kernel "
                    f"of {type(backend).__name__} (mark its reference with @kernel)"
                )
            setattr(backend, name, self._dispatcher(name, impl, getattr(backend, name)))

    def _dispatcher(self, name: str, impl: _Impl, reference: Callable) -> Callable:
        when = impl.when
        engine = self
        fast = None
        waiting = self.tier_up

        def dispatch(*args, **kwargs):
            nonlocal fast, waiting
            if when(*args, **kwargs):
                if fast is None:
                    # tiering: a build can cost ~0.5 s (Numba's import, its disk cache), so a
                    # name serves its first calls from the reference and builds when it keeps
                    # being asked for: a short script or a first step never pays it
                    if waiting > 0 and not _large(args):
                        waiting -= 1
                        return reference(*args, **kwargs)
                    try:
                        fast = engine.compiled(name)
                    except Exception as e:
                        if not engine._is_failure(e):
                            raise
                        engine._fall_back(name, e)
                        fast = reference
                try:
                    return fast(*args, **kwargs)
                except Exception as e:  # zero cost unless raised
                    if fast is reference or not engine._is_failure(e):
                        raise
                    engine._fall_back(name, e)
                    fast = reference
                    return reference(*args, **kwargs)
            return reference(*args, **kwargs)

        dispatch.__name__ = dispatch.__qualname__ = name
        dispatch.reference = reference  # tests compare the two paths
        dispatch.engine = self
        return dispatch
