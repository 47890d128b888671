"""gpugrad.distributions against real torch.distributions on the same parameters: log_prob,
entropy, moments, cdf/icdf, shapes, supports, expand, enumerate_support, validation errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gpugrad
import gpugrad.distributions as gd
from tests.utils import host

torch = pytest.importorskip("torch")
td = torch.distributions

R = np.random.default_rng(2024)


def _probs(*shape):
    p = R.uniform(0.1, 1.0, shape)
    return p / p.sum(-1, keepdims=True)


def _spd(batch, n):
    a = R.normal(size=batch + (n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


# name -> (builder taking the distributions module and a tensor maker, parameters)
CASES = {
    "bernoulli_probs": (
        lambda D, T, P: D.Bernoulli(probs=T(P["p"])),
        {"p": R.uniform(0.05, 0.95, (2, 3))},
    ),
    "bernoulli_logits": (lambda D, T, P: D.Bernoulli(logits=T(P["l"])), {"l": R.normal(size=(4,))}),
    "bernoulli_scalar": (lambda D, T, P: D.Bernoulli(0.3), {}),
    "binomial_probs": (
        lambda D, T, P: D.Binomial(T(P["n"]), probs=T(P["p"])),
        {"n": np.array([3.0, 10.0, 7.0]), "p": R.uniform(0.05, 0.95, (3,))},
    ),
    "binomial_logits": (
        lambda D, T, P: D.Binomial(6, logits=T(P["l"])),
        {"l": R.normal(size=(2, 2))},
    ),
    "categorical_probs": (lambda D, T, P: D.Categorical(probs=T(P["p"])), {"p": _probs(2, 3, 4)}),
    "categorical_unnormalized": (
        lambda D, T, P: D.Categorical(probs=T(P["p"])),
        {"p": R.uniform(0.1, 3.0, (5,))},
    ),
    "categorical_logits": (
        lambda D, T, P: D.Categorical(logits=T(P["l"])),
        {"l": R.normal(size=(3, 6))},
    ),
    "one_hot_categorical": (
        lambda D, T, P: D.OneHotCategorical(probs=T(P["p"])),
        {"p": _probs(2, 4)},
    ),
    "multinomial": (lambda D, T, P: D.Multinomial(7, probs=T(P["p"])), {"p": _probs(2, 3)}),
    "multinomial_logits": (
        lambda D, T, P: D.Multinomial(4, logits=T(P["l"])),
        {"l": R.normal(size=(5,))},
    ),
    "normal": (
        lambda D, T, P: D.Normal(T(P["loc"]), T(P["scale"])),
        {"loc": R.normal(size=(2, 3)), "scale": R.uniform(0.5, 2.0, (2, 3))},
    ),
    "normal_broadcast": (
        lambda D, T, P: D.Normal(T(P["loc"]), 1.5),
        {"loc": R.normal(size=(4,))},
    ),
    "normal_scalar": (lambda D, T, P: D.Normal(0.5, 2.0), {}),
    "log_normal": (
        lambda D, T, P: D.LogNormal(T(P["loc"]), T(P["scale"])),
        {"loc": R.normal(size=(3,)), "scale": R.uniform(0.3, 1.0, (3,))},
    ),
    "uniform": (
        lambda D, T, P: D.Uniform(T(P["lo"]), T(P["lo"] + P["w"])),
        {"lo": R.normal(size=(3,)), "w": R.uniform(0.5, 3.0, (3,))},
    ),
    "laplace": (
        lambda D, T, P: D.Laplace(T(P["loc"]), T(P["scale"])),
        {"loc": R.normal(size=(2, 2)), "scale": R.uniform(0.5, 2.0, (2, 2))},
    ),
    "exponential": (
        lambda D, T, P: D.Exponential(T(P["rate"])),
        {"rate": R.uniform(0.5, 3.0, (4,))},
    ),
    "gamma": (
        lambda D, T, P: D.Gamma(T(P["c"]), T(P["r"])),
        {"c": np.array([0.4, 1.0, 2.5, 9.0]), "r": R.uniform(0.5, 2.0, (4,))},
    ),
    "beta": (
        lambda D, T, P: D.Beta(T(P["a"]), T(P["b"])),
        {"a": np.array([0.5, 2.0, 5.0]), "b": np.array([0.7, 3.0, 1.5])},
    ),
    "beta_scalar": (lambda D, T, P: D.Beta(2.0, 3.0), {}),
    "dirichlet": (lambda D, T, P: D.Dirichlet(T(P["c"])), {"c": R.uniform(0.5, 4.0, (2, 3))}),
    "poisson": (lambda D, T, P: D.Poisson(T(P["rate"])), {"rate": np.array([0.5, 3.0, 11.0])}),
    "mvn_covariance": (
        lambda D, T, P: D.MultivariateNormal(T(P["loc"]), covariance_matrix=T(P["cov"])),
        {"loc": R.normal(size=(2, 3)), "cov": _spd((2,), 3)},
    ),
    "mvn_precision": (
        lambda D, T, P: D.MultivariateNormal(T(P["loc"]), precision_matrix=T(P["prec"])),
        {"loc": R.normal(size=(3,)), "prec": _spd((), 3)},
    ),
    "mvn_scale_tril": (
        lambda D, T, P: D.MultivariateNormal(T(P["loc"]), scale_tril=T(P["L"])),
        {"loc": R.normal(size=(2, 2)), "L": np.linalg.cholesky(_spd((), 2))},
    ),
    "lowrank_mvn": (
        lambda D, T, P: D.LowRankMultivariateNormal(T(P["loc"]), T(P["W"]), T(P["d"])),
        {"loc": R.normal(size=(2, 4)), "W": R.normal(size=(4, 2)), "d": R.uniform(0.5, 2.0, (4,))},
    ),
    "independent_normal": (
        lambda D, T, P: D.Independent(D.Normal(T(P["loc"]), T(P["scale"])), 1),
        {"loc": R.normal(size=(2, 3)), "scale": R.uniform(0.5, 2.0, (2, 3))},
    ),
    "independent_bernoulli_2": (
        lambda D, T, P: D.Independent(D.Bernoulli(probs=T(P["p"])), 2),
        {"p": R.uniform(0.1, 0.9, (2, 3, 2))},
    ),
    "geometric": (lambda D, T, P: D.Geometric(probs=T(P["p"])), {"p": np.array([0.2, 0.5, 1.0])}),
    "cauchy": (
        lambda D, T, P: D.Cauchy(T(P["loc"]), T(P["scale"])),
        {"loc": R.normal(size=(3,)), "scale": R.uniform(0.5, 2.0, (3,))},
    ),
    "half_normal": (
        lambda D, T, P: D.HalfNormal(T(P["scale"])),
        {"scale": R.uniform(0.5, 2.0, (3,))},
    ),
    "gumbel": (
        lambda D, T, P: D.Gumbel(T(P["loc"]), T(P["scale"])),
        {"loc": R.normal(size=(3,)), "scale": R.uniform(0.5, 2.0, (3,))},
    ),
    "chi2": (lambda D, T, P: D.Chi2(T(P["df"])), {"df": np.array([0.5, 3.0, 10.0])}),
    "student_t": (
        lambda D, T, P: D.StudentT(T(P["df"]), T(P["loc"]), T(P["scale"])),
        {
            "df": np.array([0.8, 1.5, 4.0]),
            "loc": R.normal(size=(3,)),
            "scale": R.uniform(0.5, 2.0, (3,)),
        },
    ),
    "mixture_normal": (
        lambda D, T, P: D.MixtureSameFamily(
            D.Categorical(probs=T(P["w"])), D.Normal(T(P["loc"]), T(P["scale"]))
        ),
        {"w": _probs(2, 3), "loc": R.normal(size=(2, 3)), "scale": R.uniform(0.5, 2.0, (2, 3))},
    ),
    "mixture_mvn_diag": (
        lambda D, T, P: D.MixtureSameFamily(
            D.Categorical(logits=T(P["l"])),
            D.Independent(D.Normal(T(P["loc"]), T(P["scale"])), 1),
        ),
        {
            "l": R.normal(size=(4,)),
            "loc": R.normal(size=(4, 2)),
            "scale": R.uniform(0.5, 2.0, (4, 2)),
        },
    ),
    "relaxed_bernoulli": (
        lambda D, T, P: D.RelaxedBernoulli(T(P["t"]), probs=T(P["p"])),
        {"t": np.array(0.7), "p": R.uniform(0.1, 0.9, (3,))},
    ),
    "relaxed_one_hot_categorical": (
        lambda D, T, P: D.RelaxedOneHotCategorical(T(P["t"]), logits=T(P["l"])),
        {"t": np.array(0.5), "l": R.normal(size=(2, 4))},
    ),
    "half_cauchy": (
        lambda D, T, P: D.HalfCauchy(T(P["scale"])),
        {"scale": R.uniform(0.5, 2.0, (3,))},
    ),
    "pareto": (
        lambda D, T, P: D.Pareto(T(P["scale"]), T(P["alpha"])),
        {"scale": R.uniform(0.5, 2.0, (3,)), "alpha": np.array([0.5, 1.5, 3.0])},
    ),
    "weibull": (
        lambda D, T, P: D.Weibull(T(P["scale"]), T(P["c"])),
        {"scale": R.uniform(0.5, 2.0, (3,)), "c": np.array([0.7, 1.5, 3.0])},
    ),
    "inverse_gamma": (
        lambda D, T, P: D.InverseGamma(T(P["c"]), T(P["r"])),
        {"c": np.array([0.7, 1.5, 3.0]), "r": R.uniform(0.5, 2.0, (3,))},
    ),
    "negative_binomial": (
        lambda D, T, P: D.NegativeBinomial(T(P["n"]), probs=T(P["p"])),
        {"n": np.array([0.0, 2.5, 7.0]), "p": np.array([0.3, 0.6, 0.1])},
    ),
    "logistic_normal": (
        lambda D, T, P: D.LogisticNormal(T(P["loc"]), T(P["scale"])),
        {"loc": R.normal(size=(2, 3)), "scale": R.uniform(0.5, 1.5, (2, 3))},
    ),
    "fisher_snedecor": (
        lambda D, T, P: D.FisherSnedecor(T(P["d1"]), T(P["d2"])),
        {"d1": np.array([1.5, 3.0, 8.0]), "d2": np.array([1.0, 4.5, 12.0])},
    ),
    "kumaraswamy": (
        lambda D, T, P: D.Kumaraswamy(T(P["a"]), T(P["b"])),
        {"a": np.array([0.5, 2.0, 3.0]), "b": np.array([1.5, 0.7, 4.0])},
    ),
    "transformed_affine_exp": (
        lambda D, T, P: D.TransformedDistribution(
            D.Normal(T(P["loc"]), T(P["scale"])),
            [D.AffineTransform(T(P["shift"]), 2.0), D.ExpTransform()],
        ),
        {
            "loc": R.normal(size=(3,)),
            "scale": R.uniform(0.2, 0.8, (3,)),
            "shift": R.normal(size=(3,)),
        },
    ),
    "transformed_sigmoid": (
        lambda D, T, P: D.TransformedDistribution(
            D.Normal(T(P["loc"]), T(P["scale"])), D.SigmoidTransform()
        ),
        {"loc": R.normal(size=(3,)), "scale": R.uniform(0.2, 1.0, (3,))},
    ),
    "transformed_tanh_compose": (
        lambda D, T, P: D.TransformedDistribution(
            D.Normal(T(P["loc"]), T(P["scale"])),
            D.ComposeTransform([D.TanhTransform(), D.AffineTransform(-1.0, -3.0)]),
        ),
        {"loc": R.normal(size=(2,)), "scale": R.uniform(0.2, 1.0, (2,))},
    ),
    "transformed_stick_breaking": (
        lambda D, T, P: D.TransformedDistribution(
            D.Independent(D.Normal(T(P["loc"]), T(P["scale"])), 1),
            D.StickBreakingTransform(),
        ),
        {"loc": R.normal(size=(2, 3)), "scale": R.uniform(0.2, 1.0, (2, 3))},
    ),
}

if hasattr(td, "transforms"):  # transforms live in torch.distributions.transforms
    for _k in ("AffineTransform", "ExpTransform", "SigmoidTransform", "TanhTransform"):
        assert hasattr(td, _k)


def _pair(name: str, device: str):
    build, params = CASES[name]

    def ours(x):
        return gpugrad.tensor(x, dtype=gpugrad.float64, device=device)

    def theirs(x):
        return torch.tensor(x, dtype=torch.float64)

    return build(gd, ours, params), build(td, theirs, params)


def _same(ours, theirs, rtol=1e-9, atol=1e-11) -> None:
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    ours = host(ours)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    if ours.dtype == np.float32 or theirs.dtype == np.float32:
        rtol, atol = max(rtol, 2e-6), max(atol, 1e-7)
    np.testing.assert_allclose(ours.astype(np.float64), theirs.astype(np.float64), rtol, atol)


def _values(d_torch, n=5):
    torch.manual_seed(0)
    return d_torch.sample((n,))


def _ours(x, device):
    return gpugrad.tensor(x.numpy(), device=device)


@pytest.mark.parametrize("name", sorted(CASES))
def test_log_prob_and_shapes_match_torch(device, name):
    ours, theirs = _pair(name, device)
    assert tuple(ours.batch_shape) == tuple(theirs.batch_shape)
    assert tuple(ours.event_shape) == tuple(theirs.event_shape)
    assert ours.has_rsample == theirs.has_rsample
    assert ours.has_enumerate_support == theirs.has_enumerate_support
    assert repr(ours.support).replace("gpugrad.", "torch.") == repr(theirs.support)
    assert sorted(ours.arg_constraints) == sorted(theirs.arg_constraints)
    x = _values(theirs)
    _same(ours.log_prob(_ours(x, device)), theirs.log_prob(x))
    for shape in ((), (4,), (2, 3)):
        s = ours.sample(shape)
        assert tuple(s.shape) == tuple(theirs.sample(shape).shape)
        assert str(s.dtype).split(".")[-1] == str(theirs.sample().dtype).split(".")[-1]
        assert bool(ours.support.check(s).all())
        assert not s.requires_grad


@pytest.mark.parametrize("name", sorted(CASES))
def test_entropy_and_moments_match_torch(device, name):
    ours, theirs = _pair(name, device)
    for attr in ("mean", "variance", "stddev", "mode"):
        try:
            expected = getattr(theirs, attr)
        except NotImplementedError:
            with pytest.raises(NotImplementedError):
                getattr(ours, attr)
            continue
        _same(getattr(ours, attr), expected)
    try:
        expected = theirs.entropy()
    except NotImplementedError:
        with pytest.raises(NotImplementedError):
            ours.entropy()
        return
    _same(ours.entropy(), expected)
    _same(ours.perplexity(), theirs.perplexity())


@pytest.mark.parametrize("name", sorted(CASES))
def test_cdf_icdf_match_torch(device, name):
    ours, theirs = _pair(name, device)
    x = _values(theirs)
    try:
        expected = theirs.cdf(x)
    except NotImplementedError:
        return
    _same(ours.cdf(_ours(x, device)), expected)
    q = torch.tensor([0.05, 0.4, 0.9], dtype=torch.float64).reshape(
        (3,) + (1,) * len(theirs.batch_shape)
    )
    q = q.expand((3,) + tuple(theirs.batch_shape))
    try:
        expected = theirs.icdf(q)
    except NotImplementedError:
        return
    _same(ours.icdf(_ours(q, device)), expected)


@pytest.mark.parametrize("name", sorted(CASES))
def test_expand_matches_torch(device, name):
    ours, theirs = _pair(name, device)
    shape = (2,) + tuple(theirs.batch_shape)
    e_ours, e_theirs = ours.expand(shape), theirs.expand(shape)
    assert type(e_ours) is type(ours)
    assert tuple(e_ours.batch_shape) == tuple(e_theirs.batch_shape)
    assert tuple(e_ours.event_shape) == tuple(e_theirs.event_shape)
    assert tuple(e_ours.sample().shape) == tuple(e_theirs.sample().shape)
    x = _values(e_theirs, 2)
    _same(e_ours.log_prob(_ours(x, device)), e_theirs.log_prob(x))


@pytest.mark.parametrize(
    "name",
    [
        "bernoulli_probs",
        "bernoulli_scalar",
        "binomial_logits",
        "categorical_probs",
        "one_hot_categorical",
    ],
)
@pytest.mark.parametrize("expand", [True, False])
def test_enumerate_support_matches_torch(device, name, expand):
    ours, theirs = _pair(name, device)
    got, want = ours.enumerate_support(expand), theirs.enumerate_support(expand)
    _same(got, want)
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
    _same(ours.log_prob(got), theirs.log_prob(want))


def test_categorical_logits_probs_conversions(device):
    p = np.array([[0.2, 0.0, 1.8], [1.0, 1.0, 2.0]])
    ours, theirs = (
        gd.Categorical(probs=gpugrad.tensor(p, device=device)),
        td.Categorical(probs=torch.tensor(p)),
    )
    _same(ours.probs, theirs.probs)
    _same(ours.logits, theirs.logits)  # a zero probability becomes log(eps), as PyTorch's
    _same(ours.entropy(), theirs.entropy())
    lg = np.array([[3.0, -1.0, 0.5], [-50.0, 0.0, 2.0]])
    ours = gd.Categorical(logits=gpugrad.tensor(lg, device=device))
    theirs = td.Categorical(logits=torch.tensor(lg))
    _same(ours.logits, theirs.logits)  # normalized: logsumexp 0
    _same(ours.probs, theirs.probs)
    b_ours = gd.Bernoulli(
        logits=gpugrad.tensor([-2.0, 0.0, 5.0], dtype=gpugrad.float64, device=device)
    )
    b_theirs = td.Bernoulli(logits=torch.tensor([-2.0, 0.0, 5.0], dtype=torch.float64))
    _same(b_ours.probs, b_theirs.probs)
    _same(
        gd.Bernoulli(
            probs=gpugrad.tensor([0.0, 0.5, 1.0], dtype=gpugrad.float64, device=device)
        ).logits,
        td.Bernoulli(probs=torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)).logits,
    )


def test_log_prob_is_differentiable_in_parameters(device):
    logits = gpugrad.tensor(
        [[0.1, 0.5, -0.3], [1.0, 0.0, 0.2]],
        dtype=gpugrad.float64,
        device=device,
        requires_grad=True,
    )
    action = gpugrad.tensor([2, 0], device=device)
    gd.Categorical(logits=logits).log_prob(action).sum().backward()
    tl = torch.tensor(logits.detach().cpu().numpy(), requires_grad=True)
    td.Categorical(logits=tl).log_prob(torch.tensor([2, 0])).sum().backward()
    _same(logits.grad, tl.grad)
    loc = gpugrad.tensor([0.3, -0.2], dtype=gpugrad.float64, device=device, requires_grad=True)
    scale = gpugrad.tensor([1.5, 0.7], dtype=gpugrad.float64, device=device, requires_grad=True)
    value = gpugrad.tensor([0.1, 0.4], dtype=gpugrad.float64, device=device)
    assert gpugrad.autograd.gradcheck(
        lambda m, s: gd.Normal(m, s).log_prob(value) + gd.Normal(m, s).entropy(), (loc, scale)
    )
    conc = gpugrad.tensor([0.8, 2.0, 3.5], dtype=gpugrad.float64, device=device, requires_grad=True)
    x = gpugrad.tensor([0.2, 0.3, 0.5], dtype=gpugrad.float64, device=device)
    assert gpugrad.autograd.gradcheck(
        lambda c: gd.Dirichlet(c).log_prob(x) + gd.Dirichlet(c).entropy(), (conc,)
    )


def test_sample_shapes_and_dtypes(device):
    d = gd.Categorical(logits=gpugrad.zeros(2, 5, device=device))
    s = d.sample((7, 3))
    assert tuple(s.shape) == (7, 3, 2) and s.dtype == gpugrad.int64
    assert tuple(d.sample().shape) == (2,) and tuple(d.sample(gpugrad.Size([4])).shape) == (4, 2)
    n = gd.Normal(gpugrad.zeros(3, device=device), 1.0)
    assert n.sample().dtype == gpugrad.float32 and tuple(n.rsample((2, 1)).shape) == (2, 1, 3)
    assert gd.Bernoulli(0.5).sample((3,)).dtype == gpugrad.float32
    with pytest.warns(UserWarning, match="sample_n will be deprecated"):
        assert tuple(n.sample_n(4).shape) == (4, 3)


def test_sampling_follows_manual_seed(device):
    for d in (
        gd.Normal(gpugrad.zeros(4, device=device), 1.0),
        gd.Categorical(logits=gpugrad.zeros(3, 6, device=device)),
        gd.Gamma(gpugrad.full((4,), 2.0, device=device), 1.0),
        gd.Poisson(gpugrad.full((4,), 2.0, device=device)),
        gd.Binomial(5, probs=gpugrad.full((4,), 0.3, device=device)),
    ):
        gpugrad.manual_seed(11)
        a = host(d.sample((5,)))
        gpugrad.manual_seed(11)
        np.testing.assert_array_equal(a, host(d.sample((5,))))


# ---- validation errors: PyTorch's types and texts ----------------------------------------


def _message(fn) -> str:
    with pytest.raises(Exception) as info:
        fn()
    return f"{type(info.value).__name__}: {info.value}"


def _torch_message(fn) -> str:
    return _message(fn).replace("torch.", "gpugrad.")


@pytest.mark.parametrize(
    "build",
    [
        lambda M, T: M.Normal(T([0.0, 1.0]), T([1.0, -1.0])),
        lambda M, T: M.Normal(T([0.0, float("nan")]), T([1.0, 1.0])),
        lambda M, T: M.Categorical(probs=T([[0.5, -0.1, 0.6], [0.2, 0.2, 0.6]])),
        lambda M, T: M.Bernoulli(probs=T([0.2, 1.5])),
        lambda M, T: M.Exponential(T([1.0, 0.0])),
        lambda M, T: M.Dirichlet(T([1.0, -2.0])),
        lambda M, T: M.Beta(T([1.0, 2.0]), T([0.5, -0.5])),
        lambda M, T: M.Binomial(T([2.0, 2.5]), probs=T([0.5, 0.5])),
        lambda M, T: M.MultivariateNormal(
            T([0.0, 0.0]), covariance_matrix=T([[1.0, 2.0], [2.0, 1.0]])
        ),
        lambda M, T: M.MultivariateNormal(T([0.0, 0.0]), scale_tril=T([[1.0, 0.0], [2.0, -1.0]])),
        lambda M, T: M.Bernoulli(),
        lambda M, T: M.Categorical(probs=T(1.0)),
        lambda M, T: M.MultivariateNormal(T([0.0, 0.0])),
        lambda M, T: M.MultivariateNormal(T(0.0), scale_tril=T([[1.0]])),
        lambda M, T: M.Independent(M.Normal(T([0.0]), T([1.0])), 2),
        lambda M, T: M.Dirichlet(T(2.0)),
    ],
)
def test_parameter_validation_errors_match_torch(device, build):
    got = _message(lambda: build(gd, lambda v: gpugrad.tensor(v, device=device)))
    want = _torch_message(lambda: build(td, torch.tensor))
    assert got == want


@pytest.mark.parametrize(
    ("build", "value"),
    [
        (lambda M, T: M.Exponential(T([1.0, 2.0])), [-1.0, 1.0]),
        (lambda M, T: M.Bernoulli(probs=T([0.3, 0.3])), [0.5, 1.0]),
        (lambda M, T: M.Categorical(logits=T([0.0, 0.0, 0.0])), [3.0]),
        (lambda M, T: M.Normal(T([0.0, 0.0]), T([1.0, 1.0])), [[0.0, 0.0, 0.0]]),
        (lambda M, T: M.Dirichlet(T([1.0, 1.0, 1.0])), [0.2, 0.3]),
        (lambda M, T: M.Poisson(T([1.0])), [1.5]),
        (lambda M, T: M.Uniform(T([0.0]), T([1.0])), [2.0]),
    ],
)
def test_sample_validation_errors_match_torch(device, build, value):
    got = _message(
        lambda: build(gd, lambda v: gpugrad.tensor(v, device=device)).log_prob(
            gpugrad.tensor(value, device=device)
        )
    )
    want = _torch_message(lambda: build(td, torch.tensor).log_prob(torch.tensor(value)))
    assert got == want


def test_validation_can_be_turned_off(device):
    d = gd.Normal(
        gpugrad.tensor([0.0], device=device),
        gpugrad.tensor([-1.0], device=device),
        validate_args=False,
    )
    assert math.isnan(float(d.log_prob(gpugrad.tensor([0.0], device=device))[0]))
    with pytest.raises(ValueError, match="to satisfy the constraint"):
        gd.Normal(0.0, -1.0)
    gd.Distribution.set_default_validate_args(False)
    try:
        gd.Normal(0.0, -1.0)
    finally:
        gd.Distribution.set_default_validate_args(True)
    with pytest.raises(ValueError, match="The value argument to log_prob must be a Tensor"):
        gd.Normal(0.0, 1.0).log_prob(0.5)


def test_constraints_module_matches_torch(device):
    c = gd.constraints
    for name in (
        "real",
        "positive",
        "nonnegative",
        "unit_interval",
        "simplex",
        "boolean",
        "real_vector",
        "nonnegative_integer",
        "positive_integer",
        "lower_cholesky",
        "lower_triangular",
        "positive_definite",
        "one_hot",
        "square",
        "symmetric",
        "positive_semidefinite",
    ):
        assert repr(getattr(c, name)) == repr(getattr(td.constraints, name)), name
        assert getattr(c, name).event_dim == getattr(td.constraints, name).event_dim
        assert getattr(c, name).is_discrete == getattr(td.constraints, name).is_discrete
    assert repr(c.interval(-1.0, 2.0)) == repr(td.constraints.interval(-1.0, 2.0))
    assert repr(c.integer_interval(0, 3)) == repr(td.constraints.integer_interval(0, 3))
    assert repr(c.greater_than(2.0)) == repr(td.constraints.greater_than(2.0))
    assert repr(c.half_open_interval(0.0, 1.0)) == repr(td.constraints.half_open_interval(0.0, 1.0))
    assert c.is_dependent(gd.Uniform.support) and c.is_dependent(gd.Binomial.support)
    assert not c.is_dependent(gd.Normal.support)
    values = np.array([[0.2, 0.8], [0.5, 0.6], [-0.1, 1.1]])
    for name in ("simplex", "real_vector", "unit_interval", "positive"):
        got = getattr(c, name).check(gpugrad.tensor(values, device=device))
        want = getattr(td.constraints, name).check(torch.tensor(values))
        np.testing.assert_array_equal(host(got), want.numpy())
    mats = np.stack([_spd((), 3), -_spd((), 3), np.linalg.cholesky(_spd((), 3))])
    for name in ("positive_definite", "lower_cholesky", "lower_triangular", "symmetric"):
        got = getattr(c, name).check(gpugrad.tensor(mats, device=device))
        want = getattr(td.constraints, name).check(torch.tensor(mats))
        np.testing.assert_array_equal(host(got), want.numpy())
    with pytest.raises(ValueError, match="Cannot determine validity of dependent constraint"):
        c.dependent.check(gpugrad.zeros(1))


def test_repr_matches_torch(device):
    for build in (
        lambda M, T: M.Normal(T([0.0, 1.0]), T([1.0, 2.0])),
        lambda M, T: M.Independent(M.Normal(T([0.0, 1.0]), T([1.0, 2.0])), 1),
        lambda M, T: M.Categorical(logits=T([0.0, 1.0])),
        lambda M, T: M.MultivariateNormal(T([0.0, 1.0]), scale_tril=T([[1.0, 0.0], [0.5, 1.0]])),
    ):
        got = repr(build(gd, lambda v: gpugrad.tensor(v, device=device)))
        assert got == repr(build(td, torch.tensor)).replace("torch.", "gpugrad.")


def test_policy_gradient_and_vae_steps_match_torch(device):
    """The two idioms real programs use: REINFORCE with Categorical, and a VAE's
    reparameterized Normal with its KL to the prior, through gpugrad.nn layers."""
    rng = np.random.default_rng(5)
    w, b = rng.normal(size=(4, 3)) * 0.5, rng.normal(size=4) * 0.1
    obs = rng.normal(size=(6, 3))
    returns = rng.normal(size=6)

    lin = gpugrad.nn.Linear(3, 4).double().to(device)
    tlin = torch.nn.Linear(3, 4).double()
    with gpugrad.no_grad():
        lin.weight.copy_(gpugrad.tensor(w, device=device))
        lin.bias.copy_(gpugrad.tensor(b, device=device))
    with torch.no_grad():
        tlin.weight.copy_(torch.tensor(w))
        tlin.bias.copy_(torch.tensor(b))

    tdist = td.Categorical(logits=tlin(torch.tensor(obs)))
    actions = tdist.sample()
    dist = gd.Categorical(logits=lin(gpugrad.tensor(obs, device=device)))
    loss = (
        -(
            dist.log_prob(gpugrad.tensor(actions.numpy(), device=device))
            * gpugrad.tensor(returns, device=device)
        ).sum()
        - 0.01 * dist.entropy().sum()
    )
    tloss = -(tdist.log_prob(actions) * torch.tensor(returns)).sum() - 0.01 * tdist.entropy().sum()
    loss.backward()
    tloss.backward()
    _same(loss, tloss)
    _same(lin.weight.grad, tlin.weight.grad)
    _same(lin.bias.grad, tlin.bias.grad)

    mu = gpugrad.tensor(rng.normal(size=(5, 2)), device=device, requires_grad=True)
    log_var = gpugrad.tensor(rng.normal(size=(5, 2)) * 0.3, device=device, requires_grad=True)
    tmu = torch.tensor(mu.detach().cpu().numpy(), requires_grad=True)
    tlog_var = torch.tensor(log_var.detach().cpu().numpy(), requires_grad=True)
    q = gd.Normal(mu, (0.5 * log_var).exp())
    tq = td.Normal(tmu, (0.5 * tlog_var).exp())
    kl = gd.kl_divergence(q, gd.Normal(0.0, 1.0)).sum()
    tkl = td.kl_divergence(tq, td.Normal(0.0, 1.0)).sum()
    z = q.rsample()
    (kl + (z * z).sum()).backward()
    _same(kl, tkl)
    assert tuple(z.shape) == (5, 2) and mu.grad is not None and log_var.grad is not None


def test_module_paths_match_torch():
    """Every class gpugrad has sits at PyTorch's module path (torch.distributions.normal...)."""
    import importlib
    import inspect

    checked = 0
    for name in td.__all__:
        if not hasattr(gd, name):
            continue
        obj = getattr(td, name)
        if not inspect.isclass(obj):
            continue
        module = obj.__module__.replace("torch.distributions", "gpugrad.distributions")
        assert getattr(importlib.import_module(module), name) is getattr(gd, name), name
        checked += 1
    assert checked >= 50
    for module in ("constraints", "transforms", "kl", "utils", "constraint_registry"):
        importlib.import_module(f"gpugrad.distributions.{module}")
