"""The model or the loss raises on a real batch.

What it catches: `forward()`, the loss or `backward()` raising on the first real batch: a shape or dtype mismatch
(Linear expecting 784 features given a (B, 1, 28, 28) image, float targets given to CrossEntropyLoss, a loss
that returns a non-scalar), or a data loader that fails while yielding a batch.

Why it matters: nothing else can be measured until one step runs (when forward fails, the checks that need the
model are `blocked`; when only backward does, the checks that train on the loss are); the exception is usually a
few frames deep in torch, and the line that matters is the user's own. This is always the top finding when it
fires.

How to fix it: read the user frame and the exception it names; print the shapes and dtypes of the batch and the
model output at that line (`print(x.shape, x.dtype)`), and make the model's first layer, its output and the
loss's expected target format agree.
"""
from __future__ import annotations

from nndoctor import Check
from nndoctor.common.errors import exception_line, user_frame


class ForwardProbe(Check):
    """A real batch through forward, loss and backward: ND308 when the user's code raises."""

    name = "forward-probe"
    codes = ("ND308",)
    cost = "low"
    order = 0  # runs first: when it fires, the checks that need a forward pass are skipped
    needs_model = False

    def run(self, ctx):
        if ctx.probe_error is None:
            stage, exc = self._backward(ctx)
            if stage == "backward":
                ctx.backward_error = exc  # the checks that train on this loss are blocked, not crashed
        else:
            stage, exc = ctx.probe_error
        if exc is None:
            return
        where = user_frame(exc)
        yield self.finding(
            "ND308", f"the {stage} step raises on a real batch: {exception_line(exc)}",
            {"stage": stage, "exception": exception_line(exc), "user_frame": where},
            where=where, confidence=1.0,
            fix=("Make the batch, the model and the loss agree: print the shapes and dtypes at the line shown "
                 "(the input layer's size, the output's shape, the target's dtype and range)."))

    @staticmethod
    def _backward(ctx):
        """forward and loss already ran in the runner's probe; here the loss must also backpropagate."""
        model = ctx.new_model(train=True)
        batch = ctx.batches(1)[0]
        try:
            _, loss = ctx.forward_loss(model, batch)
        except Exception as exc:  # e.g. fails only in train mode with grad enabled
            return "forward", exc
        try:
            if loss.dim() != 0:
                raise ValueError(f"the loss is not a scalar but has shape {tuple(loss.shape)}; "
                                 "reduce it (mean or sum) before backward")
            loss.backward()
        except Exception as exc:
            return "backward", exc
        return None, None
