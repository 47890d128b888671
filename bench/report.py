"""Reports from a run's JSON: a Markdown file (one table per workload), summary lines, and
the core benchmark's target table (MLP training step and the 100-op chain)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

# Core issue targets on a 2-core x86 CPU: gpugrad's MLP step time over the handwritten step's.
MLP_TARGETS = {"tiny": 2.5, "small": 1.3, "medium": 1.08, "large": 1.03}
MLP_TORCH_REFERENCE = {"tiny": 4.8, "small": 1.8, "medium": 1.19, "large": 1.01}
CHAIN_TARGET_US = 8.0
CHAIN_TORCH_REFERENCE_US = 22.0
# The compiled steps (``--compile``), shown side by side where present: gpugrad.compile's
# replay, and torch.compile's, the reference
COMPILED_IMPLS = ("compiled", "torch.compile")
# The compile issue's MLP step targets (cpu), for gpugrad's replay only
COMPILED_TARGETS = {"compiled": {"tiny": 1.3, "small": 1.1}}
IMPL_ORDER = ("floor", "gpugrad", "compiled", "torch", "torch.compile")


def fmt_time(s: float | None) -> str:
    if s is None or s != s:
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.3g} µs"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


def fmt_ratio(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}x"


def geomean(xs: list[float]) -> float | None:
    xs = [x for x in xs if x and x > 0 and math.isfinite(x)]
    return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else None


def workloads_of(results: list[dict]) -> list[str]:
    """The workloads present, in the registry's order (whatever order they ran in)."""
    from .workloads import WORKLOADS

    present = set(r["workload"] for r in results)
    return [w for w in WORKLOADS if w in present] + sorted(present - set(WORKLOADS))


def groups(results: list[dict]) -> dict[str, dict[str, dict]]:
    """{case key: {impl: record}} in run order."""
    out: dict[str, dict[str, dict]] = {}
    for r in results:
        out.setdefault(r["key"], {})[r["impl"]] = r
    return out


def _check_cell(g: dict[str, dict]) -> str:
    bad = [
        f"{n} {r['check_err']:.1e} ({r['check_worst']})"
        for n, r in g.items()
        if r.get("check_ok") is False
    ]
    if bad:
        return "MISMATCH " + "; ".join(bad)
    errs = [r["check_err"] for r in g.values() if r.get("check_ok")]
    return f"ok {max(errs):.0e}" if errs else "-"


def _achieved(r: dict | None) -> tuple[str, str]:
    if not r or r.get("median_s") is None:
        return "-", "-"
    if r["ceiling_unit"] == "TFLOP/s":
        t = r["tflops"]
        val = f"{t * 1e3:.3g} GFLOP/s" if t < 1 else f"{t:.3g} TFLOP/s"
    else:
        val = f"{r['gbs']:.3g} GB/s"
    frac = r.get("frac_of_ceiling")
    return val, ("-" if frac is None else f"{100 * frac:.1f}%")


def compiled_present(impls: Iterable[str]) -> list[str]:
    """The compiled implementations among ``impls``, in the report's order."""
    present = set(impls)
    return [n for n in COMPILED_IMPLS if n in present]


def workload_table(results: list[dict], workload: str) -> list[str]:
    rows = [r for r in results if r["workload"] == workload]
    compiled = compiled_present(r["impl"] for r in rows)
    extra = "".join(f" {n} | {n}/floor |" for n in compiled)
    head = (
        f"| variant | mode | size | device | floor | gpugrad |{extra} torch | gpugrad/floor | "
        "torch/floor | gpugrad/torch | gpugrad rate | of ceiling | check |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    errors = []
    for g in groups(rows).values():
        any_r = next(iter(g.values()))
        gg, fl, to = g.get("gpugrad"), g.get("floor"), g.get("torch")
        rate, frac = _achieved(gg)
        variant = any_r["variant"] + ("" if any_r["dtype"] == "float32" else f" {any_r['dtype']}")
        cells = "".join(
            f" {fmt_time(co and co['median_s'])} | {fmt_ratio(co and co['ratio_to_floor'])} |"
            for co in map(g.get, compiled)
        )
        lines.append(
            f"| {variant} | {any_r['mode']} | {any_r['label']} | {any_r['device']} | "
            f"{fmt_time(fl and fl['median_s'])} | {fmt_time(gg and gg['median_s'])} |{cells} "
            f"{fmt_time(to and to['median_s'])} | {fmt_ratio(gg and gg['ratio_to_floor'])} | "
            f"{fmt_ratio(to and to['ratio_to_floor'])} | {fmt_ratio(gg and gg['ratio_to_torch'])} "
            f"| {rate} | {frac} | {_check_cell(g)} |"
        )
        for n, r in g.items():
            if r["error"]:
                # one line each (a compiler's message runs over several)
                errors.append(f"- {any_r['key']} [{n}]: {' '.join(r['error'].split())}")
    if errors:
        lines += ["", "Errors:", ""] + sorted(set(errors))[:40]
    return lines


def crossovers(results: list[dict], impl: str = "gpugrad") -> dict[str, tuple[list, str | None]]:
    """Per (workload, series): [(size, label, cpu/cuda speedup)] and the first label from
    which the GPU stays faster."""
    by: dict[str, dict[str, dict[str, dict]]] = defaultdict(lambda: defaultdict(dict))
    for r in results:
        if r["impl"] == impl and r["median_s"]:
            by[f"{r['workload']}: {r['series']}"][r["label"]][r["device"]] = r
    out = {}
    for series, labels in by.items():
        pts = [
            (d["cpu"]["size"], lab, d["cpu"]["median_s"] / d["cuda"]["median_s"])
            for lab, d in labels.items()
            if "cpu" in d and "cuda" in d
        ]
        pts.sort()
        cross = None
        for i, (_, lab, _s) in enumerate(pts):
            if all(p[2] >= 1 for p in pts[i:]):
                cross = lab
                break
        if pts:
            out[series] = (pts, cross)
    return out


def summary_lines(data: dict) -> list[str]:
    res = data["results"]
    lines = []
    for wl in workloads_of(res):
        rs = [r for r in res if r["workload"] == wl]
        parts = []
        for dev in dict.fromkeys(r["device"] for r in rs):
            gg = [r for r in rs if r["device"] == dev and r["impl"] == "gpugrad"]
            vs_floor = geomean([r["ratio_to_floor"] for r in gg])
            vs_torch = geomean([r["ratio_to_torch"] for r in gg])
            bits = [f"gpugrad/floor {fmt_ratio(vs_floor)} geomean"]
            if _largest(gg) is not None:
                bits[0] += f" (largest fwd+bwd {fmt_ratio(_largest(gg))})"
            if vs_torch is not None:
                bits.append(f"gpugrad/torch {fmt_ratio(vs_torch)}")
            for name in COMPILED_IMPLS:
                co = [r for r in rs if r["device"] == dev and r["impl"] == name]
                vs_floor_c = geomean([r["ratio_to_floor"] for r in co])
                if vs_floor_c is not None:
                    bits.append(f"{name}/floor {fmt_ratio(vs_floor_c)}")
            failed = sum(1 for r in gg if r["error"])
            if failed:
                bits.append(f"{failed} gpugrad errors")
            parts.append(f"{dev}: " + ", ".join(bits))
        bad = sum(1 for r in rs if r.get("check_ok") is False)
        checks = "all checks ok" if not bad else f"{bad} CHECK MISMATCHES"
        cross = [c for s, (_, c) in crossovers(rs).items() if s.endswith("fwd+bwd")]
        if cross:
            cr = ", ".join(sorted({c or "never" for c in cross}))
            parts.append(f"GPU beats CPU from {cr}")
        lines.append(f"{wl}: " + "; ".join(parts) + f"; {checks}")
    return lines


def _largest(gg: list[dict]) -> float | None:
    fb = [r for r in gg if r["mode"] == "fwd+bwd" and r["ratio_to_floor"]]
    return fb[-1]["ratio_to_floor"] if fb else None


def core_table(data: dict) -> list[str]:
    """The core benchmark: MLP step ratios against their targets, and the chain's µs/op."""
    res = data["results"]
    lines = []
    for dev in dict.fromkeys(r["device"] for r in res):
        mlp = groups(
            [
                r
                for r in res
                if r["workload"] == "mlp" and r["mode"] == "fwd+bwd" and r["device"] == dev
            ]
        )
        if mlp:
            compiled = compiled_present(n for g in mlp.values() for n in g)
            extra = "".join(
                f" {n} ms | ratio |" + (" target | |" if n in COMPILED_TARGETS else "")
                for n in compiled
            )
            head = (
                f"| size | floor ms | gpugrad ms | ratio | target | | ratio of best samples |"
                f"{extra} torch ms | torch ratio | torch (issue) |"
            )
            lines += [
                f"MLP training step (float32, {dev}): ms/step and ratio to the handwritten step",
                "",
                head,
                "|" + "---|" * (head.count("|") - 1),
            ]
            for g in mlp.values():
                fl, gg, to = g.get("floor"), g.get("gpugrad"), g.get("torch")
                name = (fl or gg)["params"]["name"]
                ratio = gg and gg["ratio_to_floor"]
                target = MLP_TARGETS.get(name) if dev == "cpu" else None
                cells = ""
                for n in compiled:
                    co = g.get(n)
                    c_ratio = co and co["ratio_to_floor"]
                    cells += f" {_ms(co)} | {fmt_ratio(c_ratio)} |"
                    if n in COMPILED_TARGETS:
                        c_target = COMPILED_TARGETS[n].get(name) if dev == "cpu" else None
                        cells += (
                            f" {'-' if c_target is None else f'<= {c_target}'} | "
                            f"{_verdict(c_ratio, c_target)} |"
                        )
                lines.append(
                    f"| {(fl or gg)['label']} | {_ms(fl)} | {_ms(gg)} | {fmt_ratio(ratio)} | "
                    f"{'-' if target is None else f'<= {target}'} | {_verdict(ratio, target)} | "
                    f"{fmt_ratio(_best_ratio(gg, fl))} |{cells} {_ms(to)} | "
                    f"{fmt_ratio(to and to['ratio_to_floor'])} | "
                    f"{MLP_TORCH_REFERENCE.get(name, '-') if dev == 'cpu' else '-'} |"
                )
            lines.append("")
        chain = groups(
            [
                r
                for r in res
                if r["workload"] == "chain"
                and r["mode"] == "fwd+bwd"
                and r["device"] == dev
                and r["params"]["n"] == 16
            ]
        )
        for g in chain.values():
            us = {
                n: r["median_s"] / r["params"]["length"] * 1e6
                for n, r in g.items()
                if r["median_s"]
            }
            gg = us.get("gpugrad")
            verdict = _verdict(gg, CHAIN_TARGET_US if dev == "cpu" else None)
            compiled = "".join(f"; {n} {_us(us[n])}/op" for n in COMPILED_IMPLS if n in us)
            lines.append(
                f"100-op chain on 16 elements ({dev}, forward+backward): gpugrad "
                f"{_us(gg)}/op (target <= {CHAIN_TARGET_US:g}) {verdict}{compiled}; torch "
                f"{_us(us.get('torch'))}/op (issue: ~{CHAIN_TORCH_REFERENCE_US:g}); "
                f"handwritten {_us(us.get('floor'))}/op"
            )
    return lines


def _verdict(value: float | None, target: float | None) -> str:
    if value is None or target is None:
        return ""
    return "PASS" if value <= target else "MISS"


def _best_ratio(a: dict | None, b: dict | None) -> float | None:
    """Ratio of the fastest samples: less disturbed by other load than the medians."""
    if not a or not b or not a.get("min_s") or not b.get("min_s"):
        return None
    return a["min_s"] / b["min_s"]


def _ms(r: dict | None) -> str:
    return "-" if not r or r["median_s"] is None else f"{r['median_s'] * 1e3:.3f}"


def _us(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f} µs"


def markdown(data: dict, machine: str, command: str = "") -> str:
    from gpugrad.utils.collect_env import format_env

    meta = data["meta"]
    out = [
        f"# gpugrad benchmark: {machine}",
        "",
        "```",
        format_env(meta["env"]),
        "```",
        "",
        f"Run {meta['started']}, {meta['duration_s']} s, ladder `{meta['level']}`, PyTorch "
        f"threads {meta['torch_threads']}, MLP recipe: {meta['mlp_style']}, char_lm optimizer:"
        f" {meta['char_lm_optimizer']}, load average (1, 5, 15 min) at the end "
        f"{meta.get('load_average')}.",
    ]
    pools = meta.get("threadpools_at_end") or []
    if pools:
        out += [
            "",
            "Thread pools in the process at the end (threadpoolctl): "
            + "; ".join(
                f"{p.get('internal_api')} {p.get('version') or ''} {p.get('threading_layer') or ''}"
                f" {p.get('num_threads')} threads ({p.get('filepath', '').split('/')[-1]})"
                for p in pools
            )
            + ".",
        ]
    if meta.get("threads_limit"):
        out += ["", f"CPU threads limited to {meta['threads_limit']} (BLAS, OpenMP, PyTorch)."]
    if command:
        out += ["", f"Command: `{command}`"]
    out += [
        "",
        "Times are medians per call; floor = the same computation handwritten in NumPy "
        "(cpu) / CuPy (cuda). Ratios are time over time (lower is faster for the left "
        "name). Rates count the minimum bytes moved (memory-bound workloads) or flops "
        "(compute-bound), as a fraction of the measured ceiling below.",
        "",
        "## Ceilings",
        "",
        "| device | copy GB/s (read+write) | matmul TFLOP/s |",
        "|---|---|---|",
    ]
    for dev, c in data["ceilings"].items():
        if "error" in c:
            out.append(f"| {dev} | error: {c['error']} | |")
            continue
        mm = ", ".join(
            f"{k.removeprefix('matmul_tflops_')} {v:.3g}"
            for k, v in c.items()
            if k.startswith("matmul_tflops_")
        )
        out.append(f"| {dev} | {c['bandwidth_gbs']:.1f} | {mm} |")
    core = core_table(data)
    if core:
        out += ["", "## Core benchmark", ""] + core
    for wl in workloads_of(data["results"]):
        out += ["", f"## {wl}", ""] + workload_table(data["results"], wl)
    out += ["", "## Summary", ""] + [f"- {s}" for s in summary_lines(data)]
    return "\n".join(out) + "\n"
