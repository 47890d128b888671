"""The training examples: examples/train_digits.py and examples/char_lm.py, short runs."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import gpugrad

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
import char_lm  # noqa: E402

train_digits = pytest.importorskip("train_digits", reason="needs the examples extra")
pytest.importorskip("sklearn", reason="train_digits needs scikit-learn")


def digits(*args: str):
    return train_digits.train(train_digits.parse_args([*args, "--no-progress"]))


def test_digits_two_epochs_loss_falls(device, tmp_path, capsys):
    ckpt, plot = tmp_path / "d.safetensors", tmp_path / "d.png"
    hist = digits(
        "--device",
        device,
        "--epochs",
        "2",
        "--batch-size",
        "64",
        "--checkpoint",
        str(ckpt),
        "--plot",
        str(plot),
    )
    assert len(hist["loss"]) == 2 and hist["loss"][1] < hist["loss"][0]
    assert hist["test_acc"][-1] > 0.85
    out = capsys.readouterr().out
    assert "epoch   2/2" in out and "test acc" in out and "s/epoch" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ck = gpugrad.load(ckpt)
    assert ck["epoch"] == 2 and ck["model_kind"] == "mlp" and "optimizer" in ck


def test_digits_resume_matches_uninterrupted(tmp_path):
    common = ("--device", "cpu", "--epochs", "3", "--batch-size", "128")
    full = digits(*common)
    ckpt = str(tmp_path / "r.safetensors")
    digits(*common, "--checkpoint", ckpt, "--stop-after", "1")
    resumed = digits(*common, "--checkpoint", ckpt, "--resume")
    assert resumed["loss"] == full["loss"]
    assert resumed["test_acc"] == full["test_acc"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--epochs", "0"], "--epochs"),
        (["--lr", "fast"], "--lr"),
        (["--model", "rnn"], "--model"),
        (["--resume"], "--resume needs --checkpoint"),
        (["--resume", "--checkpoint", "MISSING"], "does not exist"),
        (["--resume", "--checkpoint", "CORRUPT"], "cannot read checkpoint"),
        (["--resume", "--checkpoint", "FOREIGN"], "not a train_digits checkpoint"),
        (["--checkpoint", "/no/such/folder/x.safetensors"], "does not exist"),
    ],
)
def test_digits_bad_arguments_exit_2_with_one_line(args, message, tmp_path, capsys):
    files = {
        "MISSING": tmp_path / "missing.safetensors",
        "CORRUPT": tmp_path / "corrupt.safetensors",
        "FOREIGN": tmp_path / "foreign.safetensors",
    }
    files["CORRUPT"].write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    gpugrad.save({"weights": gpugrad.ones(2)}, files["FOREIGN"])
    argv = [str(files[a]) if a in files else a for a in args]
    assert train_digits.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_char_lm_learns_and_samples(device):
    corpus = char_lm.load_corpus(20_000)
    assert len(corpus) == 20_000 and "def " in corpus
    tr = char_lm.build(
        device,
        batch_size=8,
        block_size=16,
        n_layer=1,
        n_head=2,
        n_embd=32,
        steps=40,
        lr=1e-2,
        corpus=corpus,
    )
    losses = [float(char_lm.train_step(tr)) for _ in range(40)]
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.5
    assert tr.step == 40 and tr.scheduler.get_last_lr()[0] < 1e-2
    x, y = char_lm.get_batch(tr)
    assert tuple(x.shape) == (8, 16) and x.device.type == device
    text = char_lm.sample(tr, n_chars=20, prompt="def ")
    assert len(text) == 20 and set(text) <= set(tr.chars)
    assert np.isfinite(char_lm.estimate_loss(tr, batches=1))


def test_char_lm_cli(capsys):
    assert (
        char_lm.main(
            [
                "--steps",
                "2",
                "--eval-every",
                "2",
                "--n-layer",
                "1",
                "--n-embd",
                "16",
                "--block-size",
                "8",
                "--batch-size",
                "2",
                "--corpus-chars",
                "5000",
                "--sample-chars",
                "5",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "step     2/2" in out and "sample:" in out
    assert char_lm.main(["--n-embd", "30", "--n-head", "4"]) == 2
    assert "multiple of --n-head" in capsys.readouterr().err
