"""``torch.version``: the library's version and the CUDA it runs on (None without a GPU).

``__version__`` compares as a version, not as text, as PyTorch's ``TorchVersion`` does:
``__version__ >= "2"``, ``__version__ < (3, 0)``. Under ``gpugrad.as_torch`` the version
``torch.__version__`` shows is PyTorch's API level that gpugrad follows (``TORCH_API``,
with ``+gpugrad<version>`` as its local part), so scripts that gate on it run.
"""

from __future__ import annotations

import re

GPUGRAD_VERSION = "0.1.0"
TORCH_API = "2.13.0"  # the PyTorch release gpugrad takes as its specification
debug = False
hip = None
git_version = "unknown"


def _parts(v) -> tuple:
    if isinstance(v, (tuple, list)):
        return tuple(int(x) for x in v)
    if isinstance(v, (int, float)):
        v = str(v)
    if not isinstance(v, str):
        raise TypeError(f"cannot compare a version with {type(v).__name__}")
    m = re.match(r"\s*v?(\d+(?:\.\d+)*)", v)
    if m is None:
        raise ValueError(f"invalid version: {v!r}")
    return tuple(int(x) for x in m.group(1).split("."))


class TorchVersion(str):
    """A version string whose comparisons are numeric release comparisons (the local part
    after ``+`` is ignored): ``TorchVersion("2.13.0+gpugrad0.1.0") >= "2.1"``."""

    def _cmp(self, other) -> int:
        a, b = _parts(str(self)), _parts(other)
        n = max(len(a), len(b))
        a, b = a + (0,) * (n - len(a)), b + (0,) * (n - len(b))
        return (a > b) - (a < b)

    def __lt__(self, other) -> bool:
        return self._cmp(other) < 0

    def __le__(self, other) -> bool:
        return self._cmp(other) <= 0

    def __gt__(self, other) -> bool:
        return self._cmp(other) > 0

    def __ge__(self, other) -> bool:
        return self._cmp(other) >= 0

    def __eq__(self, other) -> bool:
        if isinstance(other, str) and str.__eq__(self, other):
            return True
        try:
            return self._cmp(other) == 0
        except (TypeError, ValueError):
            return False

    def __ne__(self, other) -> bool:
        return not self.__eq__(other)

    __hash__ = str.__hash__


__version__ = TorchVersion(GPUGRAD_VERSION)
torch_version = TorchVersion(f"{TORCH_API}+gpugrad{GPUGRAD_VERSION}")


def __getattr__(name: str):
    # ``cuda``: the CUDA runtime CuPy runs on ("12.4"), None without a usable GPU; looked up
    # on first use so importing this module loads no backend
    if name == "cuda":
        from .backend import cuda_status

        if cuda_status()[0] == 0:
            return None
        from .backend import cupy_backend

        v = cupy_backend._require().cuda.runtime.runtimeGetVersion()
        return f"{v // 1000}.{v % 1000 // 10}"
    raise AttributeError(f"module 'gpugrad.version' has no attribute '{name}'")
