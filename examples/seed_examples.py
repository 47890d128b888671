"""The three examples of the article on PyTorch's autograd engine (shared/seeds), run with
gpugrad: `import gpugrad as torch` is the only change from the PyTorch code."""

import gpugrad as torch
import gpugrad.nn as nn
import gpugrad.optim as optim


def show(name, t, grad=True):
    text = f"{name}: {t}"
    if grad and t.is_leaf:
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
    print("backward() 전 (before)")
    for name, t in (("a", a), ("b", b), ("c", c), ("d", d), ("e", e), ("ans", ans)):
        show(name, t)
    ans.backward()
    print("=" * 55)
    print("backward() 후 (after)")
    for name, t in (("a", a), ("b", b), ("c", c), ("d", d), ("e", e), ("ans", ans)):
        show(name, t)
    print("graph:", ans.grad_fn.name(), "->", [n.name() for n, _ in ans.grad_fn.next_functions])
    mul = ans.grad_fn.next_functions[0][0]
    print(
        "      ",
        mul.name(),
        "->",
        [
            (n.name(), n.variable.tolist() if hasattr(n, "variable") else None)
            for n, _ in mul.next_functions
        ],
    )
    return a, b, d


def example_2():
    print("\n# Example 2: e = c.detach() * d")
    a = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = torch.tensor([3.0, 3.0, 3.0], requires_grad=True)
    d = torch.tensor([4.0, 6.0, 10.0], requires_grad=True)
    c = a * b
    e = c.detach() * d
    ans = torch.sum(e)
    ans.backward()
    for name, t in (("a", a), ("b", b), ("d", d)):
        show(name, t)
    detached = c.detach()
    print("c.detach():", detached, "requires_grad =", detached.requires_grad)
    detached[0] = 100.0  # shares memory with c
    print("after c.detach()[0] = 100:", "c =", c)
    cloned = c.clone().detach()
    cloned[1] = -1.0  # its own memory
    print("after c.clone().detach()[1] = -1:", "c =", c)
    return a, b, d


def example_3():
    print("\n# Example 3: nn.Linear, detach and optim.SGD")
    modelA = nn.Linear(10, 10)
    modelB = nn.Linear(10, 10)
    modelC = nn.Linear(10, 10)

    x = torch.randn(1, 10)
    a = modelA(x)
    b = modelB(a.detach())
    b.mean().backward()
    print(modelA.weight.grad)  # None here

    c = modelC(a)
    c.mean().backward()
    print(modelA.weight.grad)  # a tensor here

    before = modelA.weight.detach().clone()
    optimizer = optim.SGD(modelA.parameters(), lr=0.01)
    optimizer.step()
    print("SGD step moved modelA.weight by", (modelA.weight - before).abs().max().item())
    return modelA, before


def main() -> None:
    torch.manual_seed(0)
    example_1()
    example_2()
    example_3()


if __name__ == "__main__":
    main()
