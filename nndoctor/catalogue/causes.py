"""Which finding explains which: the causal rules, kept in one place.

One finding often explains another: unnormalised inputs (ND103) explain an initial loss far from chance
(ND201); a NaN born in a module's forward (ND306) explains a NaN loss (ND503). When both are present the
report sets `explained_by` on the effect and ranks the cause above it, so the first line is the root cause.

Each rule reads "CAUSE explains EFFECTS". Order inside a tuple does not matter. When several causes of one effect
are present, the one named is the nearest: the cause that none of the others leads to through it. Exploding
recurrence (ND305) explains exploding gradients (ND405), and both explain an update ratio far too high (ND407):
ND407 is explained by ND405, which is explained by ND305, so the report reads in causal order ND305, ND405,
ND407. (Naming the first cause in table order made ND407 wait only for ND305 and then pass ND405 on its
confidence.) Only among causes equally near does the table's order decide. The table has no cycle.

A rule stays only where one mistake makes both findings: every pair is shown, the cause ranked above the effect,
by a bug-zoo case (benchmarks/zoo/, `@case(..., shows=...)`), a sample loss log (examples/curves/) or a
many-rank example (examples/distributed/), and tests/test_ranking_causes.py holds the table to that. Pairs that
the checks' own logic keeps apart (overfit-one-batch reports one of ND501, ND502, ND503; activations are measured
upstream of the first NaN; a check that stops when another code fires) are not rules: they would never apply.
"""
from __future__ import annotations

EXPLAINS: dict[str, tuple[str, ...]] = {
    # Data and loader: bad data spoils everything downstream.
    "ND101": ("ND306", "ND406", "ND503", "ND201", "ND501", "ND304"),  # ND304: a sentinel fill saturates the units
    "ND104": ("ND503", "ND406"),  # ND406: a loss that masks NaN targets (nanmean) is finite, its gradient is not
    # ND303: constant inputs make each ReLU unit's input constant, so a unit is on for every sample or for none
    "ND102": ("ND301", "ND501", "ND110", "ND401", "ND303"),  # ND401: zero inputs give the first layer zero gradients
    "ND103": ("ND201", "ND304", "ND405", "ND407", "ND501", "ND502", "ND503", "ND306",
              "ND303", "ND110", "ND109"),  # ND109: unscaled inputs cripple the real-input copy, not the zeroed one
    "ND105": ("ND201", "ND501", "ND502", "ND503", "ND308", "ND306", "ND407",
              "ND405"),  # ND405: targets far off scale give gradients far above the weights
    "ND106": ("ND107", "ND109",
              "ND201"),  # ND201: batches sorted by label hold few classes, so the head looks wider than the task
    "ND108": ("ND106", "ND107", "ND201"),  # ND201: repeated samples hold fewer classes than the data
    # Loss wiring.
    "ND202": ("ND501", "ND407"),  # ND407: the second softmax divides the gradient by about the number of classes
    "ND203": ("ND201", "ND501", "ND502", "ND503", "ND306", "ND308"),  # ND308: BCELoss raises on logits
    "ND204": ("ND308",),  # ND308: BCE losses raise on (N, 1) against (N,)
    "ND205": ("ND501", "ND401", "ND303", "ND301"),
    # Model.
    "ND306": ("ND503",),
    "ND301": ("ND201", "ND501", "ND401", "ND404"),
    "ND303": ("ND301", "ND401", "ND404", "ND501"),
    "ND304": ("ND404", "ND501", "ND301", "ND201"),  # ND201: saturated units at +-1 feed huge logits
    # ND301: the signal vanished on the way; ND407: a weight's gradient scales with its input activations
    # ND109: activations that explode or vanish on the real inputs cripple the real-input copy, not the zeroed one
    # ND306: activations that grow layer after layer (or step after step) overflow to Inf downstream; the
    # activation statistics are measured upstream of the first non-finite output, so the NaN cannot explain them
    "ND305": ("ND404", "ND405", "ND201", "ND304", "ND303", "ND501", "ND301", "ND407", "ND109", "ND306"),
    "ND302": ("ND109",),  # ND109: a sample's output computed from other samples' inputs
    # Gradients and optimizer.
    "ND401": ("ND501",),
    "ND402": ("ND308",),  # ND308: with every parameter frozen, backward raises
    "ND403": ("ND501", "ND408"),  # ND408: the optimizer holds none of the parameters that get gradients
    # ND307: model.eval() does not reach modules held in a plain list or dict, so their dropout stays on and the
    # eval-mode outputs vary; ND109: a part no optimizer updates (blocks in a list, an embedding held as a plain
    # tensor) stays a fixed random map that the real-input copy must learn through, which is what the comparison
    # with the zeroed-input copy then measures
    "ND410": ("ND501", "ND307", "ND109"),
    "ND406": ("ND503", "ND408"),  # ND408: a GradScaler skips every step whose gradients are not finite
    "ND405": ("ND502", "ND503", "ND407"),
    "ND409": ("ND405", "ND502", "ND503"),  # piled-up gradients: steps that grow until NaN
    "ND408": ("ND501",),
    "ND407": ("ND501", "ND502", "ND503"),
    "ND404": ("ND501",),
    # Distributed training.
    "ND702": ("ND108",),  # an epoch that repeats its order repeats the batches read across it
    # Loss curves.
    "ND602": ("ND603", "ND605", "ND601"),
    "ND610": ("ND601",),
    "ND606": ("ND605",),
    "ND607": ("ND608",),
    "ND605": ("ND611",),  # swings only a few rows long are also spikes: the swing is the finding
}


def explaining_cause(effect: str, present: set[str]) -> str | None:
    """The nearest code among `present` that explains `effect` (see the module docstring), or None."""
    causes = [c for c, effects in EXPLAINS.items() if c != effect and c in present and effect in effects]
    # A cause that explains another present cause of the same effect is farther up the chain: it explains that
    # one, which explains the effect.
    nearest = [c for c in causes if not any(other in EXPLAINS[c] for other in causes if other != c)]
    return (nearest or causes or [None])[0]
