"""Benchmarks: gpugrad against the same computation handwritten in NumPy / CuPy (the floor)
and against PyTorch, on cpu and cuda.

``python -m bench --help`` for the command line; ``python -m bench.gpu_check --out DIR`` for a
GPU machine's five-minute check. ``run_suite(Options(...))`` is the API the tests use.
"""

from .suite import Options, run_suite

__all__ = ["Options", "run_suite"]
