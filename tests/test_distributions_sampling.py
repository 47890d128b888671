"""Sampling: moments within a few standard errors of the distributions' own mean and
variance (seeded), category frequencies, and rsample gradients (gradcheck with the noise
fixed by the seed; the implicit Gamma/Beta/Dirichlet gradients against exact derivatives)."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
import gpugrad.distributions as gd
from gpugrad.autograd import gradcheck
from tests.utils import assert_close, host

N = 40000


def _t(x, device, requires_grad=False):
    return gpugrad.tensor(
        np.asarray(x, dtype=np.float64), device=device, requires_grad=requires_grad
    )


MOMENT_CASES = {
    "normal": lambda T: gd.Normal(T([0.5, -2.0]), T([1.0, 0.3])),
    "log_normal": lambda T: gd.LogNormal(T([0.1, -0.5]), T([0.4, 0.25])),
    "uniform": lambda T: gd.Uniform(T([0.0, -3.0]), T([1.0, 5.0])),
    "laplace": lambda T: gd.Laplace(T([1.0, -1.0]), T([0.5, 2.0])),
    "exponential": lambda T: gd.Exponential(T([0.5, 4.0])),
    "gamma": lambda T: gd.Gamma(T([0.3, 2.0, 40.0]), T([1.0, 0.5, 3.0])),
    "beta": lambda T: gd.Beta(T([0.5, 2.0, 8.0]), T([0.5, 5.0, 1.5])),
    "dirichlet": lambda T: gd.Dirichlet(T([0.4, 1.5, 3.0])),
    "poisson": lambda T: gd.Poisson(T([0.3, 4.0, 60.0])),
    "bernoulli": lambda T: gd.Bernoulli(probs=T([0.1, 0.5, 0.95])),
    "binomial": lambda T: gd.Binomial(T([5.0, 20.0]), probs=T([0.3, 0.8])),
    "multinomial": lambda T: gd.Multinomial(6, probs=T([0.2, 0.3, 0.5])),
    "one_hot_categorical": lambda T: gd.OneHotCategorical(probs=T([0.1, 0.6, 0.3])),
    "mvn": lambda T: gd.MultivariateNormal(
        T([1.0, -1.0]), covariance_matrix=T([[2.0, 0.6], [0.6, 0.5]])
    ),
    "independent": lambda T: gd.Independent(gd.Normal(T([[0.0, 1.0]]), T([[2.0, 0.5]])), 1),
    "geometric": lambda T: gd.Geometric(probs=T([0.3, 0.8])),
    "kumaraswamy": lambda T: gd.Kumaraswamy(T([0.5, 2.0]), T([1.5, 4.0])),
    "pareto": lambda T: gd.Pareto(T([1.0, 2.0]), T([6.0, 9.0])),
    "weibull": lambda T: gd.Weibull(T([1.0, 2.0]), T([1.5, 3.0])),
    "inverse_gamma": lambda T: gd.InverseGamma(T([6.0, 9.0]), T([1.0, 2.0])),
    "negative_binomial": lambda T: gd.NegativeBinomial(T([2.0, 7.5]), probs=T([0.3, 0.6])),
    "half_normal": lambda T: gd.HalfNormal(T([0.5, 2.0])),
    "gumbel": lambda T: gd.Gumbel(T([0.5, -1.0]), T([1.0, 0.3])),
    "chi2": lambda T: gd.Chi2(T([1.0, 6.0])),
    "student_t": lambda T: gd.StudentT(T([9.0, 30.0]), T([1.0, 0.0]), T([0.5, 2.0])),
    "lowrank_mvn": lambda T: gd.LowRankMultivariateNormal(
        T([1.0, -1.0, 0.0]), T([[1.0], [0.5], [-0.3]]), T([0.2, 0.5, 1.0])
    ),
    "mixture": lambda T: gd.MixtureSameFamily(
        gd.Categorical(probs=T([0.3, 0.7])), gd.Normal(T([-2.0, 1.0]), T([0.5, 1.0]))
    ),
}


@pytest.mark.parametrize("name", sorted(MOMENT_CASES))
def test_sample_moments(device, name):
    d = MOMENT_CASES[name](lambda v: _t(v, device))
    x = host(d.sample((N,)))
    mean, var = host(d.mean), host(d.variance)
    # the standard error of the sample mean, and of the sample variance from the sample's
    # own fourth moment (heavy tails widen it, as they should)
    se_mean = np.sqrt(var / N)
    assert (np.abs(x.mean(0) - mean) < 5 * se_mean + 1e-12).all(), (x.mean(0), mean)
    # (the last term bounds the sample mean's own error, squared, inside x.var)
    se_var = np.std((x - mean) ** 2, axis=0) / np.sqrt(N)
    assert (np.abs(x.var(0) - var) < 5 * se_var + 25 * var / N).all(), (x.var(0), var)


def test_transformed_sample_moments(device):
    d = gd.TransformedDistribution(
        gd.Uniform(_t([0.0], device), _t([1.0], device)), [gd.AffineTransform(2.0, 3.0)]
    )
    x = host(d.sample((N,)))
    assert abs(x.mean() - 3.5) < 5 * np.sqrt(0.75 / N)
    assert ((x >= 2.0) & (x < 5.0)).all()


def test_mvn_sample_covariance(device):
    cov = np.array([[2.0, 0.6, -0.3], [0.6, 0.5, 0.1], [-0.3, 0.1, 1.0]])
    for kw in (
        {"covariance_matrix": _t(cov, device)},
        {"precision_matrix": _t(np.linalg.inv(cov), device)},
        {"scale_tril": _t(np.linalg.cholesky(cov), device)},
    ):
        x = host(gd.MultivariateNormal(_t([0.0, 1.0, 2.0], device), **kw).sample((N,)))
        np.testing.assert_allclose(np.cov(x.T), cov, atol=0.05)


def test_categorical_frequencies(device):
    p = np.array([[0.05, 0.0, 0.25, 0.7], [0.25, 0.25, 0.25, 0.25]])
    d = gd.Categorical(probs=_t(p, device))
    x = host(d.sample((N,)))
    assert x.shape == (N, 2) and x.dtype == np.int64
    for row in range(2):
        freq = np.bincount(x[:, row], minlength=4) / N
        se = np.sqrt(p[row] * (1 - p[row]) / N)
        assert (np.abs(freq - p[row]) <= 5 * se + 1e-12).all(), freq
    assert (x[:, 0] != 1).all()  # a zero-probability category is never drawn


def test_categorical_from_logits_large_batch(device):
    logits = gpugrad.randn(300, 7, device=device)
    d = gd.Categorical(logits=logits)
    x = host(d.sample((2000,)))
    freq = np.stack([np.bincount(x[:, b], minlength=7) for b in range(300)]) / 2000
    p = host(d.probs)
    se = np.sqrt(p * (1 - p) / 2000)
    assert (np.abs(freq - p) <= 6 * se + 1e-3).mean() > 0.999


# ---- rsample gradients ---------------------------------------------------------------------


def _seeded(fn):
    def run(*args):
        gpugrad.manual_seed(3)
        return fn(*args)

    return run


RSAMPLE_CASES = {
    "normal": (lambda a, b: gd.Normal(a, b.exp()), 2),
    "log_normal": (lambda a, b: gd.LogNormal(a, b.exp()), 2),
    "uniform": (lambda a, b: gd.Uniform(a, a + b.exp()), 2),
    "laplace": (lambda a, b: gd.Laplace(a, b.exp()), 2),
    "exponential": (lambda a: gd.Exponential(a.exp()), 1),
    "cauchy": (lambda a, b: gd.Cauchy(a, b.exp()), 2),
    "half_normal": (lambda a: gd.HalfNormal(a.exp()), 1),
    "half_cauchy": (lambda a: gd.HalfCauchy(a.exp()), 1),
    "inverse_gamma_scale": (lambda a: gd.InverseGamma(3.0, a.exp()), 1),
    "pareto": (lambda a, b: gd.Pareto(a.exp(), b.exp() + 1), 2),
    "weibull": (lambda a, b: gd.Weibull(a.exp(), b.exp() + 0.5), 2),
    "logistic_normal": (lambda a, b: gd.LogisticNormal(a, b.exp()), 2),
    "kumaraswamy": (lambda a, b: gd.Kumaraswamy(a.exp(), b.exp()), 2),
    "gumbel": (lambda a, b: gd.Gumbel(a, b.exp()), 2),
    "relaxed_bernoulli": (lambda a: gd.RelaxedBernoulli(a[:1].exp(), logits=a), 1),
    "relaxed_one_hot": (lambda a: gd.RelaxedOneHotCategorical(a[:1].exp(), logits=a), 1),
    "independent": (lambda a, b: gd.Independent(gd.Normal(a, b.exp()), 1), 2),
    "transformed": (
        lambda a, b: gd.TransformedDistribution(
            gd.Normal(a, b.exp()), [gd.TanhTransform(), gd.AffineTransform(1.0, 2.0)]
        ),
        2,
    ),
}


@pytest.mark.parametrize("name", sorted(RSAMPLE_CASES))
def test_rsample_gradcheck_with_fixed_noise(device, name):
    build, nargs = RSAMPLE_CASES[name]
    rng = np.random.default_rng(0)
    params = [_t(rng.normal(size=3) * 0.5, device, requires_grad=True) for _ in range(nargs)]
    assert gradcheck(_seeded(lambda *p: build(*p).rsample((4,))), params)


def test_mvn_rsample_gradcheck(device):
    loc = _t([0.3, -0.2, 1.0], device, requires_grad=True)
    a = _t(np.random.default_rng(1).normal(size=(3, 3)), device, requires_grad=True)

    def from_cov(m, a):
        cov = a @ a.mT + 3 * gpugrad.eye(3, dtype=gpugrad.float64, device=device)
        return gd.MultivariateNormal(m, covariance_matrix=cov).rsample((2,))

    def from_prec(m, a):
        prec = a @ a.mT + 3 * gpugrad.eye(3, dtype=gpugrad.float64, device=device)
        return gd.MultivariateNormal(m, precision_matrix=prec).rsample((2,))

    def from_tril(m, a):
        eye = gpugrad.eye(3, dtype=gpugrad.float64, device=device)
        return gd.MultivariateNormal(m, scale_tril=a.tril(-1) + eye * 2).rsample((2,))

    for fn in (from_cov, from_prec, from_tril):
        assert gradcheck(_seeded(fn), (loc, a))


def test_rsample_of_a_normal_equals_torch_formula(device):
    """rsample is loc + eps * scale with eps the seeded standard normal draws."""
    loc = _t([0.5, -1.0], device, requires_grad=True)
    scale = _t([2.0, 0.3], device, requires_grad=True)
    gpugrad.manual_seed(9)
    x = gd.Normal(loc, scale).rsample((3,))
    gpugrad.manual_seed(9)
    eps = gpugrad.randn(3, 2, dtype=gpugrad.float64, device=device)
    assert_close(x, loc.detach() + eps * scale.detach())
    x.sum().backward()
    assert_close(scale.grad, eps.sum(0))
    assert_close(loc.grad, [3.0, 3.0])


def _gamma_cdf_grad(alpha, x):
    scipy_special = pytest.importorskip("scipy.special")
    h = 1e-6 * alpha
    dp = (scipy_special.gammainc(alpha + h, x) - scipy_special.gammainc(alpha - h, x)) / (2 * h)
    pdf = np.exp((alpha - 1) * np.log(x) - x - scipy_special.gammaln(alpha))
    return -dp / pdf


def test_gamma_rsample_gradients(device):
    conc = _t([0.4, 2.0, 15.0], device, requires_grad=True)
    rate = _t([2.0, 0.5, 1.0], device, requires_grad=True)
    x = gd.Gamma(conc, rate).rsample()
    x.sum().backward()
    g = host(x.detach()) * np.array([2.0, 0.5, 1.0])  # the standard Gamma draws
    expected = _gamma_cdf_grad(np.array([0.4, 2.0, 15.0]), g) / np.array([2.0, 0.5, 1.0])
    assert_close(conc.grad, expected, rtol=1e-6)
    assert_close(rate.grad, -host(x.detach()) / np.array([2.0, 0.5, 1.0]))


def test_dirichlet_rsample_gradient_is_the_chain_through_gamma_draws(device):
    alpha = np.array([0.7, 2.0, 4.5])
    conc = _t(alpha, device, requires_grad=True)
    gpugrad.manual_seed(21)
    x = gd.Dirichlet(conc).rsample()
    w = np.array([1.0, -2.0, 0.5])
    (x * _t(w, device)).sum().backward()
    # the same draws, unnormalized: the Gamma(alpha_i) variables behind x
    gpugrad.manual_seed(21)
    g = host(gpugrad.ops.special._standard_gamma(_t(alpha, device)))
    assert_close(x, g / g.sum())
    dg = _gamma_cdf_grad(alpha, g)  # d g_i / d alpha_i
    s = g.sum()
    # x_j = g_j / s: dx_j/dalpha_i = (delta_ij - x_j) dg_i / s
    jac = (np.eye(3) - (g / s)[None, :]) * (dg / s)[:, None]
    assert_close(conc.grad, jac @ w, rtol=1e-6)


@pytest.mark.parametrize("family", ["beta", "dirichlet", "gamma"])
def test_reparameterized_gradients_are_unbiased(device, family):
    """The mean of d sample / d parameter over many draws is d mean / d parameter."""
    n = 20000
    if family == "beta":
        a, b = _t([1.5], device, True), _t([3.0], device, True)
        x = gd.Beta(a, b).rsample((n,))
        x.mean().backward()
        total = 4.5
        expected = (b.detach() / total**2, -a.detach() / total**2)
        grads = (a.grad, b.grad)
        samples = host(x.detach())
    elif family == "dirichlet":
        c = _t([0.5, 1.0, 2.5], device, True)
        x = gd.Dirichlet(c).rsample((n,))
        x[:, 0].mean().backward()
        s = 4.0
        expected = (_t([(s - 0.5) / s**2, -0.5 / s**2, -0.5 / s**2], device),)
        grads = (c.grad,)
        samples = host(x.detach()[:, 0])
    else:
        c = _t([0.6], device, True)
        x = gd.Gamma(c, 2.0).rsample((n,))
        x.mean().backward()
        expected = (_t([0.5], device),)
        grads = (c.grad,)
        samples = host(x.detach())
    spread = samples.std() * 3  # a generous scale for the per-draw gradients' spread
    for g, e in zip(grads, expected):
        assert np.abs(host(g) - host(e)).max() < 5 * spread / np.sqrt(n) + 1e-3


def test_straight_through_one_hot(device):
    probs = _t([0.2, 0.3, 0.5], device, requires_grad=True)
    d = gd.OneHotCategoricalStraightThrough(probs=probs)
    x = d.rsample((4,))
    assert tuple(x.shape) == (4, 3) and bool((x.sum(-1) == 1).all())
    (x * _t([1.0, 2.0, 3.0], device)).sum().backward()
    assert probs.grad is not None and np.isfinite(host(probs.grad)).all()


def test_sample_carries_no_graph(device):
    loc = _t([0.0], device, requires_grad=True)
    for d in (gd.Normal(loc, 1.0), gd.Gamma(loc.exp(), 1.0), gd.Dirichlet(loc.exp().expand(3))):
        assert not d.sample((2,)).requires_grad
        assert d.rsample((2,)).requires_grad
