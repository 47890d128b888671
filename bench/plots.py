"""Three PNG figures per run (matplotlib, Agg): time vs size, GPU-over-CPU speedup with the
crossover marked, and gpugrad over PyTorch. One file each, a panel per workload series, so a
GPU run returns few files."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

from .report import crossovers, workloads_of

COLORS = {"floor": "0.45", "gpugrad": "tab:blue", "torch": "tab:orange"}
STYLES = {"cpu": "-", "cuda": "--"}


def _no_minor_ticks(ax) -> None:
    """Minor log ticks are most of the drawing time of a many-panel figure."""
    from matplotlib.ticker import NullLocator

    ax.xaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_minor_locator(NullLocator())


def _grid(n: int, plt, width: float = 4.0, height: float = 3.0):
    cols = min(n, 5)
    rows = max(1, math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    flat = [a for row in axes for a in row]
    for ax in flat[n:]:
        ax.axis("off")
    return fig, flat[:n]


def write_plots(data: dict, out_dir: Path, machine: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = [r for r in data["results"] if r["median_s"]]
    paths = [
        out_dir / f"{machine}-time.png",
        out_dir / f"{machine}-speedup.png",
        out_dir / f"{machine}-vs-torch.png",
    ]
    titles = ("time per call vs size", "GPU over CPU speedup", "gpugrad over PyTorch")
    for draw, path, title in zip((_time, _speedup, _vs_torch), paths, titles):
        fig = draw(res, plt)
        fig.suptitle(f"{title}: {machine}", fontsize=12)
        fig.subplots_adjust(left=0.06, right=0.98, bottom=0.06, top=0.92, hspace=0.55, wspace=0.3)
        fig.savefig(path, dpi=80)
        plt.close(fig)
    return paths


def _time(res, plt):
    series = defaultdict(lambda: defaultdict(list))
    order = workloads_of(res)
    for r in sorted(res, key=lambda r: order.index(r["workload"])):
        series[f"{r['workload']}: {r['series']}"][(r["impl"], r["device"])].append(r)
    fig, axes = _grid(max(1, len(series)), plt)
    for ax, (title, lines) in zip(axes, series.items()):
        for (impl, dev), rs in sorted(lines.items()):
            rs.sort(key=lambda r: r["size"])
            ax.loglog(
                [r["size"] for r in rs],
                [r["median_s"] for r in rs],
                STYLES.get(dev, "-"),
                color=COLORS.get(impl),
                marker="o",
                ms=3,
                label=f"{impl} {dev}",
            )
        _no_minor_ticks(ax)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("size", fontsize=8)
        ax.set_ylabel("s per call", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, loc="upper left")
    if not series:
        axes[0].text(0.5, 0.5, "no results", ha="center")
    return fig


def _speedup(res, plt):
    per_impl = {impl: crossovers(res, impl) for impl in ("gpugrad", "torch")}
    order = workloads_of(res)
    names = sorted(
        per_impl["gpugrad"] or per_impl["torch"], key=lambda s: order.index(s.split(":")[0])
    )
    by_workload = defaultdict(list)
    for s in names:
        by_workload[s.split(":")[0]].append(s)
    fig, axes = _grid(max(1, len(by_workload)), plt)
    if not by_workload:
        axes[0].text(
            0.5, 0.5, "needs cpu and cuda results at the same sizes", ha="center", fontsize=9
        )
        axes[0].axis("off")
        return fig
    for ax, (wl, ss) in zip(axes, by_workload.items()):
        for i, s in enumerate(ss):
            color = f"C{i % 10}"
            for impl, style in (("gpugrad", "-"), ("torch", ":")):
                pts, cross = per_impl[impl].get(s, ([], None))
                if not pts:
                    continue
                xs, labels, ys = zip(*pts)
                ax.loglog(
                    xs,
                    ys,
                    style,
                    color=color,
                    marker="o",
                    ms=3,
                    label=f"{s.split(': ')[1]} ({impl})",
                )
                if cross is not None and impl == "gpugrad":
                    x = xs[labels.index(cross)]
                    ax.axvline(x, color=color, lw=0.8, ls="--", alpha=0.7)
                    ax.text(
                        x,
                        0.03,
                        f" crossover {cross}",
                        transform=ax.get_xaxis_transform(),
                        fontsize=6,
                        color=color,
                        rotation=90,
                        va="bottom",
                        clip_on=True,
                    )
        ax.axhline(1, color="k", lw=0.8)
        _no_minor_ticks(ax)
        ax.set_title(f"{wl}: cpu time / cuda time", fontsize=9)
        ax.set_xlabel("size", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, loc="upper left")
    return fig


def _vs_torch(res, plt):
    devices = list(dict.fromkeys(r["device"] for r in res))
    fig, axes = plt.subplots(
        1, max(1, len(devices)), figsize=(7 * max(1, len(devices)), 5), squeeze=False
    )
    axes = axes[0]
    workloads = workloads_of(res)
    for ax, dev in zip(axes, devices):
        torch_t = {
            r["key"]: r["median_s"] for r in res if r["impl"] == "torch" and r["device"] == dev
        }
        for i, wl in enumerate(workloads):
            for mode, marker in (("fwd", "s"), ("fwd+bwd", "o")):
                pts = sorted(
                    (torch_t[r["key"]], r["ratio_to_torch"])
                    for r in res
                    if r["impl"] == "gpugrad"
                    and r["device"] == dev
                    and r["workload"] == wl
                    and r["mode"] == mode
                    and r["ratio_to_torch"]
                    and r["key"] in torch_t
                )
                if pts:
                    ax.loglog(
                        *zip(*pts),
                        marker,
                        color=f"C{i % 10}",
                        ms=4,
                        alpha=0.8,
                        label=f"{wl} {mode}",
                    )
        ax.axhline(1, color="k", lw=0.8)
        _no_minor_ticks(ax)
        ax.set_title(f"{dev}: gpugrad time / PyTorch time (below 1: gpugrad faster)", fontsize=9)
        ax.set_xlabel("PyTorch time per call (s)", fontsize=8)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6, ncol=2, loc="upper right")
    if not devices:
        axes[0].text(0.5, 0.5, "no results", ha="center")
    return fig
