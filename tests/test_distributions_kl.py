"""kl_divergence / register_kl, transforms, biject_to / transform_to and the differentiable
Cholesky behind MultivariateNormal, against real torch."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gpugrad
import gpugrad.distributions as gd
from gpugrad.autograd import gradcheck
from gpugrad.distributions import _triangular
from tests.utils import host

torch = pytest.importorskip("torch")
td = torch.distributions

R = np.random.default_rng(77)


def _spd(n):
    a = R.normal(size=(n, n))
    return a @ a.T + n * np.eye(n)


def _u(*shape):
    return R.uniform(0.5, 2.5, shape)


P = {
    "Bernoulli": lambda D, T: D.Bernoulli(probs=T([0.0, 0.3, 0.9, 1.0])),
    "Binomial": lambda D, T: D.Binomial(T([5.0, 5.0, 5.0, 5.0]), probs=T([0.2, 0.5, 0.7, 0.9])),
    "Categorical": lambda D, T: D.Categorical(probs=T([[0.2, 0.0, 0.8], [0.3, 0.3, 0.4]])),
    "OneHotCategorical": lambda D, T: D.OneHotCategorical(probs=T([[0.2, 0.1, 0.7]])),
    "Normal": lambda D, T: D.Normal(T([0.1, 0.5, -0.4, 0.3]), T([1.0, 0.4, 2.0, 0.7])),
    "Laplace": lambda D, T: D.Laplace(T([0.0, 1.0, -0.3, 0.2]), T([0.8, 1.2, 0.5, 2.0])),
    "Uniform": lambda D, T: D.Uniform(T([0.1, 0.2, -1.0, 0.05]), T([0.9, 0.5, 3.0, 0.6])),
    "Exponential": lambda D, T: D.Exponential(T([0.5, 1.0, 2.0, 3.0])),
    "Gamma": lambda D, T: D.Gamma(T([0.5, 1.0, 2.0, 5.0]), T([1.0, 2.0, 0.5, 1.5])),
    "Beta": lambda D, T: D.Beta(T([0.5, 1.5, 3.0, 2.0]), T([2.0, 0.7, 3.0, 1.0])),
    "Dirichlet": lambda D, T: D.Dirichlet(T([[0.5, 1.0, 2.0], [3.0, 1.0, 0.4]])),
    "Poisson": lambda D, T: D.Poisson(T([0.5, 1.0, 2.0, 7.0])),
    "Cauchy": lambda D, T: D.Cauchy(T([0.1, 0.5, -0.4, 0.3]), T([1.0, 0.4, 2.0, 0.7])),
    "Geometric": lambda D, T: D.Geometric(probs=T([0.2, 0.5, 0.7, 0.9])),
    "Gumbel": lambda D, T: D.Gumbel(T([0.1, 0.5, -0.4, 0.3]), T([1.0, 0.4, 2.0, 0.7])),
    "HalfNormal": lambda D, T: D.HalfNormal(T([1.0, 0.4, 2.0, 0.7])),
    "Chi2": lambda D, T: D.Chi2(T([1.0, 2.0, 3.0, 5.0])),
    "Pareto": lambda D, T: D.Pareto(T([0.5, 1.0, 2.0, 1.5]), T([0.8, 1.5, 3.0, 2.5])),
}
Q = {
    "Bernoulli": lambda D, T: D.Bernoulli(probs=T([0.5, 0.0, 0.2, 1.0])),
    "Binomial": lambda D, T: D.Binomial(T([5.0, 5.0, 5.0, 5.0]), probs=T([0.5, 0.4, 0.1, 0.6])),
    "Categorical": lambda D, T: D.Categorical(probs=T([[0.5, 0.2, 0.3], [0.0, 0.5, 0.5]])),
    "OneHotCategorical": lambda D, T: D.OneHotCategorical(probs=T([[0.3, 0.3, 0.4]])),
    "Normal": lambda D, T: D.Normal(T([0.0, -0.5, 1.0, 0.2]), T([0.5, 1.5, 1.0, 0.3])),
    "Laplace": lambda D, T: D.Laplace(T([0.5, -1.0, 0.0, 0.1]), T([1.0, 0.6, 2.0, 0.9])),
    "Uniform": lambda D, T: D.Uniform(T([0.0, 0.3, -2.0, 0.0]), T([1.0, 0.9, 4.0, 1.0])),
    "Exponential": lambda D, T: D.Exponential(T([1.5, 0.3, 2.0, 0.8])),
    "Gamma": lambda D, T: D.Gamma(T([1.5, 0.8, 2.5, 3.0]), T([0.7, 1.0, 2.0, 1.0])),
    "Beta": lambda D, T: D.Beta(T([1.0, 2.0, 0.5, 4.0]), T([1.0, 3.0, 0.5, 2.0])),
    "Dirichlet": lambda D, T: D.Dirichlet(T([[1.0, 1.0, 1.0], [0.5, 2.0, 2.0]])),
    "Poisson": lambda D, T: D.Poisson(T([1.0, 3.0, 0.2, 7.0])),
    "Cauchy": lambda D, T: D.Cauchy(T([0.0, -0.5, 1.0, 0.2]), T([0.5, 1.5, 1.0, 0.3])),
    "Geometric": lambda D, T: D.Geometric(probs=T([0.5, 0.1, 0.7, 0.3])),
    "Gumbel": lambda D, T: D.Gumbel(T([0.0, -0.5, 1.0, 0.2]), T([0.5, 1.5, 1.0, 0.3])),
    "HalfNormal": lambda D, T: D.HalfNormal(T([0.5, 1.5, 1.0, 0.3])),
    "Chi2": lambda D, T: D.Chi2(T([2.0, 1.0, 4.0, 3.0])),
    "Pareto": lambda D, T: D.Pareto(T([1.0, 0.5, 2.0, 3.0]), T([1.0, 2.0, 0.5, 2.5])),
}

SAME = sorted(P)
CROSS = [
    ("Bernoulli", "Poisson"),
    ("Beta", "Exponential"),
    ("Beta", "Gamma"),
    ("Beta", "Normal"),
    ("Beta", "Uniform"),
    ("Exponential", "Beta"),
    ("Exponential", "Gamma"),
    ("Exponential", "Normal"),
    ("Exponential", "Uniform"),
    ("Gamma", "Beta"),
    ("Gamma", "Exponential"),
    ("Gamma", "Normal"),
    ("Gamma", "Uniform"),
    ("Laplace", "Beta"),
    ("Laplace", "Exponential"),
    ("Laplace", "Gamma"),
    ("Laplace", "Normal"),
    ("Laplace", "Uniform"),
    ("Normal", "Beta"),
    ("Normal", "Exponential"),
    ("Normal", "Gamma"),
    ("Normal", "Laplace"),
    ("Normal", "Uniform"),
    ("Poisson", "Bernoulli"),
    ("Poisson", "Binomial"),
    ("Uniform", "Beta"),
    ("Uniform", "Exponential"),
    ("Uniform", "Gamma"),
    ("Uniform", "Normal"),
    ("Exponential", "Gumbel"),
    ("Gamma", "Gumbel"),
    ("Gumbel", "Beta"),
    ("Gumbel", "Exponential"),
    ("Gumbel", "Gamma"),
    ("Gumbel", "Normal"),
    ("Gumbel", "Uniform"),
    ("Normal", "Gumbel"),
    ("Uniform", "Gumbel"),
    ("Chi2", "Gamma"),
    ("Chi2", "Exponential"),
    ("Beta", "Pareto"),
    ("Exponential", "Pareto"),
    ("Gamma", "Pareto"),
    ("Gumbel", "Pareto"),
    ("Laplace", "Pareto"),
    ("Normal", "Pareto"),
    ("Pareto", "Beta"),
    ("Pareto", "Uniform"),
    ("Pareto", "Exponential"),
    ("Pareto", "Gamma"),
    ("Pareto", "Normal"),
    ("Uniform", "Pareto"),
]


def _both(build, device):
    ours = build(gd, lambda v: gpugrad.tensor(v, dtype=gpugrad.float64, device=device))
    theirs = build(td, lambda v: torch.tensor(v, dtype=torch.float64))
    return ours, theirs


def _same(ours, theirs, rtol=1e-9, atol=1e-11):
    np.testing.assert_allclose(host(ours), theirs.detach().numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", SAME)
def test_kl_same_family_matches_torch(device, name):
    p, tp = _both(P[name], device)
    q, tq = _both(Q[name], device)
    _same(gd.kl_divergence(p, q), td.kl_divergence(tp, tq))
    _same(gd.kl_divergence(p, p), td.kl_divergence(tp, tp), atol=1e-10)


@pytest.mark.parametrize(("p_name", "q_name"), CROSS, ids=[f"{a}-{b}" for a, b in CROSS])
def test_kl_across_families_matches_torch(device, p_name, q_name):
    p, tp = _both(P[p_name], device)
    q, tq = _both(P[q_name] if q_name != p_name else Q[q_name], device)
    _same(gd.kl_divergence(p, q), td.kl_divergence(tp, tq))


def test_kl_multivariate_normal_matches_torch(device):
    loc_p, loc_q = R.normal(size=(2, 3)), R.normal(size=(3,))
    cov_p = np.stack([_spd(3), _spd(3)])
    prec_q = _spd(3)
    T = lambda v: gpugrad.tensor(v, dtype=gpugrad.float64, device=device)  # noqa: E731
    p = gd.MultivariateNormal(T(loc_p), covariance_matrix=T(cov_p))
    q = gd.MultivariateNormal(T(loc_q), precision_matrix=T(prec_q))
    tp = td.MultivariateNormal(torch.tensor(loc_p), covariance_matrix=torch.tensor(cov_p))
    tq = td.MultivariateNormal(torch.tensor(loc_q), precision_matrix=torch.tensor(prec_q))
    _same(gd.kl_divergence(p, q), td.kl_divergence(tp, tq))
    _same(gd.kl_divergence(q, p), td.kl_divergence(tq, tp))
    _same(q.covariance_matrix, tq.covariance_matrix)
    _same(p.precision_matrix, tp.precision_matrix)
    _same(q.scale_tril, tq.scale_tril)
    with pytest.raises(ValueError, match="different event shapes"):
        gd.kl_divergence(p, gd.MultivariateNormal(T([0.0, 0.0]), scale_tril=T(np.eye(2))))


def test_kl_independent_and_transformed_match_torch(device):
    def build(D, T):
        return D.Independent(D.Normal(T([[0.0, 1.0], [2.0, 3.0]]), T([[1.0, 2.0], [0.5, 1.0]])), 1)

    def build_q(D, T):
        return D.Independent(D.Normal(T([[0.5, 0.0], [2.0, 1.0]]), T([[2.0, 1.0], [0.5, 3.0]])), 1)

    (p, tp), (q, tq) = _both(build, device), _both(build_q, device)
    _same(gd.kl_divergence(p, q), td.kl_divergence(tp, tq))
    exp_ours, exp_torch = gd.ExpTransform(), td.ExpTransform()
    lp, tlp = (
        gd.LogNormal(p.base_dist.loc, p.base_dist.scale),
        td.LogNormal(tp.base_dist.loc, tp.base_dist.scale),
    )
    lq, tlq = (
        gd.LogNormal(q.base_dist.loc, q.base_dist.scale),
        td.LogNormal(tq.base_dist.loc, tq.base_dist.scale),
    )
    _same(gd.kl_divergence(lp, lq), td.kl_divergence(tlp, tlq))
    a = gd.TransformedDistribution(p.base_dist, [exp_ours])
    b = gd.TransformedDistribution(q.base_dist, [gd.AffineTransform(0.0, 2.0)])
    with pytest.raises(NotImplementedError):
        gd.kl_divergence(a, b)
    assert exp_torch == td.ExpTransform()


def test_kl_is_differentiable(device):
    loc = gpugrad.tensor([0.3, -0.1], dtype=gpugrad.float64, device=device, requires_grad=True)
    log_scale = gpugrad.tensor(
        [0.2, -0.5], dtype=gpugrad.float64, device=device, requires_grad=True
    )
    assert gradcheck(
        lambda m, s: gd.kl_divergence(gd.Normal(m, s.exp()), gd.Normal(0.0, 1.0)), (loc, log_scale)
    )
    logits = gpugrad.tensor(
        [[0.3, -0.1, 0.7]], dtype=gpugrad.float64, device=device, requires_grad=True
    )
    ref = gd.Categorical(logits=gpugrad.zeros(1, 3, dtype=gpugrad.float64, device=device))
    assert gradcheck(lambda lg: gd.kl_divergence(gd.Categorical(logits=lg), ref), (logits,))


def test_kl_dispatch_and_errors(device):
    n = gd.Normal(0.0, 1.0)
    with pytest.raises(NotImplementedError) as info:
        gd.kl_divergence(gd.Categorical(logits=gpugrad.zeros(3)), n)
    with pytest.raises(NotImplementedError) as tinfo:
        td.kl_divergence(td.Categorical(logits=torch.zeros(3)), td.Normal(0.0, 1.0))
    assert str(info.value) == str(tinfo.value)

    class MyNormal(gd.Normal):
        pass

    # a subclass dispatches to its base's formula until a more specific pair is registered
    assert float(gd.kl_divergence(MyNormal(1.0, 1.0), n)) == pytest.approx(0.5)

    @gd.register_kl(MyNormal, gd.Normal)
    def _kl_mine(p, q):
        return gpugrad.tensor(42.0)

    assert float(gd.kl_divergence(MyNormal(1.0, 1.0), n)) == 42.0
    assert float(gd.kl_divergence(gd.Normal(1.0, 1.0), n)) == pytest.approx(0.5)
    with pytest.raises(TypeError):
        gd.register_kl(int, gd.Normal)


# ---- transforms ---------------------------------------------------------------------------

TRANSFORMS = {
    "exp": lambda D, T: D.ExpTransform(),
    "sigmoid": lambda D, T: D.SigmoidTransform(),
    "tanh": lambda D, T: D.TanhTransform(),
    "softplus": lambda D, T: D.SoftplusTransform(),
    "affine": lambda D, T: D.AffineTransform(T([0.5, -1.0, 2.0]), T([2.0, -0.5, 1.5])),
    "affine_scalar": lambda D, T: D.AffineTransform(1.0, -3.0),
    "affine_event": lambda D, T: D.AffineTransform(T([0.5, -1.0, 2.0]), T([2.0, 0.5, 1.5]), 1),
    "power": lambda D, T: D.PowerTransform(T([2.0, 0.5, 3.0])),
    "compose": lambda D, T: D.ComposeTransform(
        [D.AffineTransform(0.3, 2.0), D.TanhTransform(), D.AffineTransform(1.0, 3.0)]
    ),
    "inverse_exp": lambda D, T: D.ExpTransform().inv,
    "stick_breaking": lambda D, T: D.StickBreakingTransform(),
    "independent": lambda D, T: D.transforms.IndependentTransform(D.ExpTransform(), 1),
    "reshape": lambda D, T: D.transforms.ReshapeTransform((3,), (3, 1)),
}


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_transforms_match_torch(device, name):
    ours, theirs = _both(TRANSFORMS[name], device)
    x = R.normal(size=(2, 3)) * 0.8
    if name == "power":
        x = np.abs(x) + 0.2
    if name == "inverse_exp":
        x = np.exp(x)
    tx = torch.tensor(x)
    gx = gpugrad.tensor(x, device=device)
    ty, gy = theirs(tx), ours(gx)
    _same(gy, ty)
    _same(ours.inv(gy), theirs.inv(ty), rtol=1e-7, atol=1e-9)
    _same(ours.log_abs_det_jacobian(gx, gy), theirs.log_abs_det_jacobian(tx, ty), rtol=1e-8)
    assert repr(ours.domain).replace("gpugrad.", "torch.") == repr(theirs.domain)
    assert repr(ours.codomain).replace("gpugrad.", "torch.") == repr(theirs.codomain)
    assert ours.bijective == theirs.bijective
    assert tuple(ours.forward_shape((2, 3))) == tuple(theirs.forward_shape((2, 3)))
    out_shape = tuple(theirs.forward_shape((2, 3)))
    assert tuple(ours.inverse_shape(out_shape)) == tuple(theirs.inverse_shape(out_shape))


def test_transform_reprs_signs_and_caching(device):
    assert repr(gd.ExpTransform()) == repr(td.ExpTransform())
    assert repr(gd.ExpTransform().inv) == repr(td.ExpTransform().inv)
    c = gd.ComposeTransform([gd.ExpTransform(), gd.AffineTransform(1.0, -2.0)])
    tc = td.ComposeTransform([td.ExpTransform(), td.AffineTransform(1.0, -2.0)])
    assert c.sign == tc.sign == -1
    t = gd.ExpTransform()
    assert t.inv.inv is t and t.inv is t.inv
    cached = gd.TanhTransform(cache_size=1)
    x = gpugrad.tensor([30.0], dtype=gpugrad.float64, device=device)
    y = cached(x)
    assert cached.inv(y) is x  # tanh(30) is 1.0 in float64: only the cache gets x back
    with pytest.raises(ValueError, match="cache_size must be 0 or 1"):
        gd.ExpTransform(cache_size=2)
    s = gd.SoftmaxTransform()
    v = gpugrad.tensor([[1.0, 2.0, 0.5]], dtype=gpugrad.float64, device=device)
    _same(s(v), td.SoftmaxTransform()(torch.tensor([[1.0, 2.0, 0.5]], dtype=torch.float64)))
    assert gd.ExpTransform() == gd.ExpTransform() and gd.ExpTransform() != gd.SigmoidTransform()


def test_transformed_distribution_gradients(device):
    loc = gpugrad.tensor([0.3, -0.2], dtype=gpugrad.float64, device=device, requires_grad=True)
    value = gpugrad.tensor([0.4, -0.9], dtype=gpugrad.float64, device=device)

    def log_prob(m):
        d = gd.TransformedDistribution(
            gd.Normal(m, 0.7), [gd.TanhTransform(), gd.AffineTransform(0.1, 1.5)]
        )
        return d.log_prob(value)

    assert gradcheck(log_prob, (loc,))


@pytest.mark.parametrize(
    "constraint",
    [
        "real",
        "positive",
        "nonnegative",
        "unit_interval",
        "simplex",
        "real_vector",
        "greater_than",
        "less_than",
        "interval",
        "half_open_interval",
    ],
)
@pytest.mark.parametrize("registry", ["biject_to", "transform_to"])
def test_biject_to_and_transform_to(device, constraint, registry):
    def make(C):
        if constraint == "greater_than":
            return C.greater_than(1.5)
        if constraint == "less_than":
            return C.less_than(-2.0)
        if constraint == "interval":
            return C.interval(-1.0, 3.0)
        if constraint == "half_open_interval":
            return C.half_open_interval(0.5, 1.0)
        return getattr(C, constraint)

    c, tc = make(gd.constraints), make(td.constraints)
    ours = getattr(gd, registry)(c)
    theirs = getattr(td, registry)(tc)
    assert type(ours).__name__ == type(theirs).__name__
    x = R.normal(size=(4, 3)) * 2
    y = ours(gpugrad.tensor(x, device=device))
    _same(y, theirs(torch.tensor(x)))
    assert bool(c.check(y).all())


def test_transform_registry_errors():
    with pytest.raises(NotImplementedError, match="Cannot transform _Boolean constraints"):
        gd.biject_to(gd.constraints.boolean)
    assert type(gd.transform_to(gd.constraints.lower_cholesky)).__name__ == "LowerCholeskyTransform"


# ---- the Cholesky factor and triangular solves under MultivariateNormal ---------------------


def test_cholesky_matches_and_differentiates(device):
    a = _spd(4)
    A = gpugrad.tensor(a, device=device)
    np.testing.assert_allclose(host(_triangular.cholesky(A)), np.linalg.cholesky(a), rtol=1e-12)
    np.testing.assert_allclose(
        host(_triangular.cholesky(A, upper=True)), np.linalg.cholesky(a).T, rtol=1e-12
    )
    x = gpugrad.tensor(R.normal(size=(2, 3, 3)), device=device, requires_grad=True)

    def factor(m):
        spd = m @ m.mT + 3 * gpugrad.eye(3, dtype=gpugrad.float64, device=device)
        return _triangular.cholesky(spd)

    assert gradcheck(factor, (x,))
    assert gpugrad.autograd.gradgradcheck(factor, (x,))
    with pytest.raises(RuntimeError) as info:
        _triangular.cholesky(gpugrad.tensor([[1.0, 2.0], [2.0, 1.0]], device=device))
    with pytest.raises(RuntimeError) as tinfo:
        torch.linalg.cholesky(torch.tensor([[1.0, 2.0], [2.0, 1.0]]))
    assert str(info.value) == str(tinfo.value)


def test_mvn_log_prob_and_entropy_gradients_match_torch(device):
    a = R.normal(size=(3, 3))
    loc = R.normal(size=3)
    value = R.normal(size=(2, 3))
    ga = gpugrad.tensor(a, device=device, requires_grad=True)
    gl = gpugrad.tensor(loc, device=device, requires_grad=True)
    ta = torch.tensor(a, requires_grad=True)
    tl = torch.tensor(loc, requires_grad=True)
    eye = np.eye(3) * 2
    d = gd.MultivariateNormal(gl, covariance_matrix=ga @ ga.mT + gpugrad.tensor(eye, device=device))
    t = td.MultivariateNormal(tl, covariance_matrix=ta @ ta.T + torch.tensor(eye))
    out = d.log_prob(gpugrad.tensor(value, device=device)).sum() + d.entropy()
    tout = t.log_prob(torch.tensor(value)).sum() + t.entropy()
    _same(out, tout)
    out.backward()
    tout.backward()
    _same(ga.grad, ta.grad, rtol=1e-8)
    _same(gl.grad, tl.grad, rtol=1e-8)
    assert math.isfinite(float(out))


EXP_FAMILIES = ["Bernoulli", "Beta", "Dirichlet", "Exponential", "Gamma", "Normal", "Poisson"]


@pytest.mark.parametrize("name", EXP_FAMILIES)
def test_exponential_family_bregman_forms(device, name):
    """isinstance as PyTorch's; the Bregman entropy and KL agree with the closed forms."""
    from gpugrad.distributions import kl

    p, tp = _both(P[name], device)
    q, tq = _both(Q[name], device)
    assert isinstance(p, gd.ExponentialFamily) == isinstance(tp, td.ExponentialFamily)
    if name == "Bernoulli":  # the natural parameters are logits: probs 0 and 1 are infinite
        p, tp = _both(lambda D, T: D.Bernoulli(probs=T([0.2, 0.5, 0.7, 0.9])), device)
        q, tq = _both(lambda D, T: D.Bernoulli(probs=T([0.4, 0.1, 0.3, 0.6])), device)
    _same(p._log_normalizer(*p._natural_params), tp._log_normalizer(*tp._natural_params))
    bregman = kl._kl_expfamily_expfamily(p, q)
    _same(bregman, td.kl._kl_expfamily_expfamily(tp, tq), rtol=1e-8)
    _same(bregman, gd.kl_divergence(p, q), rtol=1e-8, atol=1e-10)
    try:
        expected = td.ExponentialFamily.entropy(tp)
    except NotImplementedError:  # no carrier-measure mean (Beta, Dirichlet, Poisson)
        with pytest.raises(NotImplementedError):
            gd.ExponentialFamily.entropy(p)
        return
    _same(gd.ExponentialFamily.entropy(p), expected, rtol=1e-8, atol=1e-10)
    _same(gd.ExponentialFamily.entropy(p), p.entropy(), rtol=1e-8, atol=1e-10)


def test_lowrank_mvn_matches_torch(device):
    loc, w, d = R.normal(size=(2, 4)), R.normal(size=(4, 2)), R.uniform(0.5, 2.0, (4,))
    T = lambda v: gpugrad.tensor(v, dtype=gpugrad.float64, device=device)  # noqa: E731
    ours = gd.LowRankMultivariateNormal(T(loc), T(w), T(d))
    theirs = td.LowRankMultivariateNormal(torch.tensor(loc), torch.tensor(w), torch.tensor(d))
    for attr in ("covariance_matrix", "precision_matrix", "scale_tril", "variance"):
        _same(getattr(ours, attr), getattr(theirs, attr), rtol=1e-8, atol=1e-10)
    full = gd.MultivariateNormal(T(loc[0]), covariance_matrix=T(_spd(4)))
    tfull = td.MultivariateNormal(
        torch.tensor(loc[0]), covariance_matrix=torch.tensor(host(full.covariance_matrix))
    )
    for p, q, tp, tq in (
        (ours, full, theirs, tfull),
        (full, ours, tfull, theirs),
        (ours, ours, theirs, theirs),
    ):
        _same(gd.kl_divergence(p, q), td.kl_divergence(tp, tq), rtol=1e-8, atol=1e-10)
    gw = gpugrad.tensor(w, device=device, requires_grad=True)
    gdiag = gpugrad.tensor(np.log(d), device=device, requires_grad=True)
    x = T(R.normal(size=(3, 4)))
    assert gradcheck(
        lambda a, b: gd.LowRankMultivariateNormal(T(loc[0]), a, b.exp()).log_prob(x), (gw, gdiag)
    )


def test_every_torch_kl_pair_among_our_distributions_is_registered():
    from gpugrad.distributions import kl as ours

    have = {(p.__name__, q.__name__) for p, q in ours._KL_REGISTRY}
    want = {
        (p.__name__, q.__name__)
        for p, q in td.kl._KL_REGISTRY
        if hasattr(gd, p.__name__) and hasattr(gd, q.__name__)
    }
    assert want - have == set()
