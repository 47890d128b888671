"""LR schedulers: curves against closed forms and against torch.optim.lr_scheduler."""

from __future__ import annotations

import math
import warnings

import pytest

from gpugrad import optim
from gpugrad.optim import lr_scheduler as S
from tests.utils import rnd, t

N = 25


def make_opt(name="SGD", lrs=(0.1,), **kw):
    groups = [{"params": [t(rnd(2), requires_grad=True)], "lr": lr} for lr in lrs]
    return getattr(optim, name)(groups, **kw)


def curve(sched, opt, n=N, momentum_key=None):
    lrs, moms = [sched.get_last_lr()], []
    for _ in range(n):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr())
        if momentum_key == "betas":
            moms.append([g["betas"][0] for g in opt.param_groups])
        elif momentum_key:
            moms.append([g[momentum_key] for g in opt.param_groups])
    return lrs, moms


def warmup_cosine(step):
    return (step + 1) / 5 if step < 5 else 0.5 * (1 + math.cos(math.pi * (step - 5) / 20))


SCHEDS = [
    ("LambdaLR", dict(lr_lambda=warmup_cosine)),
    ("LambdaLR", dict(lr_lambda=[lambda e: 0.9**e, warmup_cosine])),
    ("StepLR", dict(step_size=4, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[3, 7, 7, 15], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=10)),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.01)),
    ("LinearLR", dict()),
    ("LinearLR", dict(start_factor=0.1, end_factor=0.5, total_iters=8)),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=N)),
    (
        "OneCycleLR",
        dict(max_lr=[1.0, 0.5], total_steps=N, anneal_strategy="linear", three_phase=True),
    ),
    ("OneCycleLR", dict(max_lr=0.3, epochs=5, steps_per_epoch=5, pct_start=0.4)),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=3)),
    (
        "CyclicLR",
        dict(
            base_lr=[0.01, 0.02], max_lr=0.2, step_size_up=2, step_size_down=4, mode="triangular2"
        ),
    ),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=3, mode="exp_range", gamma=0.9)),
]


@pytest.mark.parametrize("name,kw", SCHEDS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SCHEDS)])
@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
def test_matches_torch(name, kw, opt_name):
    torch = pytest.importorskip("torch")
    opt_kw = {"momentum": 0.9} if opt_name == "SGD" else {}
    cycles = name in ("OneCycleLR", "CyclicLR")
    mkey = ("momentum" if opt_name == "SGD" else "betas") if cycles else None
    opt = make_opt(opt_name, (0.1, 0.05), **opt_kw)
    ours = curve(getattr(S, name)(opt, **kw), opt, momentum_key=mkey)
    tparams = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in (0.1, 0.05)]
    topt = getattr(torch.optim, opt_name)(tparams, **opt_kw)
    theirs = curve(getattr(torch.optim.lr_scheduler, name)(topt, **kw), topt, momentum_key=mkey)
    for a, b in zip(ours[0], theirs[0]):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-15)
    for a, b in zip(ours[1], theirs[1]):
        assert a == pytest.approx(b, rel=1e-12)


def test_closed_forms():
    opt = make_opt()
    lrs, _ = curve(S.StepLR(opt, step_size=3, gamma=0.1), opt, n=9)
    assert [r[0] for r in lrs] == pytest.approx([0.1 * 0.1 ** (e // 3) for e in range(10)])
    opt = make_opt()
    lrs, _ = curve(S.ExponentialLR(opt, gamma=0.5), opt, n=5)
    assert [r[0] for r in lrs] == pytest.approx([0.1 * 0.5**e for e in range(6)])
    opt = make_opt()
    lrs, _ = curve(S.CosineAnnealingLR(opt, T_max=8, eta_min=0.02), opt, n=8)
    expect = [0.02 + 0.08 * (1 + math.cos(math.pi * e / 8)) / 2 for e in range(9)]
    assert [r[0] for r in lrs] == pytest.approx(expect)
    opt = make_opt()
    lrs, _ = curve(S.LinearLR(opt, start_factor=0.25, total_iters=4), opt, n=6)
    expect = [0.1 * (0.25 + 0.75 * min(e, 4) / 4) for e in range(7)]
    assert [r[0] for r in lrs] == pytest.approx(expect)
    opt = make_opt()
    lrs, _ = curve(S.MultiStepLR(opt, milestones=[2, 4], gamma=0.1), opt, n=5)
    assert [r[0] for r in lrs] == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])


def test_onecycle_shape_and_limit():
    opt = make_opt("SGD", (0.1,), momentum=0.9)
    sched = S.OneCycleLR(opt, max_lr=2.0, total_steps=10)
    assert sched.get_last_lr()[0] == pytest.approx(2.0 / 25)
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.95)
    lrs, _ = curve(sched, opt, n=9)
    peak = max(r[0] for r in lrs)
    assert peak == pytest.approx(2.0)
    assert lrs[-1][0] == pytest.approx(2.0 / 25 / 1e4)
    opt.step()
    sched.step()  # the 10th step is the last one allowed
    with pytest.raises(ValueError, match="Tried to step 11 times"):
        sched.step()
    with pytest.raises(ValueError, match="total_steps OR"):
        S.OneCycleLR(make_opt(), max_lr=1.0)
    with pytest.raises(ValueError, match="momentum or beta1"):
        S.OneCycleLR(make_opt("Adagrad"), max_lr=1.0, total_steps=3)


def test_state_dict_roundtrip():
    opt = make_opt()
    sched = S.MultiStepLR(opt, milestones=[2, 5], gamma=0.5)
    for _ in range(3):
        opt.step()
        sched.step()
    sd = sched.state_dict()
    assert "optimizer" not in sd and sd["last_epoch"] == 3
    opt2 = make_opt()
    sched2 = S.MultiStepLR(opt2, milestones=[1], gamma=0.9)
    sched2.load_state_dict(sd)
    opt2.load_state_dict(opt.state_dict())
    for _ in range(4):
        opt.step()
        sched.step()
        opt2.step()
        sched2.step()
        assert sched2.get_last_lr() == sched.get_last_lr()


class Halving:
    def __init__(self):
        self.factor = 0.5

    def __call__(self, epoch):
        return self.factor**epoch


def test_lambda_lr_state_dict():
    opt = make_opt()
    fn = Halving()
    sched = S.LambdaLR(opt, fn)
    opt.step()
    sched.step()
    fn.factor = 0.25
    sd = sched.state_dict()
    assert sd["lr_lambdas"] == [{"factor": 0.25}] and sd["last_epoch"] == 1
    other = Halving()
    sched2 = S.LambdaLR(make_opt(), other)
    sched2.load_state_dict(sd)
    assert other.factor == 0.25 and sched2.last_epoch == 1
    assert S.LambdaLR(make_opt(), lambda e: 1.0).state_dict()["lr_lambdas"] == [None]


def test_warns_when_stepped_before_optimizer():
    opt = make_opt()
    sched = S.StepLR(opt, 2)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()
    opt = make_opt()
    sched = S.StepLR(opt, 2)
    opt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched.step()


def test_resume_requires_initial_lr_and_type_checks():
    with pytest.raises(KeyError, match="initial_lr"):
        S.StepLR(make_opt(), 2, last_epoch=3)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        S.StepLR(object(), 2)
    opt = make_opt()
    S.CosineAnnealingLR(opt, T_max=4)
    assert opt.param_groups[0]["initial_lr"] == 0.1


class PlainSGD(optim.Optimizer):
    """A user-written optimizer: knows nothing of schedulers or hooks."""

    def __init__(self, params, lr=0.1):
        super().__init__(params, dict(lr=lr))

    def step(self, closure=None):
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is not None:
                    p.data = p.data - g["lr"] * p.grad


def test_user_optimizer_with_scheduler_and_hooks():
    p = t(rnd(2), requires_grad=True)
    opt = PlainSGD([p])
    calls = []
    opt.register_step_post_hook(lambda o, a, k: calls.append("post"))
    sched = S.StepLR(opt, 1, gamma=0.5)
    opt.register_step_pre_hook(lambda o, a, k: calls.append("pre"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.step()
        sched.step()
    assert calls == ["pre", "post"]
    assert opt.param_groups[0]["lr"] == 0.05


PLATEAU_METRICS = [1.0, 0.9, 0.95, 0.97, 0.96, 0.99, 0.85, 0.86, 0.9, 0.91, 0.92, 0.93, 0.8, 0.8]
PLATEAU_CASES = [  # kwargs, lr of group 0 after each step (PyTorch 2.13's, pasted)
    (dict(patience=2), [1.0] * 4 + [0.1] * 5 + [0.01] * 5),
    (
        dict(patience=1, cooldown=2, factor=0.5, min_lr=[0.2, 0.0]),
        [1.0] * 3 + [0.5] * 5 + [0.25] * 6,
    ),
    (
        dict(mode="max", patience=1, threshold=0.1, threshold_mode="abs"),
        [1.0, 1.0, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001, 1e-4, 1e-4, 1e-5, 1e-5, 1e-6, 1e-6],
    ),
]


@pytest.mark.parametrize("kw,expected", PLATEAU_CASES)
def test_reduce_lr_on_plateau(kw, expected):
    opt = make_opt(lrs=(1.0, 0.5))
    sched = S.ReduceLROnPlateau(opt, **kw)
    got = []
    for m in PLATEAU_METRICS:
        sched.step(t([m]).sum() if m > 0.9 else m)  # a one-element tensor or a number
        got.append(sched.get_last_lr()[0])
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)
    again = S.ReduceLROnPlateau(make_opt(lrs=(1.0, 0.5)), **kw)
    again.load_state_dict(sched.state_dict())
    assert (again.best, again.num_bad_epochs, again.last_epoch) == (
        sched.best,
        sched.num_bad_epochs,
        len(PLATEAU_METRICS),
    )


def test_reduce_lr_on_plateau_min_lr_floor_and_errors():
    opt = make_opt(lrs=(1.0, 0.5))
    sched = S.ReduceLROnPlateau(opt, patience=0, factor=0.5, min_lr=[0.3, 0.0])
    for _ in range(5):
        sched.step(1.0)
    assert sched.get_last_lr() == pytest.approx([0.3, 0.5 * 0.5**4])
    with pytest.raises(ValueError, match="Factor should be < 1.0."):
        S.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode avg is unknown!"):
        S.ReduceLROnPlateau(opt, mode="avg")
    with pytest.raises(ValueError, match="threshold mode x is unknown!"):
        S.ReduceLROnPlateau(opt, threshold_mode="x")
    with pytest.raises(ValueError, match="expected 2 min_lrs, got 1"):
        S.ReduceLROnPlateau(opt, min_lr=[0.1])


def test_reduce_lr_on_plateau_matches_torch():
    torch = pytest.importorskip("torch")
    kw = dict(patience=1, cooldown=1, factor=0.3, threshold=0.05)
    ours = S.ReduceLROnPlateau(make_opt(lrs=(1.0,)), **kw)
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
    for m in PLATEAU_METRICS * 2:
        ours.step(m)
        theirs.step(m)
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr())


EXTRA_PASTED = {  # group 0's lr after 0..14 steps, from torch 2.13 (rounded to 1e-8)
    "ConstantLR": [0.5, 0.5, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
    "PolynomialLR": [
        1.0,
        0.69444444,
        0.44444444,
        0.25,
        0.11111111,
        0.02777778,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
    ],
    "WarmRestarts": [
        1.0,
        0.7525,
        0.2575,
        1.0,
        0.93368257,
        0.7525,
        0.505,
        0.2575,
        0.07631743,
        1.0,
        0.98313328,
        0.93368257,
        0.85501786,
        0.7525,
        0.63311543,
    ],
    "SequentialWarmupCosine": [
        0.1,
        0.4,
        0.7,
        1.0,
        0.96193977,
        0.85355339,
        0.69134172,
        0.5,
        0.30865828,
        0.14644661,
        0.03806023,
        0.0,
        0.03806023,
        0.14644661,
        0.30865828,
    ],
    "Sequential3": [
        0.1,
        0.1,
        1.0,
        0.9,
        0.81,
        1.0,
        1.0,
        0.1,
        0.1,
        0.01,
        0.01,
        0.001,
        0.001,
        0.0001,
        0.0001,
    ],
    "Chained": [
        0.1,
        0.09,
        0.81,
        0.729,
        0.6561,
        0.59049,
        0.531441,
        0.4782969,
        0.43046721,
        0.38742049,
        0.34867844,
        0.3138106,
        0.28242954,
        0.25418658,
        0.22876792,
    ],
}


def _extra(name, o):
    if name == "ConstantLR":
        return S.ConstantLR(o, factor=0.5, total_iters=3)
    if name == "PolynomialLR":
        return S.PolynomialLR(o, total_iters=6, power=2.0)
    if name == "WarmRestarts":
        return S.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.01)
    if name == "SequentialWarmupCosine":
        warm = S.LinearLR(o, start_factor=0.1, total_iters=3)
        return S.SequentialLR(o, [warm, S.CosineAnnealingLR(o, T_max=8)], milestones=[3])
    if name == "Sequential3":
        parts = [S.ConstantLR(o, factor=0.1, total_iters=2), S.ExponentialLR(o, gamma=0.9)]
        return S.SequentialLR(o, [*parts, S.StepLR(o, 2)], milestones=[2, 5])
    parts = [S.ConstantLR(o, factor=0.1, total_iters=2), S.ExponentialLR(o, gamma=0.9)]
    return S.ChainedScheduler(parts)


@pytest.mark.parametrize("name", sorted(EXTRA_PASTED))
def test_extra_schedulers(name):
    opt = make_opt(lrs=(1.0, 0.5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sched = _extra(name, opt)
        got = [sched.get_last_lr()[0]]
        for _ in range(14):
            opt.step()
            sched.step()
            got.append(sched.get_last_lr()[0])
    assert got == pytest.approx(EXTRA_PASTED[name], abs=1e-8)
    again = _extra(name, make_opt(lrs=(1.0, 0.5)))
    again.load_state_dict(sched.state_dict())
    assert again.get_last_lr() == sched.get_last_lr()


def test_extra_scheduler_errors():
    opt = make_opt(lrs=(1.0,))
    with pytest.raises(ValueError, match="Constant multiplicative factor expected to be between"):
        S.ConstantLR(opt, factor=2)
    with pytest.raises(ValueError, match="Expected positive integer T_0, but got 0"):
        S.CosineAnnealingWarmRestarts(opt, T_0=0)
    with pytest.raises(ValueError, match="Expected integer T_mult >= 1, but got 0"):
        S.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=0)
    with pytest.raises(ValueError, match="expects number of schedulers provided to be one more"):
        S.SequentialLR(opt, [S.StepLR(opt, 2)], milestones=[1])


@pytest.mark.parametrize(
    "name", ["ConstantLR", "MultiplicativeLR", "PolynomialLR", "WarmRestarts", "Sequential3"]
)
def test_extra_schedulers_match_torch(name):
    torch = pytest.importorskip("torch")

    def build(lib, o):
        s = lib.optim.lr_scheduler
        if name == "MultiplicativeLR":
            return s.MultiplicativeLR(o, [lambda e: 0.9, lambda e: 0.8])
        if name == "WarmRestarts":
            return s.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=3, eta_min=0.05)
        if name == "Sequential3":
            parts = [s.PolynomialLR(o, 3), s.ConstantLR(o, 0.2, 4)]
            return s.SequentialLR(o, [*parts, s.CosineAnnealingWarmRestarts(o, 3)], [3, 6])
        return getattr(s, name)(o)

    import gpugrad

    ours_opt = make_opt(lrs=(1.0, 0.5))
    tparams = [{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in (1.0, 0.5)]
    theirs_opt = torch.optim.SGD(tparams)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, theirs = build(gpugrad, ours_opt), build(torch, theirs_opt)
        for _ in range(20):
            ours_opt.step()
            theirs_opt.step()
            ours.step()
            theirs.step()
            assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), abs=1e-12)


def test_cyclic_lr_triangle_and_momentum():
    # triangular: up from base_lr to max_lr in step_size_up steps, down in step_size_down;
    # momentum moves the opposite way between max_momentum and base_momentum
    opt = make_opt("SGD", (0.5,), momentum=0.5)
    sched = S.CyclicLR(opt, base_lr=0.1, max_lr=0.4, step_size_up=3, step_size_down=2)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[0]["momentum"] == 0.9
    lrs, moms = curve(sched, opt, n=10, momentum_key="momentum")
    want = [0.1, 0.2, 0.3, 0.4, 0.25, 0.1, 0.2, 0.3, 0.4, 0.25, 0.1]
    assert [lr[0] for lr in lrs] == pytest.approx(want)
    frac = [(lr - 0.1) / 0.3 for lr in want[1:]]
    assert [m[0] for m in moms] == pytest.approx([0.9 - 0.1 * f for f in frac])
    halving = S.CyclicLR(make_opt(), 0.1, 0.5, step_size_up=1, mode="triangular2")
    peaks = []
    for _ in range(6):
        halving.optimizer.step()
        halving.step()
        peaks.append(halving.get_last_lr()[0])
    assert peaks[::2] == pytest.approx([0.5, 0.3, 0.2])  # the amplitude halves each cycle
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        S.CyclicLR(make_opt("Adagrad"), 0.01, 0.1)
    with pytest.raises(ValueError, match="mode is invalid and scale_fn is None"):
        S.CyclicLR(make_opt("SGD", momentum=0.9), 0.01, 0.1, mode="sawtooth")
    state = sched.state_dict()
    assert state["_scale_fn_custom"] is None and "optimizer" not in state
