"""A GPU machine's five-minute check: ``python -m bench.gpu_check --out DIR``.

1. the GPU and library versions (gpugrad.utils.collect_env);
2. the CUDA half of the test suite (``pytest -k cuda``) under a time limit;
3. every workload on cuda (then cpu, for the speedup plot) on the quick ladder, against the
   handwritten CuPy/NumPy floor and PyTorch, until the time budget runs out;
4. a short table of headline figures.

Nothing that fails stops the rest: errors are recorded and the run goes on. Everything goes
to DIR: ``gpu_check.log`` (all output), ``<gpu>.md``, ``<gpu>.json`` and three PNGs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from . import libs
from .artifacts import write_all
from .report import fmt_ratio, fmt_time, groups, summary_lines
from .suite import BUDGETS, Options, run_suite
from .timing import Budget
from .workloads import WORKLOADS

PRIORITY = ["mlp", "chain", "elementwise", "reductions", "matmul", "char_lm"]


class _Tee:
    """Everything printed also goes to the log file."""

    def __init__(self, stream, log) -> None:
        self.stream, self.log = stream, log

    def write(self, s: str) -> int:
        self.stream.write(s)
        self.log.write(s)
        self.log.flush()
        return len(s)

    def flush(self) -> None:
        self.stream.flush()
        self.log.flush()


def run_tests(seconds: float) -> str:
    """The CUDA half of the suite; returns pytest's last line (or why it did not finish)."""
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-k",
        "cuda",
        "-p",
        "no:cacheprovider",
        "--tb=line",
        "-rfE",
        "tests",
    ]
    try:  # a hung test must not eat the budget; a session limit still prints the summary
        from importlib.metadata import version

        v = tuple(int(x) for x in version("pytest-timeout").split(".")[:2])
        cmd[-1:-1] = ["--timeout=60"] + (
            [f"--session-timeout={seconds - 10:.0f}"] if v >= (2, 3) else []
        )
    except Exception:  # not installed: the subprocess limit below still holds
        pass
    print(f"$ {' '.join(cmd)}  (limit {seconds:.0f} s)", flush=True)
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [".", os.environ.get("PYTHONPATH")]))
    )
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds, env=env)
        out = p.stdout + p.stderr
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        print(out[-6000:])
        return f"pytest stopped after {seconds:.0f} s (time limit)"
    print(out[-8000:])
    lines = [ln for ln in out.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else f"pytest exited {p.returncode} with no output"


def _pick(data: dict, workload: str, device: str, pred) -> dict[str, dict]:
    """The last case (largest size) of a workload matching ``pred``: {impl: record}."""
    res = [
        r
        for r in data["results"]
        if r["workload"] == workload and r["device"] == device and pred(r)
    ]
    gs = list(groups(res).values())
    return gs[-1] if gs else {}


def headline(data: dict, tests: str) -> list[str]:
    dev = "cuda"
    rows = []

    def rate(g, what):
        cells = []
        for impl in ("gpugrad", "floor", "torch"):
            r = g.get(impl)
            if not r or r["median_s"] is None:
                cells.append("-")
            elif what == "TB/s":
                cells.append(f"{r['gbs'] / 1e3:.2f} TB/s")
            else:
                cells.append(f"{r['tflops']:.1f} TFLOP/s")
        return cells

    def times(g):
        return [
            fmt_time(g[i]["median_s"]) if g.get(i) and g[i]["median_s"] else "-"
            for i in ("gpugrad", "floor", "torch")
        ]

    def vs_torch(g):
        r = g.get("gpugrad")
        return fmt_ratio(r and r["ratio_to_torch"])

    def err(g):
        bad = [f"{n}: {r['error'][:60]}" for n, r in g.items() if r.get("error")]
        return "; ".join(bad) or (
            "check MISMATCH" if any(r.get("check_ok") is False for r in g.values()) else ""
        )

    specs = [
        (
            "elementwise exp fwd, largest",
            "elementwise",
            lambda r: r["variant"] == "unary" and r["mode"] == "fwd",
            "TB/s",
        ),
        (
            "elementwise x*b fwd+bwd, largest",
            "elementwise",
            lambda r: r["variant"] == "binary" and r["mode"] == "fwd+bwd",
            "TB/s",
        ),
        (
            "sum fwd, largest",
            "reductions",
            lambda r: r["variant"] == "sum" and r["mode"] == "fwd",
            "TB/s",
        ),
        (
            "matmul fp32 square fwd, largest",
            "matmul",
            lambda r: r["variant"] == "square" and r["dtype"] == "float32" and r["mode"] == "fwd",
            "TFLOP/s",
        ),
        (
            "matmul tf32 square fwd, largest",
            "matmul",
            lambda r: r["variant"] == "square" and r["dtype"] == "tf32" and r["mode"] == "fwd",
            "TFLOP/s",
        ),
        (
            "matmul fp16 square fwd, largest",
            "matmul",
            lambda r: r["variant"] == "square" and r["dtype"] == "float16" and r["mode"] == "fwd",
            "TFLOP/s",
        ),
        (
            "MLP step large",
            "mlp",
            lambda r: r["params"]["name"] == "large" and r["mode"] == "fwd+bwd",
            "time",
        ),
        (
            "MLP step tiny",
            "mlp",
            lambda r: r["params"]["name"] == "tiny" and r["mode"] == "fwd+bwd",
            "time",
        ),
        ("char_lm step, largest", "char_lm", lambda r: r["mode"] == "fwd+bwd", "time"),
        (
            "100-op chain fwd+bwd (16 el.)",
            "chain",
            lambda r: r["params"]["n"] == 16 and r["mode"] == "fwd+bwd",
            "time",
        ),
    ]
    for title, wl, pred, what in specs:
        g = _pick(data, wl, dev, pred)
        if not g:
            rows.append(f"| {title} | not run | | | | |")
            continue
        size = next(iter(g.values()))["label"]
        cells = times(g) if what == "time" else rate(g, what)
        rows.append(f"| {title} ({size}) | {' | '.join(cells)} | {vs_torch(g)} | {err(g)} |")
    return [
        "## Headline (cuda)",
        "",
        f"Tests: `pytest -k cuda`: {tests}",
        "",
        "| figure | gpugrad | floor (CuPy) | PyTorch | gpugrad/torch time | notes |",
        "|---|---|---|---|---|---|",
    ] + rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.gpu_check",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--out", default=os.environ.get("OUT", "bench/results"))
    ap.add_argument("--budget", type=float, default=285.0, help="seconds for everything")
    ap.add_argument("--test-seconds", type=float, default=90.0)
    ap.add_argument("--skip-tests", action="store_true")
    ap.add_argument("--no-cpu", action="store_true", help="cuda only (no speedup plot)")
    ap.add_argument("--workloads", default="", help="comma-separated subset")
    ap.add_argument("--level", default="quick", help=argparse.SUPPRESS)  # dry runs: test
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    saved = sys.stdout, sys.stderr
    with open(out / "gpu_check.log", "w") as log:
        sys.stdout, sys.stderr = _Tee(saved[0], log), _Tee(saved[1], log)
        try:
            return _check(args, out)
        finally:
            sys.stdout, sys.stderr = saved


def _check(args: argparse.Namespace, out: Path) -> int:
    t0 = time.monotonic()

    from gpugrad.utils.collect_env import format_env, get_env_info, machine_name

    env = get_env_info()
    print(format_env(env))
    try:
        print("pytest", __import__("pytest").__version__)
    except ImportError:
        print("pytest not installed")
    ok, why = libs.cuda_available()
    if not ok:
        print(f"CUDA is not available: {why}")
    tests = "skipped"
    if ok and not args.skip_tests:
        tests = run_tests(min(args.test_seconds, 0.4 * args.budget))
        print(f"tests: {tests}  [{time.monotonic() - t0:.0f} s]", flush=True)

    # the headline workloads first: if time runs out, the rest is what goes missing
    names = [n for n in args.workloads.split(",") if n] or sorted(
        WORKLOADS, key=lambda w: PRIORITY.index(w) if w in PRIORITY else len(PRIORITY)
    )
    devices = (["cuda"] if ok else []) + ([] if args.no_cpu and ok else ["cpu"])
    quick = BUDGETS["quick"]
    opts = Options(
        workloads=names,
        devices=devices,
        level=args.level,
        show_progress=False,
        budget=Budget(
            seconds=0.15,
            min_sample_s=quick.min_sample_s,
            min_repeats=3,
            max_repeats=10,
            warmup_s=0.02,
        ),
        deadline=t0 + args.budget - 25,  # leaves time for the report and plots
        on_case=_print_case,
    )
    try:
        data = run_suite(opts)
    except Exception as e:  # the log must still say what happened
        import traceback

        traceback.print_exc()
        print(f"benchmark failed: {type(e).__name__}: {e}")
        return 1
    machine = machine_name(env, ok)
    try:
        paths = write_all(data, out, machine, "python -m bench.gpu_check")
    except Exception as e:
        print(f"report failed: {type(e).__name__}: {e}")
        paths = []
    try:
        head = headline(data, tests)
    except Exception as e:
        head = [f"headline failed: {type(e).__name__}: {e}"]
    md = out / f"{machine}.md"
    if md.exists():
        text = md.read_text()
        md.write_text(text.replace("\n## Ceilings", "\n" + "\n".join(head) + "\n\n## Ceilings", 1))
    print("\n".join(head))
    print("\nwrote " + ", ".join(str(p) for p in paths))
    print("\n".join(summary_lines(data)))
    print(f"gpu_check done in {time.monotonic() - t0:.0f} s")
    return 0


def _print_case(recs: list[dict]) -> None:
    r0 = recs[0]
    cells = []
    for r in recs:
        if r["median_s"] is not None:
            cells.append(f"{r['impl']} {fmt_time(r['median_s'])}")
        elif r["error"]:
            cells.append(f"{r['impl']} ERROR {r['error'][:80]}")
    bad = [r["impl"] for r in recs if r.get("check_ok") is False]
    flag = f"  MISMATCH {bad}" if bad else ""
    print(f"{r0['key']}: {', '.join(cells)}{flag}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
