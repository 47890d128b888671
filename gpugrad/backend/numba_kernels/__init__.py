"""The CPU's kernel engine: compiled, multi-threaded Numba kernels for catalogue names.

Each concept module here registers, per name, a builder and the calls it serves (sizes and
dtypes where it beats NumPy, as measured in bench/). Registration imports no Numba: Numba is
imported, and a kernel compiled, on the first call that needs it, and compiled code is cached
on disk (Numba's ``cache=True``: beside the sources, or in the user's cache folder when the
package is installed read-only). ``GPUGRAD_NUMBA=0`` turns the engine off; a missing or
broken Numba falls back to NumPy with one warning.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import warnings

from ... import _warn
from ..kernels import KernelEngine


def _enabled() -> bool:
    if os.environ.get("GPUGRAD_NUMBA", "1").strip() == "0":
        return False
    if importlib.util.find_spec("numba") is None:
        _warn.warn(
            "gpugrad: Numba is not installed, so the CPU uses NumPy's (slower) kernels; "
            "pip install numba (set GPUGRAD_NUMBA=0 to choose this without the warning)",
            RuntimeWarning,
        )
        return False
    return True


def _is_failure(err: BaseException) -> bool:
    """Whether ``err`` is Numba failing (import, typing, lowering), not a user's bad input."""
    if isinstance(err, ImportError):
        return True
    return type(err).__module__.split(".")[0] == "numba"


# A name's first calls run NumPy's reference, its kernel built on the 33rd (or at once for an
# argument of 2^20 elements): the first build in a process costs ~0.5 s (Numba's import and
# cache), which a short script or a first training step must not pay.
# GPUGRAD_NUMBA_TIER_UP=0 builds on the first call (the test suite does).
_TIER_UP = int(os.environ.get("GPUGRAD_NUMBA_TIER_UP", "32"))
ENGINE = KernelEngine("numba", enabled=_enabled, is_failure=_is_failure, tier_up=_TIER_UP)

for _mod in pkgutil.iter_modules(__path__):
    if not _mod.name.startswith("_"):  # concept modules register their kernels
        importlib.import_module(f"{__name__}.{_mod.name}")
