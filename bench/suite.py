"""Run a set of cases: build every implementation, check they agree, time them, record all.

One failing implementation or case is recorded with its error and the run goes on.
"""

from __future__ import annotations

import gc
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from . import libs
from .case import Case
from .ceilings import ceiling_for, measure_ceilings
from .progress import progress
from .timing import Budget, Timed, measure, median
from .workloads import get

IMPLS = ("floor", "gpugrad", "torch")
# ``--compile``, for the workloads that have a step to compile: gpugrad.compile's replay of
# the same step, and torch.compile's (the reference)
COMPILED = libs.COMPILED["gpugrad"]
TORCH_COMPILED = libs.COMPILED["torch"]
COMPILED_IMPLS = (COMPILED, TORCH_COMPILED)
# Timed in PyTorch's block (see run_case)
TORCH_IMPLS = ("torch", TORCH_COMPILED)
BUDGETS = {
    "test": Budget(seconds=0.0, min_sample_s=1e-4, min_repeats=2, max_repeats=2, warmup_s=0.0),
    "quick": Budget(seconds=0.3, min_sample_s=1e-3, min_repeats=3, max_repeats=15, warmup_s=0.02),
    "full": Budget(seconds=2.0, min_sample_s=5e-3, min_repeats=5, max_repeats=30, warmup_s=0.1),
}
# Input sets rotate so that large cases stream from memory rather than a cache; beyond this
# many bytes in all, fewer sets (one set this big fits no cache anyway).
SETS_BYTES = 512 * 2**20


@dataclass
class Options:
    workloads: list[str]
    devices: list[str]
    level: str = "quick"
    sizes: list[str] | None = None  # keep only these labels or ladder positions
    modes: list[str] | None = None
    impls: tuple[str, ...] = IMPLS
    budget: Budget | None = None
    deadline: float | None = None  # time.monotonic() after which remaining cases are skipped
    seed: int = 0
    show_progress: bool = True
    on_case: Callable[[list[dict]], None] | None = None  # called with each case's records
    log: list[str] = field(default_factory=list)


def select_cases(opts: Options) -> list[Case]:
    """Every case of the chosen workloads and devices; cuda first (it is what a GPU run is for)."""
    cases = []
    for dev in sorted(opts.devices, key=lambda d: d != "cuda"):
        for name in opts.workloads:
            wl = get(name)
            cs = wl.cases(dev, opts.level, opts.modes)
            if opts.sizes:
                labels = list(dict.fromkeys(c.label for c in cs))
                keep = {
                    lab
                    for i, lab in enumerate(labels)
                    if lab in opts.sizes or str(i) in opts.sizes or lab.split()[0] in opts.sizes
                }
                cs = [c for c in cs if c.label in keep]
            cases += cs
    return cases


def run_suite(opts: Options) -> dict:
    """Everything measured, JSON-ready: {'meta', 'ceilings', 'results'}."""
    from gpugrad.utils.collect_env import blas_info, get_env_info

    t_start = time.time()
    env = get_env_info()
    cases = select_cases(opts)
    ceilings = {}
    for dev in opts.devices:
        dtypes = sorted(
            {c.dtype for c in cases if c.device == dev and c.bound == "compute"} | {"float32"}
        )
        try:
            ceilings[dev] = measure_ceilings(dev, opts.level, dtypes)
        except Exception as e:  # a missing ceiling leaves fractions empty, nothing else
            ceilings[dev] = {"error": f"{type(e).__name__}: {e}"}
    results = []
    for case in progress(cases, enabled=opts.show_progress, desc="bench"):
        if opts.deadline is not None and time.monotonic() > opts.deadline:
            names = impls_for(get(case.workload), opts)
            results += [_record(case, name, error="skipped: out of time") for name in names]
            continue
        try:
            recs = run_case(case, opts, ceilings.get(case.device, {}))
        except Exception as e:  # a harness bug in one case must not end the run
            names = impls_for(get(case.workload), opts)
            recs = [_record(case, name, error=f"harness: {_describe(e)}") for name in names]
        results += recs
        if opts.on_case is not None:
            opts.on_case(recs)
    _add_ratios(results)
    meta = {
        "env": env,
        "torch_threads": _torch_threads(),
        "level": opts.level,
        "workloads": opts.workloads,
        "devices": opts.devices,
        "budget": asdict(opts.budget or BUDGETS[opts.level]),
        "mlp_style": _mlp_style(),
        "char_lm_optimizer": _char_lm_optimizer(),
        "load_average": _loadavg(),
        "threadpools_at_end": blas_info(),  # PyTorch's OpenMP pool shows once it is loaded
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t_start)),
        "duration_s": round(time.time() - t_start, 1),
    }
    return {"meta": meta, "ceilings": ceilings, "results": results}


def _loadavg() -> list[float] | None:
    """Other work on the machine skews timings: the report says how busy it was."""
    try:
        import os

        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def _torch_threads():
    import sys

    torch = sys.modules.get("torch")  # only when it ran: importing it takes seconds
    return torch.get_num_threads() if torch is not None else None


def _mlp_style() -> str:
    from .workloads.mlp import use_modules

    try:
        return "nn.Sequential + optim.SGD" if use_modules() else "functional + manual SGD"
    except Exception as e:
        return f"unknown ({e})"


def _char_lm_optimizer() -> str:
    from .workloads.char_lm import optimizer

    try:
        return optimizer()
    except Exception as e:
        return f"unknown ({e})"


def _make_impl(name: str, device: str):
    if name == "floor":
        return libs.Floor(device)
    lib = {COMPILED: "gpugrad", TORCH_COMPILED: "torch"}.get(name, name)
    if lib == "torch":
        ok, why = libs.torch_status(device)
        if not ok:
            raise RuntimeError(why)
    return libs.Framework(lib, device, compiled=name in COMPILED_IMPLS)


def _n_sets(wl, case: Case, rng) -> tuple[dict, list[dict]]:
    state = wl.state(case, rng)
    first = wl.batch(case, rng)
    one = sum(a.nbytes for a in first.values())
    n = max(1, min(3, SETS_BYTES // max(one, 1)))
    return state, [first] + [wl.batch(case, rng) for _ in range(n - 1)]


def impls_for(wl, opts: Options) -> list[str]:
    """The implementations a workload's cases run: the compiled ones only where it has one."""
    return [n for n in opts.impls if n not in COMPILED_IMPLS or wl.compilable]


def run_case(case: Case, opts: Options, ceilings: dict) -> list[dict]:
    wl = get(case.workload)
    impls = impls_for(wl, opts)
    t0 = time.monotonic()
    budget = opts.budget or BUDGETS[opts.level]
    rng = np.random.default_rng(opts.seed)
    try:
        state, batches = _n_sets(wl, case, rng)
    except Exception as e:
        return [_record(case, n, error=f"input data: {type(e).__name__}: {e}") for n in impls]
    built: dict[str, tuple] = {}
    errors: dict[str, str] = {}
    outputs: dict[str, dict] = {}
    with libs.tf32(case.dtype == "tf32", case.device):
        for name in impls:
            try:
                impl = _make_impl(name, case.device)
                step = (wl.floor if name == "floor" else wl.framework)(impl, case, state, batches)
                step.call(0)
                impl.sync()
                outputs[name] = step.result()
                built[name] = (impl, step)
            except Exception as e:
                errors[name] = _describe(e)
        checks = _check(outputs, lambda k: wl.key_tolerance(k, case))
        items = {n: Timed(s.call, impl.sync, len(batches)) for n, (impl, s) in built.items()}
        # gpugrad and its floor share NumPy/CuPy (and the BLAS threads): interleaved, their
        # ratio is fair. PyTorch has its own thread pool, whose spinning workers slow the
        # next NumPy sample on a small machine: it is timed in a block of its own, eager and
        # torch.compile interleaved. The first (checked) call above compiled; measure's
        # warm-up runs at least two more untimed calls, so every timed call is a replay.
        measure([it for n, it in items.items() if n not in TORCH_IMPLS], budget)
        measure([it for n, it in items.items() if n in TORCH_IMPLS], budget)
    out = []
    for name in impls:
        it = items.get(name)
        rec = _record(case, name, error=errors.get(name) or (it.error if it else ""))
        if name in built:
            rec["lib"] = built[name][0].lib
        if it is not None and it.samples:
            rec.update(_figures(case, it, ceilings))
        rec.update(checks.get(name, {}))
        rec["case_wall_s"] = round(time.monotonic() - t0, 3)
        out.append(rec)
    del built, items, outputs
    if case.device == "cuda" or case.bytes > 2**24:  # a full collection costs ~0.1 s
        _free(case.device)
    return out


def _describe(e: Exception) -> str:
    tb = traceback.extract_tb(e.__traceback__)
    where = f" at {tb[-1].filename.split('/')[-1]}:{tb[-1].lineno}" if tb else ""
    return f"{type(e).__name__}: {e}{where}"


def _check(outputs: dict[str, dict], tol_of) -> dict[str, dict]:
    """Each implementation's largest relative difference from the floor (or from torch);
    ``tol_of(key)`` is the tolerance of one output."""
    ref_name = "floor" if "floor" in outputs else ("torch" if "torch" in outputs else None)
    if ref_name is None:
        return {}
    ref = outputs[ref_name]
    checks = {}
    for name, got in outputs.items():
        if name == ref_name:
            continue
        missing = sorted(set(ref) ^ set(got))
        worst, where, tol = 0.0, "", tol_of("")
        for k in sorted(set(ref) & set(got)):
            a, b = np.asarray(got[k], np.float64), np.asarray(ref[k], np.float64)
            if a.shape != b.shape:
                worst, where = float("inf"), f"{k}: shape {a.shape} vs {b.shape}"
                break
            scale = max(float(np.max(np.abs(b))) if b.size else 0.0, 1e-30)
            err = float(np.max(np.abs(a - b))) / scale if b.size else 0.0
            err = err if np.isfinite(err) else float("inf")
            if err / tol_of(k) > worst / tol:  # the output nearest its tolerance
                worst, where, tol = err, k, tol_of(k)
        checks[name] = {
            "check_against": ref_name,
            "check_err": worst,
            "check_tol": tol,
            "check_ok": worst <= tol and not missing,
            "check_worst": where,
            "check_missing": missing,
        }
    return checks


def _record(case: Case, impl: str, error: str = "") -> dict:
    rec = asdict(case)
    rec["params"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in case.params.items()}
    rec.update(
        series=case.series,
        key=case.key,
        impl=impl,
        lib=None,
        error=error,
        samples=[],
        inner=0,
        median_s=None,
        min_s=None,
        gbs=None,
        tflops=None,
        frac_of_ceiling=None,
        ceiling=None,
        ceiling_unit=None,
        ratio_to_floor=None,
        ratio_to_torch=None,
    )
    return rec


def _figures(case: Case, it: Timed, ceilings: dict) -> dict:
    med = median(it.samples)
    ceiling, unit = ceiling_for(ceilings, case.bound, case.dtype)
    gbs = case.bytes / med / 1e9
    tflops = case.flops / med / 1e12
    achieved = tflops if unit == "TFLOP/s" else gbs
    return {
        "samples": it.samples,
        "inner": it.inner,
        "median_s": med,
        "min_s": min(it.samples),
        "gbs": gbs,
        "tflops": tflops,
        "ceiling": ceiling,
        "ceiling_unit": unit,
        "frac_of_ceiling": achieved / ceiling if ceiling == ceiling and ceiling else None,
    }


def _add_ratios(results: list[dict]) -> None:
    by_key: dict[str, dict[str, dict]] = {}
    for r in results:
        by_key.setdefault(r["key"], {})[r["impl"]] = r
    for group in by_key.values():
        floor, torch = group.get("floor"), group.get("torch")
        for r in group.values():
            if r["median_s"] is None:
                continue
            if floor and floor["median_s"]:
                r["ratio_to_floor"] = r["median_s"] / floor["median_s"]
            if torch and torch["median_s"]:
                r["ratio_to_torch"] = r["median_s"] / torch["median_s"]


def _free(device: str) -> None:
    gc.collect()
    if device != "cuda":
        return
    try:
        import cupy

        cupy.get_default_memory_pool().free_all_blocks()
    except Exception:  # only housekeeping
        pass
    try:
        import torch

        torch.cuda.empty_cache()
    except Exception:
        pass
