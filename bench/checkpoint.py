"""``python -m bench.checkpoint``: saving and loading a state dict, gpugrad against safetensors.

One state dict (about 200 MB of float32 by default, in tensors of a few sizes) is saved and
loaded by ``gpugrad.save`` / ``gpugrad.load`` and by safetensors' own ``save_file`` /
``load_file`` (its torch API, on torch tensors over the same memory). Every measurement runs in
a fresh subprocess, which builds the state dict, resets its peak-RSS counter
(``/proc/self/clear_refs``) and then times the one call; "extra MB" is the peak RSS during the
call minus the RSS before it (the state dict itself is not counted). Rounds alternate the
libraries (their order rotating), so both see the same machine load, and each save starts with
no dirty pages left by another (``os.sync()`` before it); the table gives medians and
gpugrad/safetensors ratios. A load touches every loaded byte (a NumPy sum per tensor, for both),
so a memory-mapped load pays for its reads; safetensors' ``load_file`` returns views of its map,
as ``gpugrad.load(mmap=True)`` does, while the default ``gpugrad.load`` copies each tensor into
memory of its own (as ``torch.load`` does), so that later writes to the file cannot reach it.
gpugrad's save fsyncs the file before renaming it into place (safetensors does not): the ``save
(no fsync)`` row shows what that costs.

    python -m bench.checkpoint               # 200 MB, 3 rounds
    python -m bench.checkpoint --mb 50 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

# tensor shapes of the state dict, repeated until it holds the requested size
_SHAPES = [(1024, 1024), (4096, 256), (1024,), (3, 3, 64, 64), (257, 129), (1,)]


def _state_dict(mb: float):
    import numpy as np

    rng = np.random.default_rng(0)
    out, total, i = {}, 0, 0
    while total < mb * 2**20:
        shape = _SHAPES[i % len(_SHAPES)]
        arr = rng.standard_normal(shape, dtype=np.float32)
        out[f"layer{i}.weight"] = arr
        total += arr.nbytes
        i += 1
    return out


def _rss() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MB, from /proc/self/status."""
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _child(task: str, path: str, mb: float) -> None:
    """One measurement in this (fresh) process: prints a JSON line."""
    import time

    import numpy as np

    if task.startswith("save"):
        arrays = _state_dict(mb)
        if task.startswith("save-gpugrad"):
            import gpugrad
            from gpugrad.serialization import atomic_write

            sd = {k: gpugrad.from_numpy(v) for k, v in arrays.items()}
            if task == "save-gpugrad-nofsync":
                atomic_write._fsync = lambda fd: None

            def call():
                gpugrad.save(sd, path)
        else:
            import torch
            from safetensors.torch import save_file

            sd = {k: torch.from_numpy(v) for k, v in arrays.items()}

            def call():
                save_file(sd, path)

    else:
        if task.startswith("load-gpugrad"):
            import gpugrad
            import gpugrad.serialization  # imported before the clock starts, as safetensors is

            mmap = task == "load-gpugrad-mmap"

            def call():
                out = gpugrad.load(path, mmap=mmap)
                return [float(v._data.sum()) for v in out.values()]
        else:
            from safetensors.torch import load_file

            def call():
                out = load_file(path)
                return [float(v.numpy().sum()) for v in out.values()]  # as gpugrad's

    before, _ = _rss()
    _reset_peak()
    t0 = time.perf_counter()
    call()
    seconds = time.perf_counter() - t0
    _, peak = _rss()
    size = os.path.getsize(path) / 2**20
    print(json.dumps({"s": seconds, "extra_mb": peak - before, "file_mb": size}))
    del np


def _measure(task: str, path: str, mb: float) -> dict:
    # no dirty pages of an earlier save left to flush: each save starts from the same state
    # (else whichever runs after an unsynced 200 MB write is throttled by the kernel)
    os.sync()
    out = subprocess.run(
        [sys.executable, "-m", "bench.checkpoint", "--child", task, path, "--mb", str(mb)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode:
        raise RuntimeError(f"{task} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=float, default=200.0, help="state dict size in MB")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child", nargs=2, metavar=("TASK", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(args.child[0], args.child[1], args.mb)
        return
    try:
        import safetensors.torch  # noqa: F401
        import torch  # noqa: F401
    except ImportError as e:
        print(f"bench.checkpoint needs safetensors and torch to compare with ({e}); skipped")
        return
    pairs = [
        ("save", "save-gpugrad", "save-safetensors"),
        ("save (no fsync)", "save-gpugrad-nofsync", "save-safetensors"),
        ("load", "load-gpugrad", "load-safetensors"),
        ("load mmap=True", "load-gpugrad-mmap", "load-safetensors"),
    ]
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as d:
        g_path, s_path = os.path.join(d, "g.safetensors"), os.path.join(d, "s.safetensors")
        saves = ["save-gpugrad", "save-safetensors", "save-gpugrad-nofsync"]
        for r in range(args.rounds):
            for task in saves[r % 3 :] + saves[: r % 3]:  # the order rotates round by round
                results.setdefault(task, []).append(
                    _measure(task, g_path if "gpugrad" in task else s_path, args.mb)
                )
            for task in ("load-gpugrad", "load-safetensors", "load-gpugrad-mmap"):
                results.setdefault(task, []).append(
                    _measure(task, g_path if "gpugrad" in task else s_path, args.mb)
                )
    file_mb = results["save-gpugrad"][0]["file_mb"]
    print(f"state dict of {file_mb:.1f} MB (file size), {args.rounds} rounds")
    print(
        f"{'':16} {'gpugrad s':>10} {'st s':>8} {'ratio':>6} {'min ratio':>9}"
        f" {'gpugrad +MB':>12} {'st +MB':>8}"
    )
    for label, g, s in pairs:
        gs = statistics.median(r["s"] for r in results[g])
        ss = statistics.median(r["s"] for r in results[s])
        lo = min(r["s"] for r in results[g]) / min(r["s"] for r in results[s])
        gm = statistics.median(r["extra_mb"] for r in results[g])
        sm = statistics.median(r["extra_mb"] for r in results[s])
        print(f"{label:16} {gs:10.3f} {ss:8.3f} {gs / ss:6.2f} {lo:9.2f} {gm:12.1f} {sm:8.1f}")
    print(
        "(seconds and +MB: medians; min ratio: fastest gpugrad over fastest safetensors; +MB: "
        "peak RSS during the call minus RSS before it; 'st': safetensors.torch)"
    )


if __name__ == "__main__":
    main()
