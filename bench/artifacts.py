"""A run's files: the JSON of every sample, the markdown report, and the plots (when
matplotlib is installed)."""

from __future__ import annotations

import json
from pathlib import Path

from .plots import write_plots
from .report import markdown


def write_all(
    data: dict, out_dir: Path, machine: str, command: str = "", plots: bool = True
) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    js = out_dir / f"{machine}.json"
    js.write_text(json.dumps(data, indent=1, default=_jsonable))
    md = out_dir / f"{machine}.md"
    md.write_text(markdown(data, machine, command))
    written += [md, js]
    if plots:
        try:
            written += write_plots(data, out_dir, machine)
        except ImportError as e:  # matplotlib is optional
            print(f"plots skipped: {e}")
    return written


def _jsonable(x):
    if hasattr(x, "tolist"):
        return x.tolist()
    return str(x)
