"""L-BFGS, as ``torch.optim.LBFGS``: quasi-Newton steps from a short history of gradient
differences, with a fixed step or a strong-Wolfe line search (cubic interpolation).

The parameters are handled as one flat vector (arrays of the parameters' device); the
scalar bookkeeping is in Python floats. ``step(closure)`` re-evaluates the loss as often as
the iterations and the line search need.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

from ..autograd.grad_mode import enable_grad, no_grad
from .optimizer import Optimizer


class LBFGS(Optimizer):
    """Limited-memory BFGS over one parameter group; ``step`` needs a closure."""

    def __init__(
        self,
        params,
        lr: float = 1,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
    ) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = {
            "lr": lr,
            "max_iter": max_iter,
            "max_eval": max_eval,
            "tolerance_grad": tolerance_grad,
            "tolerance_change": tolerance_change,
            "history_size": history_size,
            "line_search_fn": line_search_fn,
        }
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    # ---- the parameters as one flat vector ---------------------------------------------
    def _xp(self):
        return self._params[0]._device.backend.xp

    def _flat_grad(self):
        xp = self._xp()
        return xp.concatenate(
            [
                xp.zeros(p._data.size, p._data.dtype) if p._grad is None else p._grad._data.ravel()
                for p in self._params
            ]
        )

    def _add(self, step: float, direction) -> None:
        offset = 0
        for p in self._params:
            n = p._data.size
            p._data += step * direction[offset : offset + n].reshape(p._data.shape)
            p._vc[0] += 1
            offset += n

    def _evaluate_at(self, closure, x0: list, direction, step: float) -> tuple:
        """Loss and flat gradient at ``x0 + step * direction``; the parameters go back."""
        self._add(step, direction)
        loss = float(closure())
        grad = self._flat_grad()
        for p, data in zip(self._params, x0):
            p._data[...] = data
            p._vc[0] += 1
        return loss, grad

    # ---- one step ------------------------------------------------------------------------
    @no_grad()
    def step(self, closure: Callable):
        """Up to ``max_iter`` L-BFGS iterations; returns the closure's first loss."""
        closure = enable_grad()(closure)
        group = self.param_groups[0]
        lr = float(group["lr"])
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        line_search, history_size = group["line_search_fn"], group["history_size"]
        xp = self._xp()
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = closure()
        loss = float(orig_loss)
        evals = 1
        state["func_evals"] += 1
        g = self._flat_grad()
        if float(xp.abs(g).max()) <= tol_grad:
            return orig_loss

        d, t = state.get("d"), state.get("t")
        dirs, steps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        h_diag = state.get("H_diag")
        prev_g, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = -g
                dirs, steps, ro, h_diag = [], [], [], 1.0
            else:
                y, s = g - prev_g, d * t
                ys = float(xp.dot(y, s))
                if ys > 1e-10:  # keep the pair only where the curvature is positive
                    if len(dirs) == history_size:
                        dirs.pop(0), steps.pop(0), ro.pop(0)
                    dirs.append(y), steps.append(s), ro.append(1.0 / ys)
                    h_diag = ys / float(xp.dot(y, y))
                # two-loop recursion: d = -H g
                q = -g
                al = [0.0] * len(dirs)
                for i in range(len(dirs) - 1, -1, -1):
                    al[i] = float(xp.dot(steps[i], q)) * ro[i]
                    q = q - al[i] * dirs[i]
                d = q * h_diag
                for i in range(len(dirs)):
                    be = float(xp.dot(dirs[i], d)) * ro[i]
                    d = d + (al[i] - be) * steps[i]
            prev_g, prev_loss = g.copy(), loss
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / float(xp.abs(g).sum())) * lr
            else:
                t = lr
            gtd = float(xp.dot(g, d))
            if gtd > -tol_change:  # not a descent direction
                break
            ls_evals = 0
            if line_search is not None:
                if line_search != "strong_wolfe":
                    raise RuntimeError("only 'strong_wolfe' is supported")
                x0 = [p._data.copy() for p in self._params]
                loss, g, t, ls_evals = _strong_wolfe(
                    functools.partial(self._evaluate_at, closure, x0, d),
                    xp,
                    t,
                    d,
                    loss,
                    g,
                    gtd,
                    tolerance_change=tol_change,
                    max_ls=max_eval - evals,
                )
                self._add(t, d)
                opt_cond = float(xp.abs(g).max()) <= tol_grad
            else:
                self._add(t, d)
                opt_cond = False
                if n_iter != max_iter:
                    loss = float(closure())
                    g = self._flat_grad()
                    opt_cond = float(xp.abs(g).max()) <= tol_grad
                    ls_evals = 1
            evals += ls_evals
            state["func_evals"] += ls_evals
            if (
                n_iter == max_iter
                or evals >= max_eval
                or opt_cond
                or float(xp.abs(d * t).max()) <= tol_change
                or abs(loss - prev_loss) < tol_change
            ):
                break

        state.update(
            d=d,
            t=t,
            old_dirs=dirs,
            old_stps=steps,
            ro=ro,
            H_diag=h_diag,
            prev_flat_grad=prev_g,
            prev_loss=prev_loss,
        )
        return orig_loss


def _cubic_min(x1, f1, g1, x2, f2, g2, bounds=None) -> float:
    """The minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), kept in bounds
    (the midpoint when the cubic has none)."""
    lo, hi = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if d2_square < 0:
        return (lo + hi) / 2.0
    d2 = math.sqrt(d2_square)
    if x1 <= x2:
        pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(pos, lo), hi)


def _strong_wolfe(evaluate, xp, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """Find a step ``t`` along ``d`` meeting the strong Wolfe conditions (bracketing, then
    zooming with cubic interpolation); (loss, gradient, t, evaluations) at that step."""
    d_norm = float(xp.abs(d).max())
    f_new, g_new = evaluate(t)
    evals = 1
    gtd_new = float(xp.dot(g_new, d))
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    it = 0
    # bracket a step that satisfies the conditions
    while it < max_ls:
        rose = f_new > f + c1 * t * gtd or (it > 1 and f_new >= f_prev)
        if not rose and abs(gtd_new) <= -c2 * gtd:
            br, br_f, br_g, br_gtd = [t], [f_new], [g_new], [gtd_new]
            done = True
            break
        if rose or gtd_new >= 0:  # a minimum lies between the last two steps
            br, br_f, br_g = [t_prev, t], [f_prev, f_new], [g_prev, g_new]
            br_gtd = [gtd_prev, gtd_new]
            break
        lo, hi = t + 0.01 * (t - t_prev), t * 10
        t_prev, t = t, _cubic_min(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(lo, hi))
        f_prev, g_prev, gtd_prev = f_new, g_new, gtd_new
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = float(xp.dot(g_new, d))
        it += 1
    if it == max_ls:
        br, br_f, br_g, br_gtd = [0.0, t], [f, f_new], [g, g_new], [gtd, gtd_new]
    # zoom into the bracket
    insufficient = False
    low, high = (0, 1) if br_f[0] <= br_f[-1] else (1, 0)
    while not done and it < max_ls:
        if abs(br[1] - br[0]) * d_norm < tolerance_change:
            break
        t = _cubic_min(br[0], br_f[0], br_gtd[0], br[1], br_f[1], br_gtd[1])
        # keep away from the bracket's ends, unless the last step made too little progress
        eps = 0.1 * (max(br) - min(br))
        if min(max(br) - t, t - min(br)) < eps:
            if insufficient or t >= max(br) or t <= min(br):
                t = max(br) - eps if abs(t - max(br)) < abs(t - min(br)) else min(br) + eps
                insufficient = False
            else:
                insufficient = True
        else:
            insufficient = False
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = float(xp.dot(g_new, d))
        it += 1
        if f_new > f + c1 * t * gtd or f_new >= br_f[low]:
            br[high], br_f[high], br_g[high], br_gtd[high] = t, f_new, g_new, gtd_new
            low, high = (0, 1) if br_f[0] <= br_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (br[high] - br[low]) >= 0:
                br[high], br_f[high], br_g[high], br_gtd[high] = (
                    br[low],
                    br_f[low],
                    br_g[low],
                    br_gtd[low],
                )
            br[low], br_f[low], br_g[low], br_gtd[low] = t, f_new, g_new, gtd_new
    return br_f[low], br_g[low], br[low], evals
