"""PyTorch's beginner examples ("Learning PyTorch with Examples" and the "Neural Networks"
tutorial's LeNet), written as in PyTorch with only the import changed, and fewer steps."""

from __future__ import annotations

import math
import random

import gpugrad as torch
import gpugrad.nn as nn
import gpugrad.nn.functional as F


def _data(device):
    x = torch.linspace(-math.pi, math.pi, 2000, device=device)
    return x, torch.sin(x)


def test_polynomial_plain_tensors_manual_backprop(device):
    torch.manual_seed(0)
    x, y = _data(device)
    a, b, c, d = (torch.randn((), device=device) for _ in range(4))
    learning_rate = 1e-6
    losses = []
    for _ in range(400):
        y_pred = a + b * x + c * x**2 + d * x**3
        loss = (y_pred - y).pow(2).sum().item()
        losses.append(loss)
        grad_y_pred = 2.0 * (y_pred - y)
        grad_a = grad_y_pred.sum()
        grad_b = (grad_y_pred * x).sum()
        grad_c = (grad_y_pred * x**2).sum()
        grad_d = (grad_y_pred * x**3).sum()
        a -= learning_rate * grad_a
        b -= learning_rate * grad_b
        c -= learning_rate * grad_c
        d -= learning_rate * grad_d
    assert losses[-1] < 0.05 * losses[0]


def test_polynomial_autograd(device):
    torch.manual_seed(0)
    dtype = torch.float
    x, y = _data(device)
    a = torch.randn((), device=device, dtype=dtype, requires_grad=True)
    b = torch.randn((), device=device, dtype=dtype, requires_grad=True)
    c = torch.randn((), device=device, dtype=dtype, requires_grad=True)
    d = torch.randn((), device=device, dtype=dtype, requires_grad=True)
    learning_rate = 1e-6
    first = None
    for _ in range(400):
        y_pred = a + b * x + c * x**2 + d * x**3
        loss = (y_pred - y).pow(2).sum()
        first = first or loss.item()
        loss.backward()
        with torch.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad
            a.grad = None
            b.grad = None
            c.grad = None
            d.grad = None
    assert loss.item() < 0.05 * first


def test_polynomial_nn_sequential_flatten(device):
    torch.manual_seed(0)
    x, y = _data(device)
    p = torch.tensor([1, 2, 3], device=device)
    xx = x.unsqueeze(-1).pow(p)
    model = nn.Sequential(nn.Linear(3, 1), nn.Flatten(0, 1)).to(device)
    loss_fn = nn.MSELoss(reduction="sum")
    learning_rate = 1e-6
    first = None
    for _ in range(400):
        y_pred = model(xx)
        loss = loss_fn(y_pred, y)
        first = first or loss.item()
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for param in model.parameters():
                param -= learning_rate * param.grad
    assert y_pred.shape == (2000,)
    assert loss.item() < 0.2 * first
    linear_layer = model[0]
    assert linear_layer.weight.shape == (1, 3)


def test_polynomial_optim(device):
    torch.manual_seed(0)
    x, y = _data(device)
    xx = x.unsqueeze(-1).pow(torch.tensor([1, 2, 3], device=device))
    model = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0, 1)).to(device)
    loss_fn = torch.nn.MSELoss(reduction="sum")
    for opt_cls, lr in ((torch.optim.RMSprop, 1e-3), (torch.optim.SGD, 1e-6)):
        optimizer = opt_cls(model.parameters(), lr=lr)
        first = None
        for _ in range(300):
            loss = loss_fn(model(xx), y)
            first = first or loss.item()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        assert loss.item() < first


class Polynomial3(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.randn(()))
        self.b = torch.nn.Parameter(torch.randn(()))
        self.c = torch.nn.Parameter(torch.randn(()))
        self.d = torch.nn.Parameter(torch.randn(()))

    def forward(self, x):
        return self.a + self.b * x + self.c * x**2 + self.d * x**3

    def string(self):
        return (
            f"y = {self.a.item()} + {self.b.item()} x + {self.c.item()} x^2 + {self.d.item()} x^3"
        )


def test_polynomial_custom_module(device):
    torch.manual_seed(0)
    x, y = _data(device)
    model = Polynomial3().to(device)
    criterion = torch.nn.MSELoss(reduction="sum")
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-6)
    first = None
    for _ in range(400):
        loss = criterion(model(x), y)
        first = first or loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05 * first
    assert model.string().startswith("y = ")
    assert [n for n, _ in model.named_parameters()] == ["a", "b", "c", "d"]


class DynamicNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.randn(()))
        self.b = torch.nn.Parameter(torch.randn(()))
        self.c = torch.nn.Parameter(torch.randn(()))
        self.d = torch.nn.Parameter(torch.randn(()))
        self.e = torch.nn.Parameter(torch.randn(()))

    def forward(self, x):
        y = self.a + self.b * x + self.c * x**2 + self.d * x**3
        for exp in range(4, random.randint(4, 6)):
            y = y + self.e * x**exp  # the same parameter reused: weight sharing
        return y


def test_dynamic_net_weight_sharing_and_momentum(device):
    torch.manual_seed(0)
    random.seed(0)
    x, y = _data(device)
    model = DynamicNet().to(device)
    criterion = torch.nn.MSELoss(reduction="sum")
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-8, momentum=0.9)
    first = None
    for _ in range(300):
        loss = criterion(model(x), y)
        first = first or loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < first
    assert model.e.grad is not None


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, input):
        c1 = F.relu(self.conv1(input))
        s2 = F.max_pool2d(c1, (2, 2))
        c3 = F.relu(self.conv2(s2))
        s4 = F.max_pool2d(c3, 2)
        s4 = torch.flatten(s4, 1)
        f5 = F.relu(self.fc1(s4))
        f6 = F.relu(self.fc2(f5))
        return self.fc3(f6)


def test_lenet_tutorial(device):
    torch.manual_seed(0)
    net = Net().to(device)
    assert repr(net).startswith("Net(\n  (conv1): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1))")
    params = list(net.parameters())
    assert len(params) == 10 and params[0].size() == (6, 1, 5, 5)
    input = torch.randn(1, 1, 32, 32, device=device)
    out = net(input)
    assert out.shape == (1, 10)
    net.zero_grad()
    out.backward(torch.randn(1, 10, device=device))
    assert net.conv1.bias.grad is not None

    output = net(input)
    target = torch.arange(10.0, device=device).view(1, -1)
    criterion = nn.MSELoss()
    loss = criterion(output, target)
    assert loss.grad_fn.name() == "MseLossBackward0"
    net.zero_grad()
    assert net.conv1.bias.grad is None
    loss.backward()
    assert net.conv1.bias.grad.shape == (6,)

    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    first = loss.item()
    for _ in range(20):
        optimizer.zero_grad()
        loss = criterion(net(input), target)
        loss.backward()
        optimizer.step()
    assert loss.item() < first
