"""gpugrad.special and ops/special.py: values against torch, gradients by gradcheck, the
Gamma sampler's reparameterization gradient against the exact implicit derivative."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
import gpugrad.special as gs
from gpugrad.autograd import gradcheck, gradgradcheck
from gpugrad.ops import special as ops_special
from tests.utils import assert_close, host, t

torch = pytest.importorskip("torch")
scipy_special = pytest.importorskip("scipy.special")

# negatives (between the poles), small, moderate and large arguments
GRID = np.array([-3.7, -2.5, -1.2, -0.3, 1e-3, 0.2, 0.5, 1.0, 1.5, 2.0, 3.3, 7.9, 12.5, 40.0])


def _torch(x: np.ndarray):
    return torch.tensor(x, dtype=torch.float64)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (gs.gammaln, torch.special.gammaln),
        (gs.digamma, torch.special.digamma),
        (gs.psi, torch.special.psi),
        (gpugrad.ops.special.lgamma, torch.lgamma),
    ],
)
def test_gamma_family_matches_torch(device, ours, theirs):
    assert_close(ours(t(GRID, device)), theirs(_torch(GRID)).numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_polygamma_matches_torch(device, n):
    x = GRID[GRID > 0]
    assert_close(gs.polygamma(n, t(x, device)), torch.polygamma(n, _torch(x)).numpy(), rtol=1e-9)


def test_poles_and_signed_zero_as_torch(device):
    x = np.array([0.0, -0.0, -1.0, -2.0, np.inf, np.nan])
    for ours, theirs in ((gs.gammaln, torch.lgamma), (gs.digamma, torch.digamma)):
        np.testing.assert_array_equal(host(ours(t(x, device))), theirs(_torch(x)).numpy())


def test_dtypes_follow_torch(device):
    x32 = gpugrad.tensor([0.5, 2.0], dtype=gpugrad.float32, device=device)
    assert gs.gammaln(x32).dtype == gpugrad.float32
    assert gs.digamma(gpugrad.tensor([1, 2, 3], device=device)).dtype == gpugrad.float32
    assert_close(
        gs.polygamma(1, gpugrad.tensor([1, 2], device=device)),
        torch.polygamma(1, torch.tensor([1, 2])).numpy(),
        rtol=1e-6,
    )


def test_multigammaln_and_erfinv_match_torch(device):
    x = np.array([2.5, 3.0, 7.2])
    for p in (1, 2, 3):
        assert_close(
            gs.multigammaln(t(x, device), p),
            torch.special.multigammaln(_torch(x), p).numpy(),
            rtol=1e-10,
        )
    u = np.array([-0.999, -0.5, 0.0, 0.1, 0.7, 0.99999])
    assert_close(gs.erfinv(t(u, device)), torch.erfinv(_torch(u)).numpy(), rtol=1e-10)
    # PyTorch 2.13 no longer checks the domain (no data read back): its values below it
    below = np.array([0.9, 0.5, 3.0])
    np.testing.assert_allclose(  # inf at the pole 0.5 on both sides
        gs.multigammaln(t(below, device), 3).cpu().numpy(),
        torch.special.multigammaln(_torch(below), 3).numpy(),
        rtol=1e-10,
    )


@pytest.mark.parametrize(
    "fn",
    [gs.gammaln, gs.digamma, lambda x: gs.polygamma(2, x), gs.erfinv, gs.ndtr, gs.entr],
    ids=["gammaln", "digamma", "polygamma2", "erfinv", "ndtr", "entr"],
)
def test_gradients(device, fn):
    x = t([0.3, 0.55, 0.8], device, requires_grad=True)
    assert gradcheck(fn, (x,))


def test_second_derivatives(device):
    x = t([0.4, 1.7, 5.0], device, requires_grad=True)
    assert gradgradcheck(gs.gammaln, (x,))
    assert gradgradcheck(lambda v: gs.multigammaln(v, 2), (t([1.4, 3.0], device, True),))


@pytest.mark.parametrize(
    "name",
    [
        "erf",
        "erfc",
        "expit",
        "exp2",
        "expm1",
        "log1p",
        "logit",
        "ndtr",
        "entr",
        "sinc",
        "round",
    ],
)
def test_reexports_match_torch_special(device, name):
    x = np.array([-1.5, -0.2, 0.0, 0.3, 0.9, 2.5])
    if name == "logit":
        x = np.array([0.01, 0.3, 0.5, 0.97])
    ours = getattr(gs, name)(t(x, device))
    theirs = getattr(torch.special, name)(_torch(x)).numpy()
    np.testing.assert_allclose(host(ours), theirs, rtol=1e-10, atol=1e-12)


def test_binary_and_softmax_faces_match_torch(device):
    x = np.array([0.0, 0.0, 1.5, 2.0])
    y = np.array([0.0, np.nan, -0.5, 3.0])
    for name in ("xlogy", "xlog1py"):
        ours = getattr(gs, name)(t(x, device), t(y, device))
        np.testing.assert_allclose(
            host(ours), getattr(torch.special, name)(_torch(x), _torch(y)).numpy(), rtol=1e-12
        )
    m = np.arange(6.0).reshape(2, 3) / 3
    for name in ("softmax", "log_softmax"):
        ours = getattr(gs, name)(t(m, device), 1)
        assert_close(ours, getattr(torch.special, name)(_torch(m), 1).numpy())
    assert_close(gs.logsumexp(t(m, device), 1), torch.special.logsumexp(_torch(m), 1).numpy())


def test_entr_nan_and_negative(device):
    x = np.array([-1.0, 0.0, np.nan, 2.0])
    np.testing.assert_array_equal(
        np.isnan(host(gs.entr(t(x, device)))), np.isnan(torch.special.entr(_torch(x)).numpy())
    )
    assert host(gs.entr(t(x, device)))[0] == -np.inf


# ---- Gamma draws --------------------------------------------------------------------------


def _implicit_gamma_grad(alpha: np.ndarray, x: np.ndarray) -> np.ndarray:
    """-(dP/dalpha) / pdf by a central difference of SciPy's regularized incomplete gamma."""
    h = 1e-6 * alpha
    dp = (scipy_special.gammainc(alpha + h, x) - scipy_special.gammainc(alpha - h, x)) / (2 * h)
    pdf = np.exp((alpha - 1) * np.log(x) - x - scipy_special.gammaln(alpha))
    return -dp / pdf


@pytest.mark.parametrize("alpha", [0.05, 0.7, 1.0, 4.0, 30.0, 39.9, 40.1, 120.0, 800.0, 5e4])
def test_standard_gamma_grad_is_the_implicit_derivative(device, alpha):
    rng = np.random.default_rng(7)
    x = np.maximum(rng.standard_gamma(alpha, 300), 1e-250)
    a = np.full_like(x, alpha)
    ours = host(ops_special._standard_gamma_grad(t(a, device), t(x, device)))
    exact = _implicit_gamma_grad(a, x)
    ok = np.abs(exact) > 1e-200
    # the series (alpha <= 40) is exact to rounding; the asymptotic expansion above to 1e-4
    np.testing.assert_allclose(ours[ok], exact[ok], rtol=1e-4 if alpha > 40 else 1e-6)
    # PyTorch's approximation agrees to its own accuracy (about 1e-3)
    theirs = torch._standard_gamma_grad(_torch(a), _torch(x)).numpy()
    np.testing.assert_allclose(ours[ok], theirs[ok], rtol=2e-3, atol=1e-12)


def test_standard_gamma_backward_uses_that_gradient(device):
    alpha = t([0.5, 2.0, 9.0], device, requires_grad=True)
    draws = ops_special._standard_gamma(alpha)
    w = np.array([0.3, -1.2, 0.7])
    (draws * t(w, device)).sum().backward()
    x = host(draws.detach())
    assert (x > 0).all()
    expected = w * _implicit_gamma_grad(np.array([0.5, 2.0, 9.0]), x)
    assert_close(alpha.grad, expected, rtol=1e-6)


def test_samplers_follow_the_seed_and_dtype(device):
    for sampler, args in (
        (ops_special._standard_gamma, (gpugrad.full((50,), 2.5, device=device),)),
        (ops_special.poisson, (gpugrad.full((50,), 3.0, device=device),)),
        (
            ops_special.binomial,
            (gpugrad.full((50,), 10.0, device=device), gpugrad.full((50,), 0.3, device=device)),
        ),
    ):
        gpugrad.manual_seed(5)
        a = host(sampler(*args))
        gpugrad.manual_seed(5)
        b = host(sampler(*args))
        np.testing.assert_array_equal(a, b)
        assert sampler(*args).dtype == gpugrad.float32
    g = gpugrad.Generator(device).manual_seed(3)
    a = host(ops_special.poisson(gpugrad.full((20,), 4.0, device=device), generator=g))
    g.manual_seed(3)
    b = host(ops_special.poisson(gpugrad.full((20,), 4.0, device=device), generator=g))
    np.testing.assert_array_equal(a, b)


def test_sampler_moments(device):
    n = 40000
    gamma = host(ops_special._standard_gamma(gpugrad.full((n,), 3.0, device=device)))
    pois = host(ops_special.poisson(gpugrad.full((n,), 6.0, device=device)))
    binom = host(
        ops_special.binomial(
            gpugrad.full((n,), 12.0, device=device), gpugrad.full((n,), 0.25, device=device)
        )
    )
    for x, mean, var in ((gamma, 3.0, 3.0), (pois, 6.0, 6.0), (binom, 3.0, 2.25)):
        assert abs(x.mean() - mean) < 5 * np.sqrt(var / n)
        assert abs(x.var() - var) < 5 * np.std((x - mean) ** 2) / np.sqrt(n)
    assert (pois == np.round(pois)).all() and (binom <= 12).all()


def test_without_scipy_the_fallbacks_match(device, monkeypatch):
    """SciPy is optional on the CPU: lgamma and digamma have fallbacks, polygamma says so."""
    if device != "cpu":
        pytest.skip("the fallbacks are the CPU backend's")
    from gpugrad.backend import base

    monkeypatch.setattr(base, "_scipy_special", lambda: None)
    x = t(GRID, device)
    assert_close(gs.gammaln(x), torch.lgamma(_torch(GRID)).numpy(), rtol=1e-12)
    assert_close(gs.digamma(x), torch.digamma(_torch(GRID)).numpy(), rtol=1e-10, atol=1e-12)
    u = np.array([-0.9, 0.0, 0.3, 0.999])
    assert_close(gs.erfinv(t(u, device)), torch.erfinv(_torch(u)).numpy(), rtol=1e-10)
    with pytest.raises(RuntimeError, match="polygamma.*needs SciPy"):
        gs.polygamma(1, x)


def test_gammainc_matches_torch_and_differentiates_in_x(device):
    a = np.array([0.3, 1.0, 2.5, 9.0])
    x = np.array([0.2, 1.5, 2.0, 12.0])
    for ours, theirs in (
        (gs.gammainc, torch.special.gammainc),
        (gs.gammaincc, torch.special.gammaincc),
    ):
        assert_close(
            ours(t(a, device), t(x, device)), theirs(_torch(a), _torch(x)).numpy(), rtol=1e-10
        )
        assert gradcheck(lambda v, f=ours: f(t(a, device), v), (t(x, device, requires_grad=True),))
    with pytest.raises(RuntimeError, match="derivative for aten::igamma is not implemented"):
        gs.gammainc(t(a, device, requires_grad=True), t(x, device)).sum().backward()


def test_top_level_and_tensor_method_spellings_as_torch():
    torch = pytest.importorskip("torch")
    x = np.array([0.3, 1.7, 4.2])
    y = np.array([0.5, 2.0, 3.0])
    gx, gy, tx, ty = gpugrad.tensor(x), gpugrad.tensor(y), torch.tensor(x), torch.tensor(y)
    pairs = [
        (gpugrad.lgamma(gx), torch.lgamma(tx)),
        (gx.lgamma(), tx.lgamma()),
        (gpugrad.digamma(gx), torch.digamma(tx)),
        (gx.digamma(), tx.digamma()),
        (gpugrad.polygamma(1, gx), torch.polygamma(1, tx)),
        (gx.polygamma(2), tx.polygamma(2)),
        (gpugrad.erfinv(gx / 5), torch.erfinv(tx / 5)),
        (gx.mvlgamma(1), tx.mvlgamma(1)),
        (gpugrad.igamma(gx, gy), torch.igamma(tx, ty)),
        (gx.igammac(gy), tx.igammac(ty)),
    ]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-7, atol=1e-10)
