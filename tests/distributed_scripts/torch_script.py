"""An ordinary PyTorch DDP training script; ``--lib gpugrad`` swaps in ``import gpugrad as
torch`` and changes nothing else. tests/test_distributed_ddp.py runs it both ways under
gpugrad's launcher (real torch rendezvous through the MASTER_ADDR/PORT it sets) and
compares the trained parameters.
"""

import argparse
import os

import numpy as np

p = argparse.ArgumentParser()
p.add_argument("--lib", choices=["torch", "gpugrad"], required=True)
p.add_argument("--out", required=True)
p.add_argument("--optim", choices=["sgd", "adam"], default="sgd")
args = p.parse_args()

if args.lib == "gpugrad":
    import gpugrad as torch

    # (the package's attributes once gpugrad/__init__.py imports them; harmless after)
    import gpugrad.distributed  # noqa: F401
    import gpugrad.utils.data.distributed  # noqa: F401
else:
    import torch
    import torch.utils.data.distributed

dist = torch.distributed
nn = torch.nn
DDP = torch.nn.parallel.DistributedDataParallel
DataLoader, TensorDataset = torch.utils.data.DataLoader, torch.utils.data.TensorDataset
DistributedSampler = torch.utils.data.distributed.DistributedSampler


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
