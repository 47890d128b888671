"""Host memory reuse (gpugrad/backend/host_memory.py): on by default on glibc, opt-out works."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]  # `python -c` finds gpugrad from here

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
PROBE = "import gpugrad.backend.host_memory as h, gpugrad; print(h.tuned)"


def _run(env_value: str | None) -> str:
    env = dict(os.environ)
    env.pop("GPUGRAD_MALLOC_TUNING", None)
    if env_value is not None:
        env["GPUGRAD_MALLOC_TUNING"] = env_value
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True, cwd=ROOT
    )
    return out.stdout.strip()


@pytest.mark.skipif(not GLIBC, reason="malloc tuning applies to glibc on Linux only")
def test_tuned_by_default_on_glibc():
    assert _run(None) == "True"


@pytest.mark.parametrize("value", ["0", "false", "no"])
def test_opt_out_leaves_malloc_alone(value):
    assert _run(value) == "False"


def test_training_still_works_without_tuning():
    env = dict(os.environ, GPUGRAD_MALLOC_TUNING="0")
    code = (
        "import gpugrad as T\n"
        "m = T.nn.Linear(4, 2); o = T.optim.SGD(m.parameters(), lr=0.1)\n"
        "x = T.randn(8, 4); y = T.randint(0, 2, (8,))\n"
        "l0 = T.nn.functional.cross_entropy(m(x), y).item()\n"
        "for _ in range(50):\n"
        "    o.zero_grad(); l = T.nn.functional.cross_entropy(m(x), y); l.backward(); o.step()\n"
        "print(l.item() < l0)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "True"
