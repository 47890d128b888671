"""gpugrad.compile's fallbacks and guards on the CPU, each on a realistic MLP training step.

Every case runs the same step twice, eagerly on one model and compiled on a twin made from the
same seed, and asks for bit-identical losses, parameters and gradients: a graph break must run
eagerly with one warning naming its reason (a ``GraphBreak`` under ``fullgraph=True``, with
nothing of the broken call applied), and a guard miss must record again, never replay stale.

Design decisions these tests pin down: iterating over a tensor is recorded, not a break (its
length is the guarded shape's, as in torch.compile); copy.deepcopy of a tensor is a recorded
array copy; pickling a tensor fails in eager too (gpugrad.save writes tensors), and compile
passes that error on. Eager's Numba kernels tier up after their first calls
(GPUGRAD_NUMBA_TIER_UP, 0 in the test suite): a recording resolves to the tiered kernel, so
outside the suite the first few dozen eager steps can differ from replays in the last bits.
"""

from __future__ import annotations

import copy
import math
import pickle
import warnings

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.nn as nn
import gpugrad.nn.functional as F
from gpugrad.jit import GraphBreak
from gpugrad.jit import compile as jit_compile

RNG = np.random.default_rng(14)
STEPS = 6


class _MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(32, 32)
        self.drop = nn.Dropout(0.0)
        self.out = nn.Linear(32, 10)
        self.scale = 1.0  # a Python scalar the forward multiplies by

    def forward(self, x):
        return self.out(self.drop(F.relu(self.fc(x)))) * self.scale


def _twin(kind: str = "sgd"):
    gg.manual_seed(0)
    m = _MLP()
    if kind == "sgd":
        opt = gg.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)
    else:
        opt = gg.optim.AdamW(m.parameters(), lr=1e-2, weight_decay=0.01)
    return m, opt


def _batches(n, batch=16, dtype=np.float32):
    return [
        (
            gg.tensor(RNG.standard_normal((batch, 32)).astype(dtype)),
            gg.tensor(RNG.integers(0, 10, batch)),
        )
        for _ in range(n)
    ]


def _same(m1, m2) -> None:
    for (name, p), q in zip(m1.named_parameters(), m2.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy(), err_msg=name)
        assert (p.grad is None) == (q.grad is None), name
        if p.grad is not None:
            np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy(), err_msg=name)


def _loss_value(out) -> float:
    loss = out[0] if isinstance(out, tuple) else out
    return loss.detach().numpy().item() if isinstance(loss, gg.Tensor) else float(loss)


def _compile_warnings(w) -> list[str]:
    return [
        str(x.message)
        for x in w
        if issubclass(x.category, RuntimeWarning) and "gpugrad.compile" in str(x.message)
    ]


class _Run:
    """An eager model and a compiled twin stepped side by side on the same batches."""

    def __init__(self, make_step, kind: str = "sgd", **compile_kwargs) -> None:
        self.m1, self.o1 = _twin(kind)
        self.m2, self.o2 = _twin(kind)
        self.eager = make_step(self.m1, self.o1)
        self.comp = jit_compile(make_step(self.m2, self.o2), **compile_kwargs)

    def both(self, x, y, *rest):
        a = self.eager(x, y, *rest)
        b = self.comp(x, y, *rest)
        assert _loss_value(a) == _loss_value(b)
        return a, b

    def steps(self, batches, *rest) -> list[str]:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            for x, y in batches:
                self.both(x, y, *rest)
        _same(self.m1, self.m2)
        return _compile_warnings(w)


def _train(model, opt, x, y):
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss


# ---- graph breaks -------------------------------------------------------------------
# each: what the step does with its loss (or logits) mid-step, and a word its warning names


def _bool(loss, logits):
    if loss > 1:  # bool() of a 0-d tensor: a data-dependent branch
        return loss * 1.0
    return loss


def _tolist(loss, logits):
    return loss + 0 * len(logits.tolist())


def _print(loss, logits):
    print(loss)
    return loss


def _repr(loss, logits):
    assert repr(loss)
    return loss


def _str(loss, logits):
    assert str(loss)
    return loss


def _fstring(loss, logits):
    assert f"loss {loss:}" and f"{loss}"
    return loss


def _numpy(loss, logits):
    assert logits.detach().numpy().shape == (16, 10)
    return loss


def _int(loss, logits):
    return loss + 0 * int(loss)


def _iterate(loss, logits):
    rows = [r.sum() for r in logits]  # a Python loop over the tensor's first dimension
    return loss + 0 * gg.stack(rows).sum()


def _index(loss, logits):
    k = (logits.argmax(dim=1)[0] * 0).long()
    return [loss, loss * 2][k]  # a tensor as a Python list index


def _range(loss, logits):
    n = logits.argmax(dim=1).max() * 0 + 2
    for _ in range(n):  # a tensor as range()'s bound
        loss = loss * 1.0
    return loss


def _mask(loss, logits):
    kept = logits[logits > 0]  # boolean-mask indexing: a data-dependent shape
    return loss + 0 * kept.sum()


def _nonzero(loss, logits):
    idx = (logits > 0).nonzero()
    return loss + 0 * idx.sum()


def _unique(loss, logits):
    classes = gg.unique(logits.argmax(dim=1))  # as many as the batch predicts
    return loss + 0 * classes.sum()


def _masked_select(loss, logits):
    return loss + 0 * logits.masked_select(logits > 0).sum()


def _arith(loss, logits):
    scale = math.exp(loss)  # the loss read back and used in Python arithmetic
    return loss * (1.0 + 0 * scale)


def _float(loss, logits):
    return loss + 0 * float(loss)


def _item(loss, logits):
    return loss + 0 * loss.item()


BREAKS = {
    "bool": (_bool, "bool"),
    "tolist": (_tolist, "tolist"),
    "print": (_print, "repr"),
    "repr": (_repr, "repr"),
    "str": (_str, "repr"),
    "fstring": (_fstring, "format"),
    "numpy": (_numpy, "numpy"),
    "int": (_int, "int"),
    "index": (_index, "index"),
    "range": (_range, "index"),
    "mask": (_mask, "boolean-mask"),
    "nonzero": (_nonzero, "nonzero"),
    "unique": (_unique, "data-dependent"),
    "masked_select": (_masked_select, "data-dependent"),
    "arith": (_arith, "float"),
    "float": (_float, "float"),
    "item": (_item, "item"),
}


def _breaking_step(read):
    def make(model, opt):
        def step(x, y):
            opt.zero_grad()
            logits = model(x)
            loss = read(F.cross_entropy(logits, y), logits)
            loss.backward()
            opt.step()
            return loss

        return step

    return make


@pytest.mark.parametrize("kind", ["sgd", "adamw"])
@pytest.mark.parametrize("case", sorted(BREAKS))
def test_graph_break_runs_eagerly_with_one_warning(case, kind, capsys):
    read, word = BREAKS[case]
    run = _Run(_breaking_step(read), kind)
    msgs = run.steps(_batches(STEPS))
    assert len(msgs) == 1, msgs
    assert "runs eagerly" in msgs[0] and word in msgs[0], msgs[0]
    assert run.comp.broken is not None and run.comp.replays == 0
    assert run.comp.recordings == 1


@pytest.mark.parametrize("case", sorted(BREAKS))
def test_graph_break_under_fullgraph_raises_and_applies_nothing(case, capsys):
    read, word = BREAKS[case]
    run = _Run(_breaking_step(read), "sgd", fullgraph=True)
    (x, y), (x2, y2) = _batches(2)
    run.both(x, y)  # the warm-up call runs eagerly
    with pytest.raises(GraphBreak, match="graph break") as info:
        run.comp(x2, y2)
    assert word in str(info.value)
    _same(run.m1, run.m2)  # the parameters and grads as after the one completed step
    assert run.comp.replays == 0


@pytest.mark.parametrize("kind", ["sgd", "adamw"])
def test_fullgraph_break_after_the_optimizer_step_puts_everything_back(kind, capsys):
    # the break comes after opt.step() has written the parameters, the gradients and the
    # optimizer's state in place: the GraphBreak leaves all of it as before the call, so
    # eager training continues from exactly where the completed steps left it
    def make(model, opt):
        def step(x, y):
            loss = _train(model, opt, x, y)
            print(f"loss {loss}")
            return loss

        return step

    run = _Run(make, kind, fullgraph=True)
    batches = _batches(STEPS)
    run.both(*batches[0])
    for _ in range(2):  # each call records again, and raises again
        with pytest.raises(GraphBreak, match="repr|format"):
            run.comp(*batches[1])
        _same(run.m1, run.m2)
    for x, y in batches[1:]:
        assert _train(run.m1, run.o1, x, y).item() == _train(run.m2, run.o2, x, y).item()
    _same(run.m1, run.m2)
    for p, q in zip(run.m1.parameters(), run.m2.parameters()):
        s1, s2 = run.o1.state[p], run.o2.state[q]
        assert s1.keys() == s2.keys()
        for k in s1:
            a, b = s1[k], s2[k]
            if isinstance(a, gg.Tensor):
                np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)
            else:
                assert a == b, k


# ---- what is recorded, not a break ----------------------------------------------------


def test_iterating_over_a_tensor_is_recorded_not_a_break():
    # iteration unbinds along the first dimension: its length is the shape's, which the key
    # guards, so (as in torch.compile) it needs no graph break; a new batch size records again
    def make(model, opt):
        def step(x, y):
            opt.zero_grad()
            logits = model(x)
            rows = [r.logsumexp(0) for r in logits]  # a Python loop over the rows
            loss = F.cross_entropy(logits, y) + 0.01 * gg.stack(rows).mean()
            loss.backward()
            opt.step()
            return loss

        return step

    run = _Run(make)
    assert run.steps(_batches(STEPS) + _batches(3, batch=8)) == []
    assert run.comp.broken is None and run.comp.replays == STEPS - 2 + 2
    assert run.comp.recordings == 2


def test_deepcopy_of_a_tensor_inside_the_step_is_a_fresh_copy_on_each_replay():
    # copy.deepcopy of a tensor is an array copy, recorded as one: each replay returns the
    # copy of its own step's loss (a snapshot taken before the backward)
    def make(model, opt):
        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            snap = copy.deepcopy(loss.detach())
            loss.backward()
            opt.step()
            return loss, snap

        return step

    run = _Run(make)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for x, y in _batches(STEPS):
            (l1, s1), (l2, s2) = run.both(x, y)
            assert s1.item() == s2.item() == l2.item()
    assert run.comp.replays == STEPS - 2
    _same(run.m1, run.m2)


def test_pickling_a_tensor_inside_the_step_fails_as_in_eager():
    # gpugrad refuses to pickle tensors (gpugrad.save writes them): the recording call raises
    # the same TypeError eager raises, and leaves no recording behind
    m, opt = _twin()
    x, y = _batches(1)[0]

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(m(x), y)
        pickle.dumps(loss.detach())
        return loss

    comp = jit_compile(step)
    for _ in range(3):
        with pytest.raises(TypeError, match="not pickled"):
            comp(x, y)
    assert comp.replays == 0 and not comp.entries


# ---- Python-side values ----------------------------------------------------------------

SCALE = 1.0  # a module-level float the step below multiplies its loss by


class _Config:
    def __init__(self) -> None:
        self.scale = 1.0


CONFIG = _Config()


def _global_float_step(model, opt):
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y) * SCALE
        loss.backward()
        opt.step()
        return loss

    return step


def test_python_float_global_read_is_guarded():
    # the recording bakes SCALE in as a constant: a new value must record again, never replay
    # the old one; once it changes on every call the recompile limit sends the step to eager
    global SCALE
    run = _Run(_global_float_step, cache_size=3)
    try:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            for i, (x, y) in enumerate(_batches(12)):
                SCALE = 1.0 if i < 6 else 1.0 + 0.5 * i
                run.both(x, y)
    finally:
        SCALE = 1.0
    _same(run.m1, run.m2)
    msgs = _compile_warnings(w)
    assert len(msgs) == 1 and "recompile limit" in msgs[0], msgs
    assert run.comp.replays == 4  # calls 3-6; calls 7-9 each recorded, 10 hit the limit


def test_config_object_attribute_read_is_guarded():
    def make(model, opt):
        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y) * CONFIG.scale
            loss.backward()
            opt.step()
            return loss

        return step

    run = _Run(make)
    try:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            for i, (x, y) in enumerate(_batches(8)):
                CONFIG.scale = 0.5 if i >= 4 else 1.0
                run.both(x, y)
    finally:
        CONFIG.scale = 1.0
    _same(run.m1, run.m2)
    assert _compile_warnings(w) == []
    assert run.comp.recordings == 2 and run.comp.replays == 5


def _counting_step(kind):
    def make(model, opt):
        n = 0
        box = [0]

        def step(x, y):
            nonlocal n
            opt.zero_grad()
            if kind == "nonlocal":
                n += 1
                k = n
            else:
                box[0] += 1
                k = box[0]
            loss = F.cross_entropy(model(x), y) * (1.0 + 0.1 * k)
            loss.backward()
            opt.step()
            return loss

        step.count = lambda: n if kind == "nonlocal" else box[0]
        return step

    return make


@pytest.mark.parametrize("kind", ["nonlocal", "list"])
def test_step_that_changes_a_python_counter_breaks_with_a_warning(kind):
    # a replay would skip the increment (and bake the count in): the recording sees the
    # closure's value change and the step runs eagerly from then on
    run = _Run(_counting_step(kind))
    msgs = run.steps(_batches(STEPS))
    assert len(msgs) == 1 and "Python" in msgs[0], msgs
    assert run.comp.replays == 0 and run.comp.broken is not None
    assert run.eager.count() == run.comp.__wrapped__.count() == STEPS


def test_lr_scheduler_stepped_inside_the_step_breaks():
    # a scheduler's step() is Python: a replay would skip it and keep the old lr
    def make(model, opt):
        sched = gg.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)

        def step(x, y):
            loss = _train(model, opt, x, y)
            sched.step()
            return loss

        return step

    run = _Run(make)
    msgs = run.steps(_batches(STEPS))
    assert len(msgs) == 1 and "lr" in msgs[0], msgs
    assert run.comp.replays == 0
    assert run.o1.param_groups[0]["lr"] == run.o2.param_groups[0]["lr"] == 0.05 / 2**STEPS


def test_module_attributes_changed_between_calls_record_again():
    # a scalar the forward multiplies by, and a dropout's p: both baked into a recording
    run = _Run(lambda m, o: lambda x, y: _train(m, o, x, y))
    batches = _batches(12)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        for i, (x, y) in enumerate(batches):
            if i == 4:
                run.m1.scale = run.m2.scale = 0.5
            if i == 8:
                run.m1.drop.p = run.m2.drop.p = 0.25
            gg.manual_seed(i)
            a = run.eager(x, y)
            gg.manual_seed(i)
            b = run.comp(x, y)
            assert a.item() == b.item()
    _same(run.m1, run.m2)
    assert _compile_warnings(w) == []
    assert run.comp.recordings == 3 and run.comp.replays == 12 - 1 - 3


# ---- guard misses: record again, results as eager ----------------------------------------


def _grad_aware_step(model, opt):
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        if gg.is_grad_enabled():  # an evaluation call under no_grad only measures the loss
            loss.backward()
            opt.step()
        return loss

    return step


def test_no_grad_after_recording_with_grad_records_again():
    run = _Run(_grad_aware_step)
    batches = _batches(10)
    assert run.steps(batches[:4]) == []
    with gg.no_grad():
        assert run.steps(batches[4:7]) == []
    assert run.steps(batches[7:]) == []
    assert run.comp.recordings == 2 and run.comp.replays == 2 + 2 + 3


def test_training_step_under_no_grad_fails_as_in_eager():
    # a replay must not train under no_grad: the call records, and raises eager's error
    run = _Run(lambda m, o: lambda x, y: _train(m, o, x, y))
    batches = _batches(6)
    run.steps(batches[:3])
    for fn in (run.eager, run.comp):
        with gg.no_grad(), pytest.raises(RuntimeError, match="does not require grad"):
            fn(*batches[3])
    assert run.steps(batches[4:]) == []
    assert run.comp.replays == 3


def test_autocast_after_float32_recordings_records_again():
    def make(model, opt):
        def step(x, y):
            opt.zero_grad()
            logits = model(x)
            loss = F.cross_entropy(logits.float(), y)
            loss.backward()
            opt.step()
            return loss, logits

        return step

    run = _Run(make)
    batches = _batches(12)
    assert run.steps(batches[:4]) == []
    for dtype in (gg.bfloat16, gg.float16):
        for x, y in batches[4:8]:
            with gg.autocast("cpu", dtype=dtype):
                (_, a), (_, b) = run.both(x, y)
            assert a.dtype == b.dtype == dtype
    _same(run.m1, run.m2)
    assert run.steps(batches[8:]) == []
    assert run.comp.recordings == 3 and run.comp.broken is None


def _twin_inputs(x):
    return x.detach().clone().requires_grad_(True), x.detach().clone().requires_grad_(True)


def test_input_requires_grad_flipped_records_again():
    # the flag is part of the key; the replay gives the call's own input its fresh .grad
    run = _Run(lambda m, o: lambda x, y: _train(m, o, x, y))
    batches = _batches(10)
    assert run.steps(batches[:3]) == []
    for x, y in batches[3:7]:
        x1, x2 = _twin_inputs(x)
        assert run.eager(x1, y).item() == run.comp(x2, y).item()
        np.testing.assert_array_equal(x1.grad.numpy(), x2.grad.numpy())
    assert run.steps(batches[7:]) == []
    _same(run.m1, run.m2)
    assert run.comp.recordings == 2 and run.comp.replays == 1 + 3 + 3


def test_input_whose_grad_accumulates_across_calls_runs_as_eager():
    # one input Tensor passed again: autograd adds to its .grad, which a replay bound to
    # the recorded input could not; such calls (a gradient there already) run eagerly
    run = _Run(lambda m, o: lambda x, y: _train(m, o, x, y))
    x, y = _batches(1)[0]
    x1, x2 = _twin_inputs(x)
    for _ in range(STEPS):
        assert run.eager(x1, y).item() == run.comp(x2, y).item()
        np.testing.assert_array_equal(x1.grad.numpy(), x2.grad.numpy())
    _same(run.m1, run.m2)
    assert run.comp.replays == 0 and run.comp.broken is None


def test_input_grad_of_replays_is_fresh_and_as_eager():
    def make(model, opt):
        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        return step

    run = _Run(make)
    for x, y in _batches(STEPS):
        x1, x2 = x.detach().requires_grad_(True), x.detach().clone().requires_grad_(True)
        run.eager(x1, y)
        run.comp(x2, y)
        np.testing.assert_array_equal(x1.grad.numpy(), x2.grad.numpy())
    _same(run.m1, run.m2)
    assert run.comp.replays == STEPS - 2


def test_float64_and_transposed_inputs_record_again():
    def make(model, opt):
        def step(x, y):
            return _train(model, opt, x.float(), y)

        return step

    run = _Run(make)
    plain = _batches(4)
    double = _batches(4, dtype=np.float64)
    transposed = [(gg.tensor(np.ascontiguousarray(x.numpy().T)).t(), y) for x, y in _batches(4)]
    assert not transposed[0][0].is_contiguous() and transposed[0][0].shape == (16, 32)
    assert run.steps(plain + double + transposed + plain) == []
    assert run.comp.recordings == 3 and run.comp.replays == 16 - 1 - 3


def test_parameter_replaced_or_changed_outside_the_step():
    run = _Run(lambda m, o: lambda x, y: _train(m, o, x, y))
    batches = _batches(12)
    assert run.steps(batches[:4]) == []
    # a new Parameter object: the replay must read it (the optimizer still holds the old one)
    for m in (run.m1, run.m2):
        m.fc.weight = nn.Parameter(m.fc.weight.detach() * 0.5)
    assert run.steps(batches[4:7]) == []
    n = run.comp.recordings
    # the same parameters changed in place under no_grad, and their data replaced
    for m in (run.m1, run.m2):
        with gg.no_grad():
            m.out.weight.mul_(0.5)
    assert run.steps(batches[7:9]) == [] and run.comp.recordings == n
    for m in (run.m1, run.m2):
        m.out.bias.data = m.out.bias.detach() + 1.0
    assert run.steps(batches[9:]) == []
    assert run.comp.recordings == n + 1


def test_optimizer_settings_changed_between_calls():
    run = _Run(lambda m, o: lambda x, y: _train(m, o, x, y))
    batches = _batches(12)
    assert run.steps(batches[:4]) == []
    for o in (run.o1, run.o2):
        o.param_groups[0]["lr"] = 0.01  # read live by the replay: no new recording
    assert run.steps(batches[4:7]) == [] and run.comp.recordings == 1
    for o in (run.o1, run.o2):
        o.param_groups[0]["momentum"] = 0.5  # baked in: recorded again
    assert run.steps(batches[7:]) == []
    assert run.comp.recordings == 2 and run.comp.replays == 12 - 1 - 2


@pytest.mark.parametrize("inside", [True, False])
def test_zero_grad_set_to_none_or_not(inside):
    # set_to_none chosen by an argument (part of the key), and a zero_grad(set_to_none=True)
    # outside a step recorded with set_to_none=False: the replay must give the parameters
    # gradients again, as eager does, not write into the gradients that were dropped
    def make(model, opt):
        def step(x, y, to_none):
            opt.zero_grad(set_to_none=to_none)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        return step

    run = _Run(make)
    batches = _batches(12)
    assert run.steps(batches[:4], False) == []
    if inside:
        assert run.steps(batches[4:8], True) == []
        assert run.steps(batches[8:], False) == []
        # three: back to set_to_none=False, the gradients are the True phase's new tensors,
        # which the first recording did not write into
        assert run.comp.recordings == 3
    else:
        for o in (run.o1, run.o2):
            o.zero_grad()
        assert run.steps(batches[4:], False) == []
    assert run.comp.broken is None


def test_cache_size_limit_falls_back_with_exactly_one_warning():
    run = _Run(lambda m, o: lambda x, y: _train(m, o, x, y), cache_size=2)
    sizes = [16, 16, 8, 8, 4, 4, 2, 16, 8, 4]
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        for b in sizes:
            x, y = _batches(1, batch=b)[0]
            run.both(x, y)
    _same(run.m1, run.m2)
    msgs = _compile_warnings(w)
    assert len(msgs) == 1 and "recompile limit (2 recordings)" in msgs[0], msgs
    assert run.comp.recordings == 2 and run.comp.broken is not None


# ---- after a fallback ------------------------------------------------------------------


def test_after_a_break_later_calls_stay_eager_and_equal():
    run = _Run(_breaking_step(_item))
    msgs = run.steps(_batches(40))
    assert len(msgs) == 1 and run.comp.replays == 0
    assert run.comp.recordings == 1 and run.comp.calls == 2  # broken: calls go straight to fn


def test_a_second_compiled_function_of_the_same_step_is_independent():
    m, opt = _twin()
    m_ref, opt_ref = _twin()
    step = _breaking_step(_item)(m, opt)
    plain = lambda m, o: lambda x, y: _train(m, o, x, y)  # noqa: E731
    clean = jit_compile(plain(m, opt))
    broken = jit_compile(step)
    eager = plain(m_ref, opt_ref)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        for i, (x, y) in enumerate(_batches(10)):
            got = (broken if i % 2 else clean)(x, y)
            assert got.item() == eager(x, y).item()
    assert len(_compile_warnings(w)) == 1
    assert broken.broken is not None and clean.broken is None and clean.replays == 3
    again = jit_compile(step)  # a new CompiledFunction of the broken step starts afresh
    assert again.broken is None and again.entries == {}
    _same(m_ref, m)


def test_checkpoint_saved_inside_the_step_is_not_skipped():
    import io

    m, opt = _twin()
    ckpt = io.BytesIO()  # rewritten by each step (no Python value of the step changes)

    def step(x, y):
        loss = _train(m, opt, x, y)
        ckpt.seek(0)
        ckpt.truncate()
        gg.save(m.state_dict(), ckpt)
        return loss

    comp = jit_compile(step)
    # the save reads the data back to the host: the step runs eagerly from the recording on
    with pytest.warns(RuntimeWarning, match="copied to the host"):
        for x, y in _batches(STEPS):
            comp(x, y)
    assert comp.broken is not None and comp.replays == 0
    ckpt.seek(0)
    state = gg.load(ckpt)
    for name, p in m.state_dict().items():  # the checkpoint of the last step
        np.testing.assert_array_equal(state[name].numpy(), p.numpy(), err_msg=name)


def test_input_gradient_dropped_in_the_step_replays_and_one_accumulated_stays_eager():
    # an input that carries a gradient into the call: a step that drops it (x.grad = None)
    # before its backward replays (the benchmark chain's pattern); one whose backward
    # accumulates into it runs eagerly for that key, and both stay equal to eager
    rng = np.random.default_rng(3)

    def chain(x, c):
        y = (x * c).tanh().exp()
        s = y.sum()
        x.grad = None
        s.backward()
        return s

    def accumulate(x, c):
        s = (x * c).tanh().sum()
        s.backward()
        return s

    for fn, replays in ((chain, True), (accumulate, False)):
        xs = [gg.tensor(rng.standard_normal(8).astype(np.float32)) for _ in range(3)]
        c = gg.tensor(rng.standard_normal(8).astype(np.float32))
        mine = [x.detach().clone().requires_grad_(True) for x in xs]
        ref = [x.detach().clone().requires_grad_(True) for x in xs]
        comp = jit_compile(fn)
        for i in range(12):
            assert comp(mine[i % 3], c).item() == fn(ref[i % 3], c).item()
            np.testing.assert_array_equal(mine[i % 3].grad.numpy(), ref[i % 3].grad.numpy())
        assert comp.broken is None
        # accumulate: only the first round (no gradient carried in yet) has a key that replays
        assert (comp.replays >= 8) if replays else comp.replays <= 1, (fn.__name__, comp.replays)


def test_a_global_named_like_an_attribute_of_the_step_is_no_guard():
    # a script's loop variable `step` beside `opt.step()` in the compiled function: only
    # the globals the step reads are guards, not its attribute names
    import textwrap

    ns = {"gg": gg, "F": F, "jit_compile": jit_compile}
    src = """
        model = gg.nn.Linear(4, 3)
        opt = gg.optim.SGD(model.parameters(), lr=0.1)

        def train(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        compiled = jit_compile(train)
        x, y = gg.randn(8, 4), gg.randint(0, 3, (8,))
        for step in range(12):
            compiled(x, y)
    """
    exec(textwrap.dedent(src), ns)
    comp = ns["compiled"]
    assert comp.broken is None and comp.recordings == 1 and comp.replays >= 10
