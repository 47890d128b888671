"""The named-kernel layer: catalogue, engine binding, dispatch, fallback, switches."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from gpugrad.backend import cpu_backend
from gpugrad.backend.kernels import KernelEngine, kernel_names
from gpugrad.backend.numba_kernels import ENGINE as NUMBA
from gpugrad.backend.numba_kernels import _jit


class _EngineFailure(Exception):
    pass


def _fresh_backend():
    from gpugrad.backend.numpy_backend import NumpyBackend

    return NumpyBackend()


def _engine(**kw):
    return KernelEngine(
        "toy", enabled=lambda: True, is_failure=lambda e: isinstance(e, _EngineFailure), **kw
    )


def test_catalogue_names_cover_the_moved_kernels():
    names = kernel_names(type(cpu_backend()))
    for name in ("softmax", "log_softmax", "logsumexp", "threshold_backward", "sum", "amax"):
        assert name in names


def test_dispatch_uses_the_engine_only_where_its_predicate_holds():
    b = _fresh_backend()
    eng = _engine()
    calls = []

    @eng.implements("softmax", when=lambda x, axis: x.size >= 8)
    def build():
        calls.append("build")
        return lambda x, axis: np.full_like(x, 7.0)

    eng.bind(b)
    small = np.zeros((2, 2))
    np.testing.assert_allclose(b.softmax(small, 1), 0.5)  # reference
    assert calls == []  # nothing built for a call the engine does not serve
    np.testing.assert_array_equal(b.softmax(np.zeros((2, 4)), 1), 7.0)
    np.testing.assert_array_equal(b.softmax(np.zeros((4, 4)), 1), 7.0)
    assert calls == ["build"]  # built once
    np.testing.assert_allclose(b.softmax.reference(np.zeros((2, 4)), 1), 0.25)


def test_a_tiering_engine_builds_after_its_first_calls_or_at_once_for_large_arrays():
    b = _fresh_backend()
    eng = _engine(tier_up=3)
    calls = []

    @eng.implements("softmax", when=lambda x, axis: True)
    def build():
        calls.append("build")
        return lambda x, axis: np.full_like(x, 7.0)

    eng.bind(b)
    x = np.zeros((2, 4))
    for _ in range(3):  # the first calls: the reference, nothing built
        np.testing.assert_allclose(b.softmax(x, 1), 0.25)
    assert calls == []
    np.testing.assert_array_equal(b.softmax(x, 1), 7.0)
    assert calls == ["build"]
    b2 = _fresh_backend()
    eng2 = _engine(tier_up=3)
    eng2.implements("softmax", when=lambda x, axis: True)(build)
    eng2.bind(b2)
    np.testing.assert_array_equal(b2.softmax(np.zeros((1024, 1024)), 1), 7.0)  # at once


def test_the_numba_engine_tiers_by_default():
    code = (
        "import numpy as np\n"
        "from gpugrad.backend import cpu_backend\n"
        "from gpugrad.backend.numba_kernels import ENGINE\n"
        "b = cpu_backend()\n"
        "x = np.ones(1 << 16, np.float32)\n"
        "b.silu(x)\n"
        "print(ENGINE.tier_up, sorted(ENGINE._built))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "GPUGRAD_NUMBA_TIER_UP"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.split()[0] == "32"
    assert "silu" not in out.stdout  # one call of a mid-size array builds nothing


def test_an_engine_failure_falls_back_with_one_warning_and_bad_input_propagates():
    b = _fresh_backend()
    eng = _engine()

    @eng.implements("softmax", when=lambda x, axis: True)
    def build_softmax():
        raise _EngineFailure("no compiler")

    def log_softmax(x, axis):
        if axis > 5:
            raise ValueError("bad axis")  # a user error, not the engine's
        raise _EngineFailure("typing failed")

    eng.implements("log_softmax", when=lambda x, axis: True)(lambda: log_softmax)
    eng.bind(b)
    x = np.zeros((2, 2))
    with pytest.warns(RuntimeWarning, match="toy kernel engine could not build 'softmax'"):
        np.testing.assert_allclose(b.softmax(x, 1), 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one warning per engine, not per kernel or call
        np.testing.assert_allclose(b.softmax(x, 1), 0.5)
        np.testing.assert_allclose(b.log_softmax(x, 1), np.log(0.5))
    assert set(eng.failed) == {"softmax", "log_softmax"}
    b2 = _fresh_backend()
    eng2 = _engine()
    eng2.implements("log_softmax", when=lambda x, axis: True)(lambda: log_softmax)
    eng2.bind(b2)
    with pytest.raises(ValueError, match="bad axis"):
        b2.log_softmax(x, 9)


def test_binding_a_name_outside_the_catalogue_is_refused():
    eng = _engine()
    eng.implements("sofmax", when=lambda *a: True)(lambda: None)
    with pytest.raises(RuntimeError, match="'sofmax', which is not a kernel"):
        eng.bind(_fresh_backend())
    with pytest.raises(ValueError, match="registered twice"):
        eng.implements("sofmax", when=lambda *a: True)(lambda: None)


def test_a_disabled_engine_binds_nothing():
    b = _fresh_backend()
    eng = KernelEngine("off", enabled=lambda: False, is_failure=lambda e: True)
    eng.implements("softmax", when=lambda *a: True)(lambda: None)
    before = b.softmax
    eng.bind(b)
    assert b.softmax == before


def _double(x, out):
    for i in _jit.prange(x.size):
        out[i] = 2 * x[i]


def test_lazy_numba_kernels_compile_on_first_call_and_refuse_unsafe_fastmath():
    pytest.importorskip("numba")
    k = _jit.njit(_double, parallel=True, cache=False)
    assert k._compiled is None
    x = np.arange(5.0)
    out = np.empty_like(x)
    k(x, out)
    np.testing.assert_array_equal(out, 2 * x)
    assert k._compiled is not None
    with pytest.raises(ValueError, match="NaN/inf"):
        _jit.njit(_double, fastmath={"nnan"})
    with pytest.raises(ValueError, match="NaN/inf"):
        _jit.njit(_double, fastmath=True)


def _run(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_import_compiles_nothing_and_imports_no_numba():
    r = _run("import sys, gpugrad; print('numba' in sys.modules)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


def test_gpugrad_numba_0_turns_the_engine_off():
    code = (
        "import gpugrad\n"
        "from gpugrad.backend import cpu_backend\n"
        "from gpugrad.backend.numba_kernels import ENGINE\n"
        "b = cpu_backend()\n"
        "print(ENGINE.enabled(), [n for n in ENGINE.names() if hasattr(getattr(b, n), 'engine')])"
    )
    r = _run(code, GPUGRAD_NUMBA="0")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False []"


def test_set_num_threads_reaches_numba():
    pytest.importorskip("numba")
    code = (
        "import gpugrad\n"
        "from gpugrad.backend.numba_kernels import _jit\n"
        "gpugrad.set_num_threads(1)\n"
        "nb = _jit.numba()\n"
        "print(nb.get_num_threads())"
    )
    r = _run(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1"


def test_numba_engine_names_are_all_in_the_catalogue():
    names = set(kernel_names(type(cpu_backend())))
    assert set(NUMBA.names()) <= names
