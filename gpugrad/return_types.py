"""PyTorch's ``torch.return_types``: named result tuples that print as PyTorch's do.

``x.max(dim=1)`` returns ``gpugrad.return_types.max(values=..., indices=...)``: a tuple
(it unpacks and compares as one) whose fields also read by name.
"""

from __future__ import annotations

from collections import namedtuple

from . import _dtype as D


def _result_type(name: str, fields: tuple[str, ...] = ("values", "indices")) -> type:
    def __repr__(self) -> str:  # noqa: N807 - the method of the class built below
        body = ",\n".join(f"{f}={v!r}" for f, v in zip(self._fields, self))
        return f"{D.PRINTED_MODULE}.return_types.{name}(\n{body})"

    base = namedtuple(name, fields)
    return type(name, (base,), {"__slots__": (), "__repr__": __repr__, "__module__": __name__})


max = _result_type("max")  # noqa: A001 - PyTorch's names
min = _result_type("min")  # noqa: A001
sort = _result_type("sort")
topk = _result_type("topk")
median = _result_type("median")
kthvalue = _result_type("kthvalue")
aminmax = _result_type("aminmax", ("min", "max"))
cummax = _result_type("cummax")
cummin = _result_type("cummin")
mode = _result_type("mode")
linalg_svd = _result_type("linalg_svd", ("U", "S", "Vh"))
linalg_eigh = _result_type("linalg_eigh", ("eigenvalues", "eigenvectors"))
linalg_qr = _result_type("linalg_qr", ("Q", "R"))
linalg_cholesky_ex = _result_type("linalg_cholesky_ex", ("L", "info"))
