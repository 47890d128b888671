"""PyTorch's beginner tutorials ("Learning PyTorch with Examples": the polynomial fit with
plain tensors, autograd, nn, optim, a custom Module and a dynamic net; the "Neural Networks"
tutorial's LeNet), as plain PyTorch, with fewer steps.

Every random start is drawn from one NumPy seed, so the printed losses are the same under
any library that computes what PyTorch computes.
"""

import math
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

rng = np.random.default_rng(int(sys.argv[1]) if len(sys.argv) > 1 else 0)


def scalar(requires_grad=False):
    return torch.tensor(float(rng.standard_normal()), requires_grad=requires_grad)


def set_params(model):
    """Initialise every parameter from the shared NumPy seed."""
    with torch.no_grad():
        for p in model.parameters():
            bound = 1 / math.sqrt(p[0].numel()) if p.dim() > 1 else 0.1  # as nn.init's scale
            p.copy_(torch.from_numpy(rng.uniform(-bound, bound, size=tuple(p.shape))))


x = torch.linspace(-math.pi, math.pi, 2000)
y = torch.sin(x)


def plain_tensors():
    a, b, c, d = (scalar() for _ in range(4))
    learning_rate = 1e-6
    for t in range(300):
        y_pred = a + b * x + c * x**2 + d * x**3
        loss = (y_pred - y).pow(2).sum().item()
        if t % 100 == 99:
            print(t, loss)
        grad_y_pred = 2.0 * (y_pred - y)
        a -= learning_rate * grad_y_pred.sum()
        b -= learning_rate * (grad_y_pred * x).sum()
        c -= learning_rate * (grad_y_pred * x**2).sum()
        d -= learning_rate * (grad_y_pred * x**3).sum()
    print(f"plain tensors: loss {loss:.6f}")


def autograd():
    a, b, c, d = (scalar(requires_grad=True) for _ in range(4))
    for t in range(300):
        loss = (a + b * x + c * x**2 + d * x**3 - y).pow(2).sum()
        if t % 100 == 99:
            print(t, loss.item())
        loss.backward()
        with torch.no_grad():
            for p in (a, b, c, d):
                p -= 1e-6 * p.grad
                p.grad = None
    print(f"autograd: loss {loss.item():.6f}")


def nn_and_optim():
    xx = x.unsqueeze(-1).pow(torch.tensor([1, 2, 3]))
    for name, make in (
        ("nn", None),
        ("optim RMSprop", lambda p: torch.optim.RMSprop(p, lr=1e-3)),
        ("optim SGD momentum", lambda p: torch.optim.SGD(p, lr=1e-6, momentum=0.9)),
    ):
        model = nn.Sequential(nn.Linear(3, 1), nn.Flatten(0, 1))
        set_params(model)
        loss_fn = nn.MSELoss(reduction="sum")
        optimizer = make(model.parameters()) if make else None
        for t in range(200):
            loss = loss_fn(model(xx), y)
            if t % 100 == 99:
                print(t, loss.item())
            if optimizer:
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            else:
                model.zero_grad()
                loss.backward()
                with torch.no_grad():
                    for param in model.parameters():
                        param -= 1e-6 * param.grad
        print(f"{name}: loss {loss.item():.6f} weight {model[0].weight.shape}")


class Polynomial3(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c, self.d = (torch.nn.Parameter(scalar()) for _ in range(4))

    def forward(self, x):
        return self.a + self.b * x + self.c * x**2 + self.d * x**3


class DynamicNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c, self.d, self.e = (torch.nn.Parameter(scalar()) for _ in range(5))

    def forward(self, x, n_extra):
        y = self.a + self.b * x + self.c * x**2 + self.d * x**3
        for exp in range(4, 4 + n_extra):
            y = y + self.e * x**exp  # the same parameter reused: weight sharing
        return y


def custom_modules():
    model = Polynomial3()
    criterion = torch.nn.MSELoss(reduction="sum")
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-6)
    for t in range(300):
        loss = criterion(model(x), y)
        if t % 100 == 99:
            print(t, loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    print(f"custom module: loss {loss.item():.6f}", [n for n, _ in model.named_parameters()])
    model = DynamicNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-8, momentum=0.9)
    for t in range(200):
        loss = criterion(model(x, int(rng.integers(0, 3))), y)
        if t % 100 == 99:
            print(t, loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    print(f"dynamic net: loss {loss.item():.6f}")


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


def lenet():
    net = Net()
    set_params(net)
    print(net)
    params = list(net.parameters())
    print(len(params), params[0].size())
    input = torch.from_numpy(rng.standard_normal((2, 1, 32, 32)).astype(np.float32))
    target = torch.arange(20.0).view(2, -1) / 10
    criterion = nn.MSELoss()
    loss = criterion(net(input), target)
    print(loss.grad_fn.name(), loss.grad_fn.next_functions[0][0].name())
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    for t in range(10):
        optimizer.zero_grad()
        loss = criterion(net(input), target)
        loss.backward()
        optimizer.step()
        print(f"lenet step {t}: loss {loss.item():.6f}")


if __name__ == "__main__":
    plain_tensors()
    autograd()
    nn_and_optim()
    custom_modules()
    lenet()
