"""The three examples of the article on PyTorch's autograd engine, as plain PyTorch.

Its output is fully determined (no random values are printed), so the same script under real
torch and under ``python -m gpugrad.as_torch`` prints the same text.
"""

import torch
import torch.nn as nn
import torch.optim as optim


def show(name, t):
    text = f"{name}: {t}"
    if t.is_leaf:
        text += f", grad = {t.grad}"
    print(text)


def example_1():
    print("# Example 1: c = a * b; e = c * d; ans = sum(e)")
    a = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = torch.tensor([3.0, 3.0, 3.0], requires_grad=True)
    d = torch.tensor([4.0, 6.0, 10.0], requires_grad=True)
    c = a * b
    e = c * d
    ans = torch.sum(e)
    for name, t in (("a", a), ("b", b), ("c", c), ("d", d), ("e", e), ("ans", ans)):
        show(name, t)
    ans.backward()
    print("after backward()")
    for name, t in (("a", a), ("b", b), ("c", c), ("d", d), ("e", e), ("ans", ans)):
        show(name, t)
    print("graph:", ans.grad_fn.name(), "->", [n.name() for n, _ in ans.grad_fn.next_functions])
    mul = ans.grad_fn.next_functions[0][0]
    print("      ", mul.name(), "->", [type(n).__name__ for n, _ in mul.next_functions])
    print("dtype:", a.dtype, "shape:", a.shape, "size(0):", a.size(0))


def example_2():
    print("\n# Example 2: e = c.detach() * d")
    a = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = torch.tensor([3.0, 3.0, 3.0], requires_grad=True)
    d = torch.tensor([4.0, 6.0, 10.0], requires_grad=True)
    c = a * b
    e = c.detach() * d
    torch.sum(e).backward()
    for name, t in (("a", a), ("b", b), ("d", d)):
        show(name, t)
    detached = c.detach()
    print("c.detach():", detached, "requires_grad =", detached.requires_grad)
    detached[0] = 100.0  # shares memory with c
    print("after c.detach()[0] = 100:", "c =", c)
    cloned = c.clone().detach()
    cloned[1] = -1.0  # its own memory
    print("after c.clone().detach()[1] = -1:", "c =", c)


def example_3():
    print("\n# Example 3: nn.Linear, detach and optim.SGD")
    torch.manual_seed(0)
    modelA, modelB, modelC = nn.Linear(10, 10), nn.Linear(10, 10), nn.Linear(10, 10)
    x = torch.randn(1, 10)
    a = modelA(x)
    b = modelB(a.detach())
    b.mean().backward()
    print("modelA.weight.grad after the detached branch:", modelA.weight.grad)
    c = modelC(a)
    c.mean().backward()
    print("modelA.weight.grad after modelC:", modelA.weight.grad.shape)
    optimizer = optim.SGD(modelA.parameters(), lr=0.01)
    before = modelA.weight.detach().clone()
    optimizer.step()
    expected = before - 0.01 * modelA.weight.grad
    print("SGD step as documented:", torch.allclose(modelA.weight, expected))
    print(modelA)
    values, indices = torch.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]]).max(dim=1)
    print(torch.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]]).max(dim=1))
    print(values.dtype, indices.dtype, torch.zeros(2, 3, dtype=torch.int8))


if __name__ == "__main__":
    example_1()
    example_2()
    example_3()
