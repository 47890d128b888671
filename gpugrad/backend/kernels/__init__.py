"""Named kernels: the catalogue of array work an op may ask a backend for, by name.

An op never asks which library holds its arrays. It calls ``backend.<name>(...)`` with arrays
and Python scalars, and every backend answers every name:

- the **reference** of a name is a method written once against the array module ``xp``, in the
  mixin of its concept here (``pointwise``, ``rows`` ...); ``ArrayBackend`` inherits them all,
  and a backend overrides one only where its library differs;
- a device's **engine** (``numba_kernels`` on the CPU, ``cuda`` on a GPU) may register a
  compiled implementation of a name, with a predicate saying when it applies (dtypes, sizes,
  layout). Binding the engine to a backend replaces that name, on that backend only, by a
  dispatcher: the compiled kernel where the predicate holds, the reference otherwise.

docs/kernels.md lists the names, their signatures and their contracts.
"""

from __future__ import annotations

from .engine import KernelEngine, kernel, kernel_names

__all__ = ["KernelEngine", "kernel", "kernel_names"]
