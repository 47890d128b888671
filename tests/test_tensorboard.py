"""gpugrad.utils.tensorboard.SummaryWriter writes real event files: read back with
tensorboard's own EventAccumulator and compared with what real torch's SummaryWriter writes."""

from __future__ import annotations

import glob
import os
import re
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import gpugrad

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import (  # noqa: E402
    EventAccumulator,
)

from gpugrad.utils.tensorboard import SummaryWriter  # noqa: E402

KEEP_ALL = {"scalars": 0, "histograms": 0, "images": 0, "tensors": 0, "compressedHistograms": 0}


def read(path) -> EventAccumulator:
    acc = EventAccumulator(str(path), size_guidance=KEEP_ALL)
    acc.Reload()
    return acc


def log_everything(writer_cls, tensor, log_dir, rng_seed=0):
    rng = np.random.default_rng(rng_seed)
    values = rng.normal(size=1000)
    img = rng.random((3, 8, 10)).astype(np.float32)
    with writer_cls(log_dir) as w:
        for step in range(5):
            w.add_scalar("loss", tensor(1.0 / (step + 1)), step, walltime=100.0 + step)
            w.add_scalar("plain", step * 0.5, step)
        w.add_scalars("run", {"a": 1.0, "b": tensor(2.0)}, 3)
        w.add_histogram("weights", tensor(values), 7)
        w.add_histogram("coarse", values, 8, bins=10)
        w.add_image("chw", tensor(img), 1)
        w.add_image("hwc", (img.transpose(1, 2, 0) * 255).astype(np.uint8), 2, dataformats="HWC")
        w.add_image("hw", img[0], 3, dataformats="HW")
        w.add_images("batch", np.stack([img, img[::-1]]), 4)
        w.add_text("note", "hello *markdown*", 9)
        w.add_hparams(
            {"lr": 0.1, "bs": 32, "opt": "sgd", "nesterov": True}, {"hp/acc": 0.75}, run_name="hp"
        )


def test_events_read_back_like_torchs(tmp_path, device):
    torch = pytest.importorskip("torch")
    from torch.utils.tensorboard import SummaryWriter as TorchWriter

    log_everything(
        SummaryWriter, lambda a: gpugrad.as_tensor(np.asarray(a), device=device), tmp_path / "g"
    )
    log_everything(TorchWriter, lambda a: torch.as_tensor(np.asarray(a)), tmp_path / "t")
    g, t = read(tmp_path / "g"), read(tmp_path / "t")
    assert g.Tags()["scalars"] == t.Tags()["scalars"] == ["loss", "plain"]
    for tag in ("loss", "plain"):
        assert [(e.step, e.value) for e in g.Scalars(tag)] == [
            (e.step, e.value) for e in t.Scalars(tag)
        ]
    assert [e.wall_time for e in g.Scalars("loss")] == [100.0, 101.0, 102.0, 103.0, 104.0]
    np.testing.assert_allclose([e.value for e in g.Scalars("loss")], 1 / np.arange(1, 6), 1e-6)
    # add_scalars: one run per series, under the main tag
    for key, value in (("a", 1.0), ("b", 2.0)):
        run = read(tmp_path / "g" / f"run_{key}")
        assert [(e.step, e.value) for e in run.Scalars("run")] == [(3, value)]
        assert (
            run.Scalars("run")[0].value
            == read(tmp_path / "t" / f"run_{key}").Scalars("run")[0].value
        )
    for tag in ("weights", "coarse"):
        hg, ht = g.Histograms(tag)[0], t.Histograms(tag)[0]
        assert hg.step == ht.step
        assert hg.histogram_value == ht.histogram_value
    values = np.random.default_rng(0).normal(size=1000)
    h = g.Histograms("weights")[0].histogram_value
    assert h.num == 1000 and sum(h.bucket) == 1000
    assert h.min == values.min() and h.max == values.max()
    np.testing.assert_allclose(h.sum_squares, values @ values)
    assert g.Tags()["images"] == t.Tags()["images"]
    for tag in g.Tags()["images"]:
        ig, it = g.Images(tag)[0], t.Images(tag)[0]
        assert (ig.step, ig.width, ig.height) == (it.step, it.width, it.height)
        assert ig.encoded_image_string == it.encoded_image_string  # the same PNG bytes
    assert (g.Images("batch")[0].width, g.Images("batch")[0].height) == (20, 8)
    text = g.Tensors("note/text_summary")[0]
    assert text.step == 9 and text.tensor_proto.string_val == [b"hello *markdown*"]
    assert g.PluginTagToContent("text") == t.PluginTagToContent("text")
    hg, ht = read(tmp_path / "g" / "hp"), read(tmp_path / "t" / "hp")
    assert hg.PluginTagToContent("hparams") == ht.PluginTagToContent("hparams")
    assert [e.value for e in hg.Scalars("hp/acc")] == [0.75]


def test_hparams_values_and_errors(tmp_path):
    from tensorboard.plugins.hparams import plugin_data_pb2

    with SummaryWriter(tmp_path) as w:
        w.add_hparams(
            {"lr": 0.01, "opt": "adam", "skip": None},
            {"m": 1.0},
            run_name="r",
            hparam_domain_discrete={"opt": ["adam", "sgd"]},
        )
        with pytest.raises(TypeError, match="hparam_dict and metric_dict should be dictionary"):
            w.add_hparams([("lr", 1)], {})
        with pytest.raises(ValueError, match="value should be one of int, float, str, bool"):
            w.add_hparams({"bad": [1, 2]}, {})
        with pytest.raises(TypeError, match=r"hparam_domain_discrete\[opt\] should be a list"):
            w.add_hparams({"opt": "adam"}, {}, hparam_domain_discrete={"opt": [1]})
    content = read(tmp_path / "r").PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hp = start.session_start_info.hparams
    assert hp["lr"].number_value == 0.01 and hp["opt"].string_value == "adam"
    assert "skip" not in hp
    exp = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"])
    infos = {i.name: i for i in exp.experiment.hparam_infos}
    assert [v.string_value for v in infos["opt"].domain_discrete.values] == ["adam", "sgd"]
    assert [m.name.tag for m in exp.experiment.metric_infos] == ["m"]


def test_flush_close_reopen_and_default_log_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    w = SummaryWriter(comment="_exp")
    pattern = r"runs/[A-Z][a-z]{2}\d{2}_\d{2}-\d{2}-\d{2}_" + re.escape(socket.gethostname())
    assert re.fullmatch(pattern + "_exp", w.get_logdir().replace(os.sep, "/"))
    w.add_scalar("x", 1.0, 0)
    w.flush()  # on disk before close
    assert [e.value for e in read(w.get_logdir()).Scalars("x")] == [1.0]
    w.close()
    w.close()  # a second close does nothing
    time.sleep(1.01 - time.time() % 1)  # event files are read in name (= opening second) order
    w.add_scalar("x", 2.0, 1)  # writing after close opens a new event file
    w.close()
    assert len(glob.glob(os.path.join(w.get_logdir(), "events.out.tfevents.*"))) == 2
    assert [e.value for e in read(w.get_logdir()).Scalars("x")] == [1.0, 2.0]
    with pytest.raises(AssertionError, match="Tensor should contain one element"):
        SummaryWriter(tmp_path / "e").add_scalar("bad", np.ones(3))


def test_missing_tensorboard_names_the_extra():
    code = (
        "import sys\n"
        "sys.modules['tensorboard'] = None\n"
        "try:\n"
        "    import gpugrad.utils.tensorboard\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert 'pip install "gpugrad[tensorboard]"' in out.stdout


def test_purge_step_hides_the_crashed_run_s_later_events(tmp_path):
    with SummaryWriter(tmp_path) as w:
        for step in range(10):
            w.add_scalar("loss", float(step), step)
    # event files are read in name order, and names start with the second they were opened
    time.sleep(1.01 - time.time() % 1)
    with SummaryWriter(tmp_path, purge_step=5) as w:  # resumed from the step-5 checkpoint
        for step in range(5, 8):
            w.add_scalar("loss", 100.0 + step, step)
    got = [(e.step, e.value) for e in read(tmp_path).Scalars("loss")]
    assert got == [(s, float(s)) for s in range(5)] + [(s, 100.0 + s) for s in range(5, 8)]
