"""The shared measurement mechanics that checks call (never copy): one home each.

- `batches`: reading and unpacking batches, moving them to the device, calling the model on them; how many
  samples a loader draws from and whether it reads in stored order; sparse tensors kept whole.
- `hooks`: forward hooks registered and removed in one place (`capture_forward`, `on_forward`, `leaf_modules`).
- `params`: parameters by name and by the modules that hold them; lists grouped by module; non-finite counts.
- `losses`: the loss families, the target value a loss ignores, the class axis, a loss called safely.
- `outputs`: the last operation that produced the model's output (through reshapes).
- `output_parts`: an output the loss takes whole (a VAE's (recon, mu, logvar)): its primary tensor, the structure
  with a candidate in its place, and the rows a loss scores (a loss over `output[idx_train]`).
- `loss_floor`: the lowest loss a batch allows, and how close outputs are to the targets.
- `train_eval_modes`: dropout off, BatchNorm statistics refreshed, eval-mode noise, output spread, sampling by
  design told from dropout masks.
- `input_dependence`: which inputs an output depends on (batch mixing, causal leaks), by backprop.
- `sequences`: whether the data is next-step prediction (targets = inputs shifted by one), from the data.
- `nonfinite_trace`: where NaN and Inf are born, in forward and in backward.
- `step_recorder`: what one call of a training step does (forwards, backwards, optimizer steps).
- `lr_warmup`: learning rates under a warm-up from zero.

The short training loop, the forward pass and the loss are `ctx.train`, `ctx.forward`, `ctx.loss`
(`nndoctor.engine.context`).
"""
