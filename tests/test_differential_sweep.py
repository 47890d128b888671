"""The argument sweep of issue #16: every public callable gpugrad shares with PyTorch (torch,
Tensor methods, nn.functional, linalg, special; found by gpugrad.utils.api_coverage), called in
both libraries with the cases of tests/differential_sweep_cases.py (its base argument list,
then out-of-range ints and dims, 0-d/empty/bool/int/float64/other-rank/mismatched/negative/None
tensors, bad keyword values, an unknown keyword, a wrong ``out=``), one test per callable.

For every case, PyTorch's outcome is the specification:
- PyTorch raises: gpugrad raises the same builtin exception type (one rule-based exception:
  PyTorch's AttributeError on a None argument, which comes from its Python code calling a
  method on None, may be gpugrad's TypeError naming the argument); the innermost frame of
  gpugrad's traceback is its own, not NumPy's, SciPy's, Numba's or CuPy's; its message has
  no NumPy wording unless PyTorch's has it too.
- PyTorch returns: gpugrad returns a result of the same structure (tuples, lengths), shapes
  and dtypes; results of deterministic ops have the same values: floating ones within a
  float32 tolerance with NaN and inf in the same places, integer and bool ones exactly (of a
  result PyTorch defines only in part, the DEFINED_LEAVES); ``out=`` is returned where
  PyTorch returns it.
- Warnings: gpugrad emits no NumPy RuntimeWarning ("divide by zero encountered ...") where
  PyTorch emits no RuntimeWarning.
- State: a call, failed or not, changes no input tensor (an in-place method's receiver,
  ``out``, any argument) that PyTorch's leaves unchanged; so a failed in-place call or one
  given ``out=`` leaves its inputs as they were.
Each call runs under a SIGALRM limit of CALL_LIMIT_S seconds. Known differences are listed,
with the reason, in KNOWN; an entry that no longer differs fails, so the table stays true.

Not covered: the values of random ops and of uninitialised memory (RANDOM: only their
shapes and dtypes are compared); gradients (tests/test_differential_torch.py and
tests/test_fp_edge_sweep.py compare them on hand-written tables); CUDA (the sweep runs on the
CPU); the names in SKIP (process state, I/O, conversions, casts, attributes, tracing, random
in-place fills, dropout-like ops); exception texts beyond the NumPy-wording rule (the
hand-written tables check PyTorch's texts where they are stable); ``out=`` in the overloads
of a name where PyTorch refuses it (gpugrad takes it in every form of a listed name).
"""

from __future__ import annotations

import re
import signal
import warnings
from dataclasses import dataclass, field

import numpy as np
import pytest

import gpugrad

torch = pytest.importorskip("torch", reason="the differential sweep compares with PyTorch")

from tests.differential_sweep_cases import (  # noqa: E402 - needs torch
    RANDOM,
    Case,
    Target,
    candidates,
    cases,
    materialize,
    shared_callables,
)

CALL_LIMIT_S = 5.0
FOREIGN = ("/numpy/", "/scipy/", "/numba/", "/cupy/")
# texts only NumPy writes: what a user sees when an array operation fails under gpugrad's op
NUMPY_WORDING = re.compile(
    r"numpy|ndarray|ufunc|operands could not be broadcast|could not broadcast input array|"
    r"is out of bounds for axis|axis -?\d+ is out of bounds for array|zero-size array to "
    r"reduction|cannot reshape array of size|shapes \(.*\) and \(.*\) not aligned|"
    r"setting an array element with a sequence|Input operand|mismatch in its core dimension|"
    r"array of sample points is empty|negative dimensions are not allowed|"
    r"maximum supported dimension for an ndarray|only integers, slices"
)
NUMPY_WARNING = re.compile(r"encountered in|Mean of empty slice|Degrees of freedom <= 0")
# float32's tolerance (float64 results are held to it too), half types' own; exact otherwise
RTOL = {"float16": 1e-2, "bfloat16": 2e-2, "float32": 1e-4, "float64": 1e-4}
ATOL = {"float16": 1e-2, "bfloat16": 2e-2, "float32": 1e-5, "float64": 1e-5}
RTOL |= {"complex64": 1e-4, "complex128": 1e-4}
ATOL |= {"complex64": 1e-5, "complex128": 1e-5}

# results PyTorch defines only in part: the leaves whose values are compared (by position in
# the result tuple). Eigen- and singular vectors are defined up to sign (or phase); which of
# tied elements an unstable sort, topk, kthvalue or mode reports is not specified.
DEFINED_LEAVES: dict[str, tuple[int, ...]] = {
    "eigh": (0,), "eig": (0,), "svd": (1,),
    "sort": (0,), "argsort": (), "topk": (0,), "kthvalue": (0,), "mode": (0,),
}  # fmt: skip

# what compare checks, one name per rule
RULES = frozenset(
    ("type", "returns", "raises", "foreign", "numpy-text")
    + ("structure", "values", "out", "warning", "state")
)

# (test id, case tag or "*" for all its cases, rule) -> why gpugrad differs from PyTorch
# there. Real bugs are marked BUG: remove the entry with the fix.
KNOWN: dict[tuple[str, str, str], str] = {
    ("torch.sparse_coo_tensor", "arg1=none", "type"): (
        "PyTorch's RuntimeError 'Could not infer dtype of NoneType' comes from converting None "
        "to a tensor; gpugrad's TypeError names the argument (values must be a Tensor)"
    ),
    ("linalg.cholesky_ex", "base", "values"): (
        "the matrix is not positive-definite (info=3): PyTorch returns LAPACK's partial "
        "factor, gpugrad zeros (documented in ops/decomposition.py; L is unspecified there)"
    ),
    ("linalg.cholesky_ex", "arg0=float64", "values"): "as base: not positive-definite",
    ("linalg.cholesky_ex", "arg0=negvals", "values"): "as base: not positive-definite",
    ("linalg.cholesky_ex", "out=same", "values"): "as base: not positive-definite",
    ("linalg.cholesky_ex", "out=empty", "values"): "as base: not positive-definite",
    # out= (gpugrad.ops.out_argument). gpugrad/_out_names.py lists a name where any of torch's
    # overloads takes out=; these take it only in some forms (sum, prod, median with a dim;
    # argsort with stable=; where with three arguments), which the base call is not
    **{
        (f"torch.{name}", tag, rule): (
            f"torch.{name} takes out= only in some of its overloads, not the base's; gpugrad's "
            "faces take out= in every form of a listed name"
        )
        for name in ("sum", "prod", "median", "argsort", "where")
        for tag, rules in {
            "out=same": ("returns", "state"),
            "out=empty": ("returns", "state"),
            # sum and prod compute in out's int64: zeros into zeros, nothing changes
            "out=wrong-dtype": ("returns",) if name in ("sum", "prod") else ("type",),
        }.items()
        for rule in rules
    },
    # kernels that want out's dtype exactly where gpugrad casts any result that can be cast
    ("torch.all", "out=wrong-dtype", "returns"): "torch: bool out= only; gpugrad casts to int64",
    ("torch.all", "out=wrong-dtype", "state"): "as returns: gpugrad writes the cast result",
    ("torch.any", "out=wrong-dtype", "returns"): "torch: bool out= only; gpugrad casts to int64",
    ("torch.any", "out=wrong-dtype", "state"): "as returns: gpugrad writes the cast result",
    ("torch.isin", "out=wrong-dtype", "returns"): "torch: bool out= only; gpugrad casts to int64",
    ("torch.isin", "out=wrong-dtype", "state"): "as returns: gpugrad writes the cast result",
    ("torch.masked_select", "out=wrong-dtype", "returns"): (
        "torch: out= of self's dtype only; gpugrad casts bool to int64"
    ),
    ("torch.masked_select", "out=wrong-dtype", "state"): "as returns: gpugrad writes the cast",
    ("torch.nanmean", "out=wrong-dtype", "type"): (
        "torch's nansum kernel has no int64 (NotImplementedError); gpugrad refuses the cast of "
        "its float result (RuntimeError)"
    ),
    ("torch.nansum", "out=wrong-dtype", "returns"): (
        "torch's nansum kernel has no int64 (NotImplementedError); gpugrad sums in out's dtype"
    ),
    # factories computing in out's dtype, as torch's: gpugrad's take dtypes torch's kernels lack
    ("torch.arange", "out=wrong-dtype", "returns"): "torch has no bool arange; gpugrad makes one",
    ("torch.arange", "out=wrong-dtype", "state"): "as returns",
    ("torch.randint", "out=wrong-dtype", "returns"): "torch has no bool randint; gpugrad draws one",
    ("torch.randint", "out=wrong-dtype", "state"): "as returns",
    (
        "torch.randperm",
        "out=wrong-dtype",
        "returns",
    ): "torch has no bool randperm; gpugrad makes one",
    ("torch.randperm", "out=wrong-dtype", "state"): "as returns",
    ("torch.bernoulli", "out=wrong-dtype", "raises"): (
        "torch draws in out's dtype (int64 0/1); gpugrad's bernoulli takes no dtype, so its float "
        "draws are refused as a float-into-int64 cast"
    ),
    ("torch.normal", "out=empty", "returns"): (
        "torch.normal(mean, out=) broadcasts mean with out's shape (an empty out fails there); "
        "gpugrad draws mean's shape and resizes out"
    ),
    ("torch.normal", "out=empty", "state"): "as returns",
}

TARGETS = shared_callables()


class CallTimeout(Exception):
    """A call ran past CALL_LIMIT_S."""


@dataclass
class Outcome:
    result: object = None
    error: BaseException | None = None
    warnings: list = field(default_factory=list)
    inputs: list = field(default_factory=list)  # the input tensors, receiver first
    before: list = field(default_factory=list)  # their values before the call ...
    after: list = field(default_factory=list)  # ... and after it


def _is_tensor(v) -> bool:
    return isinstance(v, (torch.Tensor, gpugrad.Tensor))


def _dtype_name(dtype) -> str:
    return str(dtype).split(".")[-1]


def _array(v) -> np.ndarray:
    """A tensor of either library as a float64 (or complex) NumPy copy."""
    v = v.detach()
    if isinstance(v, torch.Tensor):
        if v.layout != torch.strided:
            v = v.to_dense()
        v = v.resolve_conj().resolve_neg()
        v = v if v.dtype.is_complex else v.to(torch.float64)
        return v.numpy().copy()
    if getattr(v, "is_sparse", False):
        v = v.to_dense()
    a = np.asarray(v.numpy())
    return a.astype(np.complex128 if np.iscomplexobj(a) else np.float64)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


def _tensors(values) -> list:
    out = []
    for v in values:
        if _is_tensor(v):
            out.append(v)
        elif isinstance(v, (list, tuple)):
            out.extend(_tensors(v))
    return out


def _alarm(signum, frame):
    raise CallTimeout()


def run(L, target: Target, case: Case) -> Outcome | None:
    """One case in library L; None where a method's receiver would not be a tensor."""
    args = [materialize(L, a) for a in case.args]
    kwargs = {k: materialize(L, v) for k, v in case.kwargs.items()}
    if target.method:
        if not args or not _is_tensor(args[0]):
            return None
        fn, call_args = getattr(args[0], target.name), args[1:]
    else:
        fn, call_args = target.function(L), args
    got = Outcome(inputs=_tensors([*args, *kwargs.values()]))
    got.before = [_array(x) for x in got.inputs]
    # the same draws whatever ran before (torch.manual_seed would also seed CUDA, slowly)
    torch.default_generator.manual_seed(0)
    gpugrad.manual_seed(0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        signal.setitimer(signal.ITIMER_REAL, CALL_LIMIT_S)
        try:
            got.result = fn(*call_args, **kwargs)
        except CallTimeout:
            raise
        except Exception as e:  # noqa: BLE001 - the exception is the outcome compared
            got.error = e
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    got.warnings = list(caught)
    got.after = [_array(x) for x in got.inputs]
    return got


def structure(v):
    """What the result is, without its values: tensors as (shape, dtype), sequences nested."""
    if _is_tensor(v):
        return ("tensor", tuple(v.shape), _dtype_name(v.dtype))
    if isinstance(v, (tuple, list)):
        return tuple(structure(x) for x in v)
    if isinstance(v, (torch.dtype, gpugrad.dtype)):
        return ("dtype", _dtype_name(v))
    if v is None or isinstance(v, (bool, int, float, complex, str)):
        return type(v).__name__
    return "other"


def _leaves(t, g):
    """Pairs of tensors at the same place in both results (same structure assumed)."""
    if _is_tensor(t):
        yield t, g
    elif isinstance(t, (tuple, list)):
        for a, b in zip(t, g):
            yield from _leaves(a, b)


def _builtin(e: BaseException) -> type:
    return next(c for c in type(e).__mro__ if c.__module__ == "builtins")


def _innermost(e: BaseException) -> str:
    tb, where = e.__traceback__, ""
    while tb is not None:
        where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where


def _text(e: BaseException) -> str:
    return f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"


def compare(target: Target, case: Case, t: Outcome, g: Outcome) -> dict[str, str]:
    """The rules gpugrad's outcome breaks, each with what was seen."""
    bad: dict[str, str] = {}
    if t.error is not None:
        if g.error is None:
            bad["returns"] = f"torch raises {_text(t.error)}; gpugrad returns {structure(g.result)}"
        else:
            tb, gb = _builtin(t.error), _builtin(g.error)
            none_rule = case.tag.endswith("=none") and tb is AttributeError and gb is TypeError
            if tb is not gb and not none_rule:
                bad["type"] = f"torch raises {_text(t.error)}; gpugrad {_text(g.error)}"
    elif g.error is not None:
        bad["raises"] = f"torch returns {structure(t.result)}; gpugrad raises {_text(g.error)}"
    else:
        ts, gs = structure(t.result), structure(g.result)
        if ts != gs:
            bad["structure"] = f"torch returns {ts}; gpugrad {gs}"
        elif not RANDOM.match(target.name):
            compared = DEFINED_LEAVES.get(target.name)
            for k, (a, b) in enumerate(_leaves(t.result, g.result)):
                if compared is not None and k not in compared:
                    continue
                why = _values_differ(a, b)
                if why:
                    bad["values"] = why
                    break
        if "out" in case.kwargs and t.result is t.inputs[-1] and g.result is not g.inputs[-1]:
            bad["out"] = "torch returns the out= tensor; gpugrad returns another"
    if g.error is not None:
        where = _innermost(g.error)
        if any(f in where for f in FOREIGN):
            bad["foreign"] = f"gpugrad's {_text(g.error)} is raised in {where}"
        text = str(g.error)
        if NUMPY_WORDING.search(text) and not (t.error and NUMPY_WORDING.search(str(t.error))):
            bad["numpy-text"] = f"gpugrad's message has NumPy's wording: {_text(g.error)}"
    t_rw = any(issubclass(w.category, RuntimeWarning) for w in t.warnings)
    g_np = [w for w in g.warnings if issubclass(w.category, RuntimeWarning)]
    g_np = [w for w in g_np if NUMPY_WARNING.search(str(w.message)) or "/numpy/" in w.filename]
    if g_np and not t_rw:
        bad["warning"] = f"gpugrad warns {g_np[0].message!s} ({g_np[0].filename}); torch is silent"
    for k, (tb_, ta, gb_, ga) in enumerate(zip(t.before, t.after, g.before, g.after)):
        t_changed, g_changed = not _same(tb_, ta), not _same(gb_, ga)
        if g_changed and not t_changed:
            how = "a failed call" if g.error is not None else "the call"
            bad["state"] = f"{how} changed input tensor {k}, which torch leaves unchanged"
            break
    return bad


def _values_differ(a, b) -> str:
    """Why two result tensors of the same shape and dtype differ in value ('' if they agree):
    NaN in the same places, inf of the same sign, the rest within RTOL/ATOL."""
    if a.numel() == 0:
        return ""
    x, y = _array(a), _array(b)
    name = _dtype_name(a.dtype)
    rtol, atol = RTOL.get(name, 0.0), ATOL.get(name, 0.0)
    if np.allclose(y, x, rtol=rtol, atol=atol, equal_nan=True):
        return ""
    i = (
        np.unravel_index(np.argmax(~np.isclose(y, x, rtol, atol, equal_nan=True)), x.shape)
        if x.ndim
        else ()
    )
    return f"values differ: at {tuple(int(j) for j in i)} torch {x[i]!r}, gpugrad {y[i]!r}"


def _base(target: Target):
    """The first candidate PyTorch accepts, with PyTorch's result (None if it takes none)."""
    for args in candidates(target):
        t = run(torch, target, Case("base", args, {}))
        if t is not None and t.error is None:
            return args, t.result
    return None


def _show(case: Case) -> str:
    kw = "".join(f", {k}={v!r}" for k, v in case.kwargs.items())
    return f"({', '.join(map(repr, case.args))}{kw})"


@pytest.fixture
def call_limit():
    """SIGALRM raises CallTimeout in the running call (pytest runs tests in the main thread)."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


def sweep(target: Target) -> tuple[list[str], set, int] | None:
    """(failures, KNOWN keys that matched, cases run) of one callable; None if no base."""
    try:
        found = _base(target)
    except CallTimeout:
        return [f"torch's call ran past {CALL_LIMIT_S} s while looking for a base"], set(), 0
    if found is None:
        return None
    base, torch_result = found
    failures, matched, ran = [], set(), 0
    todo = cases(target, base, torch_result)
    for n, case in enumerate(todo):
        outcomes = []
        for L in (torch, gpugrad):
            try:
                outcomes.append(run(L, target, case))
            except CallTimeout:
                # one hang is enough to know: the rest would each cost the limit again
                failures.append(
                    f"[{case.tag}] {_show(case)}: {L.__name__}'s call ran past "
                    f"{CALL_LIMIT_S} s ({len(todo) - n - 1} later cases not run)"
                )
                return failures, matched, ran
        t, g = outcomes
        if t is None:
            continue
        ran += 1
        for rule, what in compare(target, case, t, g).items():
            keys = [k for k in ((target.id, case.tag, rule), (target.id, "*", rule)) if k in KNOWN]
            if keys:
                matched.update(keys)
            else:
                failures.append(f"[{case.tag}] {_show(case)} {rule}: {what}")
    return failures, matched, ran


@pytest.mark.parametrize("target", TARGETS, ids=[t.id for t in TARGETS])
def test_sweep_matches_torch(target: Target, call_limit):
    result = sweep(target)
    if result is None:
        pytest.skip(f"no argument list of CANDIDATES that torch accepts for {target.id}")
    failures, matched, _ = result
    stale = {k for k in KNOWN if k[0] == target.id} - matched
    failures += [f"KNOWN entry {k} no longer differs: remove it" for k in sorted(stale)]
    assert not failures, f"{target.id} differs from torch:\n" + "\n".join(failures)


def test_known_entries_name_swept_callables_and_rules():
    assert {k[0] for k in KNOWN} <= {t.id for t in TARGETS}
    assert {k[2] for k in KNOWN} <= RULES
