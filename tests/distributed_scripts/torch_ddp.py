"""An ordinary PyTorch DDP training script, nothing gpugrad in it: tests run it with real
torch and under ``python -m gpugrad.distributed.run --as-torch`` (gpugrad standing in for
torch) and compare the trained parameters.
"""

import argparse
import os

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

p = argparse.ArgumentParser()
p.add_argument("--out", required=True)
p.add_argument("--optim", choices=["sgd", "adam"], default="sgd")
args = p.parse_args()


def main() -> None:
    dist.init_process_group(backend="gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    local_rank = int(os.environ["LOCAL_RANK"])
    assert local_rank == rank
    torch.manual_seed(rank)  # replicas differ until DDP broadcasts rank 0's weights
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3)).double()
    if rank == 0:  # the same start for both libraries
        rng = np.random.default_rng(0)
        with torch.no_grad():
            for prm in model.parameters():
                prm.copy_(torch.tensor(rng.uniform(-0.3, 0.3, tuple(prm.shape))))
    ddp = DDP(model)
    rng = np.random.default_rng(1)
    x = torch.tensor(rng.normal(size=(48, 8)))
    y = torch.tensor(rng.integers(0, 3, size=48))
    data = TensorDataset(x, y)
    sampler = DistributedSampler(data, shuffle=False)  # the same shards in both libraries
    loader = DataLoader(data, batch_size=24 // world, sampler=sampler)
    if args.optim == "sgd":
        opt = torch.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    else:
        opt = torch.optim.Adam(ddp.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(2):
        sampler.set_epoch(epoch)
        for xb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(ddp(xb), yb)
            loss.backward()
            opt.step()
    if rank == 0:
        state = {k: v.detach().numpy() for k, v in ddp.state_dict().items()}
        np.savez(args.out, **state)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
