"""The benchmark harness (bench/): every workload runs, its handwritten floor computes what
gpugrad computes, and the report files are complete. CPU only, one tiny size per workload
(the 'test' ladder): CI never runs the real ladders."""

from __future__ import annotations

import copy
import json
import warnings

import pytest

from bench import Options, libs, run_suite
from bench.artifacts import write_all
from bench.cli import main as bench_main
from bench.report import markdown, summary_lines
from bench.workloads import WORKLOADS

RESULT_FIELDS = {
    "workload",
    "variant",
    "mode",
    "device",
    "label",
    "size",
    "params",
    "dtype",
    "flops",
    "bytes",
    "bound",
    "series",
    "key",
    "impl",
    "lib",
    "error",
    "samples",
    "inner",
    "median_s",
    "min_s",
    "gbs",
    "tflops",
    "frac_of_ceiling",
    "ceiling",
    "ceiling_unit",
    "ratio_to_floor",
    "ratio_to_torch",
    "case_wall_s",
}
CHECK_FIELDS = {
    "check_against",
    "check_err",
    "check_tol",
    "check_ok",
    "check_worst",
    "check_missing",
}
META_FIELDS = {
    "env",
    "torch_threads",
    "level",
    "workloads",
    "devices",
    "budget",
    "mlp_style",
    "char_lm_optimizer",
    "load_average",
    "threadpools_at_end",
    "started",
    "duration_s",
}


@pytest.fixture(scope="module")
def data():
    opts = Options(
        workloads=list(WORKLOADS),
        devices=["cpu"],
        level="test",
        impls=("floor", "gpugrad"),
        show_progress=False,
    )
    return run_suite(opts)


def _records(data, workload, impl):
    return [r for r in data["results"] if r["workload"] == workload and r["impl"] == impl]


@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_every_workload_runs(data, workload):
    for impl in ("floor", "gpugrad"):
        recs = _records(data, workload, impl)
        assert {r["mode"] for r in recs} == set(WORKLOADS[workload].modes)
        for r in recs:
            assert r["error"] == "", f"{r['key']} [{impl}]: {r['error']}"
            assert r["median_s"] > 0 and len(r["samples"]) >= 2


@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_floor_agrees_with_gpugrad(data, workload):
    recs = _records(data, workload, "gpugrad")
    assert recs
    for r in recs:
        assert r["check_against"] == "floor"
        assert not r["check_missing"], f"{r['key']}: outputs differ in name {r['check_missing']}"
        assert r["check_ok"], f"{r['key']}: {r['check_worst']} off by {r['check_err']:.2e}"


def test_json_has_every_field(data, tmp_path):
    paths = write_all(data, tmp_path, "m", plots=False)
    loaded = json.loads((tmp_path / "m.json").read_text())
    assert {p.name for p in paths} == {"m.md", "m.json"}
    assert META_FIELDS <= set(loaded["meta"])
    assert {"bandwidth_gbs", "matmul_tflops_float32"} <= set(loaded["ceilings"]["cpu"])
    for r in loaded["results"]:
        assert RESULT_FIELDS <= set(r), sorted(RESULT_FIELDS - set(r))
        if r["impl"] == "gpugrad":
            assert CHECK_FIELDS <= set(r)
            assert r["ratio_to_floor"] > 0 and r["gbs"] > 0 and r["tflops"] > 0


def test_markdown_and_summary(data):
    md = markdown(data, "m")
    for wl in WORKLOADS:
        assert f"\n## {wl}\n" in md
    assert "MLP training step" in md and "100-op chain" in md
    lines = summary_lines(data)
    assert [ln.split(":")[0] for ln in lines] == list(WORKLOADS)


def test_plots_written(data, tmp_path):
    pytest.importorskip("matplotlib")
    from bench.plots import write_plots

    keep = [r for r in data["results"] if r["workload"] in ("chain", "mlp")]
    # a pretend GPU twice as fast, so the speedup figure and its crossover are drawn too
    fake = []
    for r in keep:
        g = copy.deepcopy(r)
        g["device"], g["key"] = "cuda", r["key"].replace("/cpu", "/cuda")
        g["median_s"] = r["median_s"] / 2
        fake.append(g)
    paths = write_plots({"results": keep + fake}, tmp_path, "m")
    assert len(paths) == 3
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_writes_report(tmp_path, capsys):
    rc = bench_main(
        [
            "chain",
            "--level",
            "test",
            "--device",
            "cpu",
            "--out",
            str(tmp_path),
            "--name",
            "ci",
            "--no-plots",
            "--no-progress",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "100-op chain" in out and out.strip().splitlines()[-1].startswith("chain:")
    assert (tmp_path / "ci.md").exists() and (tmp_path / "ci.json").exists()


def test_torch_runs_the_same_computation():
    pytest.importorskip("torch")
    opts = Options(
        workloads=["mlp", "layer_norm"], devices=["cpu"], level="test", show_progress=False
    )
    res = run_suite(opts)["results"]
    torch_recs = [r for r in res if r["impl"] == "torch"]
    assert torch_recs
    for r in torch_recs:
        assert r["error"] == "" and r["check_ok"], r["key"]
        assert r["ratio_to_floor"] > 0


def test_gpu_check_without_gpu_still_reports(tmp_path, capsys):
    from bench import gpu_check

    rc = gpu_check.main(
        ["--out", str(tmp_path), "--skip-tests", "--workloads", "chain", "--budget", "60"]
    )
    assert rc == 0
    log = (tmp_path / "gpu_check.log").read_text()
    assert "Python" in log and "Headline" in log
    assert list(tmp_path.glob("*.json"))


def test_collect_env(capsys):
    from gpugrad.utils import collect_env

    info = collect_env.get_env_info()
    for key in ("platform", "python", "numpy", "cupy", "cuda_available", "gpus", "blas"):
        assert key in info
    text = collect_env.format_env(info)
    assert "Python" in text and "NumPy" in text
    if not info["cuda_available"]:
        assert "Why:" in text and info["cuda_unavailable_reason"]
    collect_env.main()
    assert "Platform" in capsys.readouterr().out


def test_paired_timing_reports_a_ratio(capsys):
    from bench.paired import main as paired_main
    from bench.paired import paired

    r = paired("tiny", pairs=20)
    assert r["size"] == "tiny"
    assert r["floor_ms"] > 0 and r["gpugrad_ms"] > 0
    assert 0.2 < r["ratio"] < 50  # gpugrad costs more than the bare floor, within reason
    assert paired_main(["tiny", "--pairs", "10"]) == 0
    assert "median paired ratio" in capsys.readouterr().out


def test_compiled_rows_replay_for_the_step_workloads():
    # --compile: a "compiled" record beside gpugrad's for mlp, chain and char_lm only; a
    # compile that fell back to eager warns, which this turns into a recorded error
    opts = Options(
        workloads=["mlp", "chain", "char_lm", "elementwise"],
        devices=["cpu"],
        level="test",
        impls=("floor", "gpugrad", "compiled"),
        show_progress=False,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="gpugrad.compile", category=RuntimeWarning)
        got = run_suite(opts)
    compiled = [r for r in got["results"] if r["impl"] == "compiled"]
    assert {r["workload"] for r in compiled} == {"mlp", "chain", "char_lm"}
    for r in compiled:
        assert r["error"] == "", f"{r['key']}: {r['error']}"
        assert r["median_s"] > 0 and r["check_ok"], r["key"]
    text = markdown(got, "m")
    assert "| compiled ms |" in text and "compiled/floor" in text


def _torch_compile_works() -> str:
    """Why torch.compile cannot run here ("" where it can): PyTorch's own compiler needs a
    working C++ toolchain on the CPU, which a machine may lack."""
    try:
        import torch
    except ImportError:
        return "PyTorch is not installed"
    try:  # through the bench's own wrapper (it keeps torch's global settings as they were)
        got = libs.Framework("torch", "cpu", compiled=True).compile(lambda x: x * 2 + 1)(
            torch.ones(2)
        )
    except Exception as e:  # no compiler, a broken toolchain: whatever stops it
        return f"torch.compile does not work here: {type(e).__name__}: {e}"
    finally:
        torch._dynamo.reset()
    return "" if got.tolist() == [3.0, 3.0] else f"torch.compile computed {got.tolist()}"


def test_torch_compile_row_beside_gpugrads_compiled_one():
    # --compile's reference row: the MLP step through torch.compile, checked like the others;
    # the first call (the compile, seconds) is the checked one, and the timed ones replay it
    why = _torch_compile_works()
    if why:
        pytest.skip(why)
    opts = Options(
        workloads=["mlp"],
        devices=["cpu"],
        level="test",
        modes=["fwd+bwd"],  # one compile (~10-20 s on 2 cores): the step the core table shows
        impls=("floor", "torch", "torch.compile"),
        show_progress=False,
    )
    from torch._dynamo.utils import counters

    graphs = counters["stats"]["unique_graphs"]
    got = run_suite(opts)
    assert counters["stats"]["unique_graphs"] > graphs  # dynamo did compile the step
    recs = [r for r in got["results"] if r["impl"] == "torch.compile"]
    assert len(recs) == 1
    r = recs[0]
    assert r["error"] == "", r["error"]
    assert r["lib"] == "torch" and r["median_s"] > 0 and len(r["samples"]) >= 2
    assert r["check_against"] == "floor" and r["check_ok"], (r["check_worst"], r["check_err"])
    assert r["ratio_to_floor"] > 0 and r["ratio_to_torch"] > 0
    text = markdown(got, "m")
    assert "| torch.compile ms | ratio |" in text  # the core table
    assert "| torch.compile | torch.compile/floor |" in text  # the mlp table
    assert "torch.compile/floor" in summary_lines(got)[0]
