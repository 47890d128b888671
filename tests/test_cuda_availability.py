"""`import gpugrad` needs no CuPy and no GPU; asking for cuda then fails with one clear error.

Both paths are checked in a subprocess: one with CuPy made unimportable, one as installed
(CI installs cupy-cuda12x on machines without a GPU: "CuPy present, no device").
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = r"""
import json, sys
if sys.argv[1] == "block":
    class _Block:
        def find_spec(self, name, path=None, target=None):
            if name == "cupy" or name.startswith("cupy.") or name.startswith("cupyx"):
                raise ImportError("No module named 'cupy' (blocked by the test)")
    sys.meta_path.insert(0, _Block())
import gpugrad
out = {"available": gpugrad.cuda.is_available(), "count": gpugrad.cuda.device_count(),
       "accel": repr(gpugrad.accelerator.current_accelerator()),
       "why": gpugrad.cuda.why_unavailable()}
x = gpugrad.ones(2)
try:
    x.to("cuda")
    out["error"] = None
except RuntimeError as e:
    out["error"] = str(e)
out["cpu_still_works"] = (x * 2).sum().item()
print(json.dumps(out))
"""


def _probe(mode: str) -> dict:
    res = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_without_cupy_gpugrad_imports_and_says_what_to_install():
    out = _probe("block")
    assert out["available"] is False and out["count"] == 0
    assert out["accel"] == "None"
    assert "CuPy is not installed" in out["why"]
    assert "gpugrad[cuda12]" in out["error"] and "CUDA is not available" in out["error"]
    assert out["cpu_still_works"] == 4.0


def test_with_cupy_as_installed():
    out = _probe("as-is")
    if out["available"]:
        pytest.skip("a GPU is visible: the no-device path does not apply")
    assert out["count"] == 0 and out["error"] and "CUDA is not available" in out["error"]
    assert out["why"]  # one plain sentence: not installed, driver mismatch or no GPU
    assert out["cpu_still_works"] == 4.0
