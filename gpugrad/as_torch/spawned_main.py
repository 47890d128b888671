"""What a child process that multiprocessing starts with 'spawn' or 'forkserver' runs as its
``__main__`` when the parent is ``python -m gpugrad.as_torch``: the alias first, then the
script's definitions (its ``if __name__ == "__main__":`` block does not run), as
multiprocessing re-imports a plain script. Without this the child's ``import torch`` would
find real PyTorch."""

from __future__ import annotations

import os
import runpy

from . import install

ENV = "GPUGRAD_AS_TORCH_MAIN"  # "path:<script>" or "module:<name>", set by the runner

install()
_kind, _, _target = os.environ.get(ENV, "").partition(":")
if _kind == "path":
    globals().update(runpy.run_path(_target, run_name="__mp_main__"))
elif _kind == "module":
    globals().update(runpy.run_module(_target, run_name="__mp_main__"))
