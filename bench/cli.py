"""``python -m bench`` / ``gpugrad-bench``: time gpugrad against the handwritten floor and PyTorch.

Examples:
    python -m bench                      # every workload, full ladder, cpu and cuda if present
    python -m bench --quick              # a short ladder (a few minutes on a 2-core CPU)
    python -m bench mlp chain            # the core benchmark: MLP step + 100-op chain
    python -m bench mlp chain --compile  # ... and each step through gpugrad.compile and
                                         # torch.compile (the reference)
    python -m bench --workloads matmul,conv2d --device cuda --sizes 0,1 --out /tmp/b
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import sys
import time
from pathlib import Path

from . import libs
from .artifacts import write_all
from .report import core_table, summary_lines
from .suite import BUDGETS, COMPILED, IMPLS, TORCH_COMPILED, Options, run_suite
from .workloads import WORKLOADS, get

DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "names",
        nargs="*",
        metavar="WORKLOAD",
        help=f"workloads to run (default all): {', '.join(WORKLOADS)}",
    )
    ap.add_argument("--workloads", default="", help="comma-separated workloads (same as names)")
    ap.add_argument("--device", default="all", help="cpu, cuda, or all (default: all present)")
    ap.add_argument("--quick", action="store_true", help="short ladders and budgets (~3 min)")
    ap.add_argument(
        "--level",
        choices=sorted(BUDGETS),
        default=None,
        help="ladder: test (one tiny size), quick, full (default)",
    )
    ap.add_argument(
        "--sizes",
        default="",
        help="keep only these sizes: labels, first words of labels (tiny, large) "
        "or ladder positions (0,1,...)",
    )
    ap.add_argument("--modes", default="", help="fwd, fwd+bwd (default both)")
    ap.add_argument(
        "--compile",
        action="store_true",
        help="also time each step through gpugrad.compile and, where PyTorch is installed, "
        "torch.compile (mlp, chain, char_lm)",
    )
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="output folder (default %(default)s)")
    ap.add_argument("--name", default="", help="report file name (default: the machine's)")
    ap.add_argument("--seconds", type=float, default=None, help="timing budget per case")
    ap.add_argument(
        "--time-limit",
        type=float,
        default=None,
        help="skip the cases that would start after this many seconds",
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="limit BLAS/OpenMP and PyTorch CPU threads (default: as the machine is)",
    )
    ap.add_argument("--no-plots", action="store_true")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--gpugrad-module", default="gpugrad", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


@contextlib.contextmanager
def cpu_threads(n: int | None):
    """Every CPU implementation limited to ``n`` threads (NumPy's BLAS, OpenMP, PyTorch)."""
    if n is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    torch, old = None, None
    try:
        import torch

        old = torch.get_num_threads()
        torch.set_num_threads(n)
    except ImportError:
        pass
    try:
        with threadpool_limits(n):
            yield
    finally:
        if torch is not None:
            torch.set_num_threads(old)


def resolve_devices(spec: str) -> list[str]:
    ok, why = libs.cuda_available()
    if spec == "all":
        if not ok:
            print(f"note: cuda skipped: {why}", file=sys.stderr)
        return ["cpu", "cuda"] if ok else ["cpu"]
    devices = [d.strip() for d in spec.split(",") if d.strip()]
    for d in devices:
        if d not in ("cpu", "cuda"):
            raise SystemExit(f"--device: expected cpu, cuda or all, got {d!r}")
    if "cuda" in devices and not ok:
        raise SystemExit(f"--device cuda: CUDA is not available: {why}")
    return devices


def compiled_impls() -> tuple[str, ...]:
    """``--compile``'s implementations: each framework followed by its compiled step;
    torch.compile only where PyTorch is installed (its absence is no error to record)."""
    has_torch = importlib.util.find_spec("torch") is not None  # without importing it (seconds)
    return IMPLS[:2] + (COMPILED,) + IMPLS[2:] + ((TORCH_COMPILED,) if has_torch else ())


def options_from(args: argparse.Namespace, deadline: float | None = None) -> Options:
    names = [n for n in args.names] + [n for n in args.workloads.split(",") if n]
    workloads = [get(n).name for n in names] or list(WORKLOADS)
    level = args.level or ("quick" if args.quick else "full")
    budget = None
    if args.seconds is not None:
        budget = BUDGETS[level].__class__(**{**BUDGETS[level].__dict__, "seconds": args.seconds})
    if args.time_limit is not None:
        deadline = time.monotonic() + args.time_limit
    return Options(
        workloads=list(dict.fromkeys(workloads)),
        devices=resolve_devices(args.device),
        level=level,
        sizes=[s.strip() for s in args.sizes.split(",") if s.strip()] or None,
        modes=[m.strip() for m in args.modes.split(",") if m.strip()] or None,
        impls=compiled_impls() if args.compile else IMPLS,
        budget=budget,
        deadline=deadline,
        show_progress=not args.no_progress,
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    libs.GPUGRAD = args.gpugrad_module
    opts = options_from(args)
    with cpu_threads(args.threads):
        data = run_suite(opts)
    data["meta"]["threads_limit"] = args.threads
    from gpugrad.utils.collect_env import machine_name

    machine = args.name or machine_name(data["meta"]["env"], "cuda" in opts.devices)
    command = "python -m bench " + " ".join(sys.argv[1:] if argv is None else argv)
    paths = write_all(data, Path(args.out), machine, command.strip(), plots=not args.no_plots)
    core = core_table(data)
    if core:
        print("\n".join(core))
        print()
    print("wrote " + ", ".join(str(p) for p in paths))
    print("\n".join(summary_lines(data)))
    return 0
