"""Whether the replicas stay one model: parameters out of sync (ND703), gradients not averaged (ND704), a loss
scaled by the world size (ND705), and parameters unused on some rank (ND706).

What it catches: on a run on several ranks, fingerprints of every parameter and buffer right after wrapping and
after the training steps, and of every gradient at each `optimizer.step()` (the user's `train_step` when given),
are compared across ranks: parameters that differ (ND703) and gradients that differ at the step (ND704) are named.
Each rank also runs one backward on a plain copy of the model (no data parallelism) on its own batch, with the same
random draws as its first step: the parameters that get no gradient there are named by rank (ND706), and the
synced gradient G of the first step is compared with the ranks' local gradients g_r through
k = |G|^2 / mean_r(G . g_r), which is 1 when G averages them and N or 1/N when the loss is scaled by the world
size (ND705). ND705 is judged only where the parameters were in sync and the gradients synced: replicas apart
make G look like 1/N of the local gradients.

Why it matters: each of these trains N different models, or the right model with the wrong step, without any
error; unused parameters make DDP raise on the next step or hang.

How to fix it: see `nndoctor explain` for each code.

Healthy and silent: DistributedDataParallel with the plain loss; gradient accumulation with `no_sync` on all but
the last micro-step; `find_unused_parameters=True` where a branch is unused on some rank (noted, not an error).
"""
from __future__ import annotations

from nndoctor import Option
from nndoctor.distributed.context import RanksCheck, names_text, ranks_text
from nndoctor.distributed.evidence import differing


class DdpSync(RanksCheck):
    """Across ranks: parameters out of sync, gradients not averaged, a scaled loss, unused parameters."""

    name = "ddp-sync"
    codes = ("ND703", "ND704", "ND705", "ND706")
    cost = "low"
    options = {
        "param_tolerance": Option(1e-5, "relative gap between two ranks' fingerprints of a parameter above which "
                                  "they differ (ND703)", low=0.0, high=1.0),
        "grad_tolerance": Option(1e-4, "relative gap between two ranks' fingerprints of a gradient above which "
                                 "they differ (ND704)", low=0.0, high=1.0),
        "scale_tolerance": Option(0.25, "relative distance of the gradient ratio k from N or 1/N within which the "
                                  "loss is scaled by the world size, and from 1 within which it is not (ND705)",
                                  low=0.01, high=0.5),
    }

    def run(self, ctx):
        ranks = ctx.reported
        if len(ranks) < 2:
            return
        yield from self.unused(ranks)
        start = differing([e.params_start for e in ranks], self.opts["param_tolerance"])
        if start:
            yield self.out_of_sync(start, "right after wrapping")
        grads = self.unsynced_grads(ranks)
        if grads:
            step, names = grads
            yield self.finding("ND704", f"{len(names)} gradient(s) differ across ranks at optimizer step {step + 1}: "
                               f"{names_text(sorted(names))}", {"step": step + 1, "relative_gap": names},
                               where=names_text(sorted(names)))
        if not start and not grads:
            after = differing([e.params_after for e in ranks if e.params_after], self.opts["param_tolerance"])
            if after:
                yield self.out_of_sync(after, "after the training steps")
            else:
                yield from self.scaled(ranks)

    def out_of_sync(self, names: dict, when: str):
        shown = names_text(sorted(names))
        return self.finding("ND703", f"{len(names)} parameter(s) or buffer(s) differ across ranks {when}: {shown}",
                            {"when": when, "relative_gap": names}, where=shown)

    def unused(self, ranks):
        by_name: dict[str, list[int]] = {}
        for e in ranks:
            for name in e.unused:
                by_name.setdefault(name, []).append(e.rank)
        if not by_name:
            return
        handled = all(e.find_unused for e in ranks if e.unused)
        where = sorted({r for rs in by_name.values() for r in rs})
        yield self.finding("ND706", f"{len(by_name)} parameter(s) get no gradient on {ranks_text(where)}: "
                           f"{names_text(sorted(by_name))}" + (" (find_unused_parameters=True copes)" if handled
                                                               else ""),
                           {"unused_on": by_name, "find_unused_parameters": handled},
                           severity="info" if handled else "", where=names_text(sorted(by_name)))

    def unsynced_grads(self, ranks) -> tuple[int, dict] | None:
        steps = min(len(e.steps) for e in ranks)
        for i in range(steps):
            names = differing([e.steps[i]["grads"] for e in ranks], self.opts["grad_tolerance"])
            if names:
                return i, names
        return None

    def scaled(self, ranks):
        first = [e.steps[0] for e in ranks if e.steps]
        if len(first) < len(ranks) or any(s["grad_dot_reference"] is None for s in first):
            return
        mean_dot = sum(s["grad_dot_reference"] for s in first) / len(first)
        if mean_dot <= 0:
            return
        k, n, tol = first[0]["grad_sq"] / mean_dot, len(ranks), self.opts["scale_tolerance"]
        if abs(k - 1) <= tol:
            return
        for factor, text in ((n, f"{n} times"), (1 / n, f"1/{n} of")):
            if abs(k - factor) <= tol * factor:
                yield self.finding("ND705", f"the averaged gradient is {text} the ranks' own gradients (k = {k:.3g} "
                                   f"on {n} ranks): the loss is scaled by the world size",
                                   {"k": k, "world_size": n}, where="loss")
                return
