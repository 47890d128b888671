"""A data-bound training loop: a DataLoader with 0, 1 or 2 worker processes feeding a light
step, so the per-sample decode/augment work (NumPy, in the dataset's ``__getitem__``) is what
the loop waits for.

Each call is one epoch. Frameworks iterate their own ``DataLoader`` (persistent workers, so
starting them is not timed) over the same dataset and run ``flatten(x) @ w`` on each batch;
the floor is the same work in one process with no loader: what ``num_workers=0`` costs at
best. Workers pay off when the per-sample work outweighs pickling the batch back, and up to
the number of free cores. On a 2-core machine run it with ``--threads 1``: NumPy's BLAS
threads spin for a while after each matmul of the step and take the core a worker needs.
"""

from __future__ import annotations

import numpy as np

from ..case import Step, Workload

SIZES = {  # name: (samples, image side, batch)
    "test": (32, 12, 8),
    "cifar-like": (768, 32, 64),
}
BLUR_ROUNDS = 6  # box-blur passes per sample: the "decode + augment" cost
MEAN = np.array([0.49, 0.48, 0.45], dtype=np.float32)
STD = np.array([0.25, 0.24, 0.26], dtype=np.float32)


def augment(img: np.ndarray, i: int) -> np.ndarray:
    """uint8 HWC -> float32 CHW: shift, flip, blur, normalise (deterministic in ``i``)."""
    x = img.astype(np.float32) * (1.0 / 255.0)
    x = np.roll(x, i % 3 - 1, axis=0)
    if i % 2:
        x = x[:, ::-1]
    h, w = x.shape[:2]
    for _ in range(BLUR_ROUNDS):
        p = np.pad(x, ((1, 1), (1, 1), (0, 0)), mode="edge")
        x = sum(p[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)) * (1.0 / 9.0)
    x = (x - MEAN) / STD
    return np.ascontiguousarray(x.transpose(2, 0, 1))


class Augmented:
    """A map-style dataset of uint8 images, augmented on access (picklable: module level)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return augment(self.images[i], i), self.labels[i]


class DataLoading(Workload):
    name = "data_loading"
    variants = ("workers=0", "workers=1", "workers=2")
    modes = ("fwd",)
    tol = 1e-4

    def ladder(self, device, level):
        name = "test" if level == "test" else "cifar-like"
        n, side, batch = SIZES[name]
        out = []
        for variant in self.variants:
            params = {"n": n, "side": side, "batch": batch, "workers": int(variant[-1])}
            out.append((variant, f"{name} {n}x{side}x{side}x3 b{batch}", float(n), params))
        return out

    def cost(self, variant, p, mode):
        pixels = p["n"] * p["side"] ** 2 * 3
        flops = pixels * (BLUR_ROUNDS * 10 + 4) + 2.0 * pixels * 10
        return flops, pixels * (1 + 4), "memory"

    def state(self, case, rng):
        n, side = case.params["n"], case.params["side"]
        return {
            "images": rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8),
            "labels": rng.integers(0, 10, n, dtype=np.int64),
            "w": (rng.standard_normal((3 * side * side, 10)) * 0.01).astype(np.float32),
        }

    def batch(self, case, rng):
        return {"epoch": np.zeros(1, dtype=np.float32)}  # every call is one epoch of the state

    def framework(self, lib, case, state, batches):
        p = case.params
        loader = lib.T.utils.data.DataLoader(
            Augmented(state["images"], state["labels"]),
            batch_size=p["batch"],
            num_workers=p["workers"],
            persistent_workers=p["workers"] > 0,
        )
        w = lib.tensor(state["w"])
        last: dict = {}

        def call(i):
            sums = []
            with lib.no_grad():
                for x, _ in loader:
                    x = x.to(w.device)
                    sums.append((x.reshape(len(x), -1) @ w).sum())
            last["sums"] = sums

        def result():
            return {"batch_sums": np.array([lib.host(s) for s in last["sums"]])}

        return Step(call, result)

    def floor(self, fx, case, state, batches):
        p = case.params
        ds = Augmented(state["images"], state["labels"])
        w = fx.array(state["w"])
        last: dict = {}

        def call(i):
            sums = []
            for start in range(0, len(ds), p["batch"]):
                idx = range(start, min(start + p["batch"], len(ds)))
                x = fx.xp.asarray(np.stack([ds[j][0] for j in idx]))
                sums.append((x.reshape(len(x), -1) @ w).sum())
            last["sums"] = sums

        def result():
            return {"batch_sums": np.array([fx.host(s) for s in last["sums"]])}

        return Step(call, result)


WORKLOAD = DataLoading()
