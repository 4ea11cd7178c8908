"""The diagnosis codes: the public, stable catalogue (the README's catalogue table is tested against it).

A code names a diagnosis, not a check. Codes are never renumbered or reused: a new diagnosis takes a free
number in the right group. The hundreds follow causal order, root causes first, and the ranking uses that.
`severity` is the default; a check may lower or raise it with the evidence (a warning when the measurement
is borderline, an error when it is conclusive).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Code:
    code: str
    name: str
    meaning: str
    source: str
    severity: str
    why: str
    fix: str

    @property
    def group(self) -> int:
        """1 data, 2 loss wiring, 3 model, 4 gradients and optimizer, 5 training dynamics, 6 loss curves,
        7 distributed training."""
        return int(self.code[2])


GROUPS = {
    1: "data and loader",
    2: "loss wiring",
    3: "model",
    4: "gradients and optimizer",
    5: "training dynamics",
    6: "loss curves from training logs",
    7: "distributed training",
}

_CATALOGUE = [
    Code('ND101', 'non-finite-inputs', 'NaN or Inf in the input tensors',
         source='37R #37',
         severity='error',
         why="A single NaN or Inf in a batch propagates through every matmul it touches: the loss becomes "
             "NaN, backward writes NaN into every gradient, and one optimizer step corrupts all the weights "
             "for good. The usual sources are a missing value in a CSV, a division by a zero std during "
             "normalisation, or a log of zero in feature engineering.",
         fix="Find the offending samples with ~torch.isfinite(x) over the dataset and fix them at the "
             "source: impute or drop missing values, add an epsilon to normalisation denominators (std + "
             "1e-8), clamp before log. While debugging, assert torch.isfinite(x).all() in the Dataset or "
             "collate_fn."),
    Code('ND102', 'constant-inputs', 'inputs are all zero, or identical across the batch',
         source='37R #1',
         severity='error',
         why="If every input is zero or every sample in the batch is identical, the network has nothing to "
             "discriminate on: it learns only the bias that predicts the target mean or the majority class, "
             "and the loss curve looks plausible while the model is useless. This is almost always a loader "
             "bug: a wrong path yielding blank tensors, a mask multiplied in by mistake, a broadcast that "
             "copies sample 0 across the batch.",
         fix="Print or plot a couple of batches straight out of the DataLoader, compare them with the raw "
             "files, and check that x.std(dim=0) is not zero across the batch. Trace back through "
             "__getitem__, the transforms and collate_fn to where the values are lost (wrong index, "
             "in-place zeroing, a torch.zeros placeholder never filled)."),
    Code('ND103', 'unnormalized-inputs', 'input scale far from unit (raw 0-255 pixels, features in the thousands)',
         source='37R #12, #14',
         severity='warning',
         why="Inputs in the hundreds push pre-activations far outside the range the default initialisation "
             "assumes: units saturate, the first layer's gradients dominate, and the learning rate that "
             "suits the other layers is wrong for it.",
         fix="Normalise inputs to zero mean and unit variance with statistics computed on the training set, "
             "e.g. transforms.Normalize(mean, std) or (x - mean) / std; for images divide raw 0-255 pixels "
             "by 255 first. For a pretrained model use exactly the preprocessing it was trained with (e.g. "
             "the ImageNet mean and std)."),
    Code('ND104', 'non-finite-targets', 'NaN or Inf in the targets',
         source='37R #37',
         severity='error',
         why="A NaN or Inf target makes the loss NaN for the whole batch even when the model is fine, and "
             "backward then fills every gradient with NaN: with reduction='mean', one bad label is enough "
             "to poison a step and, through the optimizer, the weights. Missing labels encoded as NaN and "
             "targets computed with a log or a ratio are the usual culprits.",
         fix="Scan the targets with torch.isfinite(y) over the whole dataset and drop, impute or fix the "
             "bad rows before training; clamp or add an epsilon where targets come from a log or a "
             "division. If missing labels are legitimate, mask them out of the loss (loss[mask].mean(), "
             "reduction='none') or use ignore_index for classification."),
    Code('ND105', 'bad-targets',
         'targets out of range for the loss (class index >= C or < 0, BCE target outside [0,1]), wrong dtype, '
         'or regression targets on a scale that the output layer cannot reach',
         source='37R #6, #19; Recipe "init well"',
         severity='error',
         why="Class indices >= C or < 0 make CrossEntropyLoss fail with a cryptic device-side assert on "
             "CUDA (or index garbage in a custom loss), BCE targets outside [0, 1] make the loss unbounded "
             "below, and a wrong target dtype either raises or silently changes what the loss computes. "
             "Regression targets in the thousands against an output layer initialised near zero spend the "
             "first thousands of steps just growing the final bias, with huge gradients that distort every "
             "other layer.",
         fix="Check y.min(), y.max() and y.dtype against the loss: CrossEntropyLoss wants torch.long class "
             "indices in [0, C) (remap labels such as 1..C to 0..C-1), BCEWithLogitsLoss wants float "
             "targets in [0, 1]. Standardise regression targets ((y - mean) / std, inverted at prediction "
             "time) or initialise the final layer's bias to the target mean."),
    Code('ND106', 'single-class-batches', 'batches hold one or very few classes: data sorted by label and not shuffled',
         source='37R #7, #10',
         severity='warning',
         why="When the data is sorted by label and not shuffled, each batch drags the weights toward one "
             "class and the next toward another: the model predicts whatever it saw last, the loss swings "
             "with the class blocks, and BatchNorm statistics are computed over a single class. The run "
             "looks like it trains while the final weights mostly reflect the classes at the end of the "
             "epoch.",
         fix="Pass shuffle=True to the training DataLoader (or use a RandomSampler, or DistributedSampler "
             "with shuffle=True and set_epoch), and make sure inputs and labels are shuffled together, "
             "never separately. For iterable or sharded datasets, shuffle the shard order and use a shuffle "
             "buffer."),
    Code('ND107', 'class-imbalance', 'one class dominates the targets',
         source='37R #8',
         severity='warning',
         why="With one class at 95% of the targets, predicting it everywhere already gives 95% accuracy and "
             "a low loss, so the gradient from the rare classes is drowned out and the model may never "
             "learn them. Accuracy and the mean loss then hide the failure completely.",
         fix="Weight the loss by inverse class frequency (nn.CrossEntropyLoss(weight=w), "
             "BCEWithLogitsLoss(pos_weight=...)) or resample with torch.utils.data.WeightedRandomSampler; "
             "for a binary task also initialise the final bias to log(p / (1 - p)). Track per-class recall, "
             "F1 or AUROC instead of plain accuracy."),
    Code('ND108', 'repeated-batches', 'the loader yields the same batch again and again',
         source='37R #1',
         severity='warning',
         why="A loader that yields the same batch again and again lets the model memorise a handful of "
             "samples: the training loss drops to near zero while the model sees almost none of the data, "
             "and validation stays near chance. Typical causes are next(iter(loader)) inside the training "
             "loop, a __getitem__ that ignores idx, or a cached tensor returned every time.",
         fix="Iterate the loader once per epoch (for x, y in loader:) instead of calling next(iter(loader)) "
             "in each step, and check that __getitem__ actually uses idx. Confirm by comparing a few "
             "samples, or their hashes, across consecutive batches."),
    Code('ND109', 'uninformative-inputs',
         'the model learns as well from zeroed or random inputs as from the real ones: inputs and targets are '
         'not linked (shuffled apart, wrong pairing)',
         source='37R #2, #4, #5; Recipe "input-independent baseline"',
         severity='error',
         why="If the model does as well on zeroed or random inputs as on the real ones, it is learning only "
             "the target marginal (class priors, the mean), and the inputs carry no usable signal to it. "
             "That almost always means inputs and labels were decoupled somewhere (shuffled separately, "
             "joined on the wrong key, off by one after a filter), and no amount of tuning will help.",
         fix="Check a few (input, label) pairs by eye, and apply every shuffle, sort, split or filter to "
             "inputs and labels together: one index permutation (perm = torch.randperm(n); x, y = x[perm], "
             "y[perm]) or a single Dataset that returns both. Keep the zeroed-input baseline as a test: the "
             "loss on real inputs must beat it clearly."),
    Code('ND110', 'train-val-shift',
         'training and validation inputs are preprocessed differently (statistics far apart)',
         source='37R #15',
         severity='warning',
         why="When validation data goes through a different pipeline (other normalisation constants, a "
             "missing /255, statistics fitted on the full dataset or on the validation set itself), the "
             "model is evaluated on a distribution it never trained on. Validation loss is then off in a "
             "way that looks like over- or underfitting, and early stopping and model selection follow a "
             "meaningless signal.",
         fix="Fit preprocessing statistics (mean, std, vocabulary, scaler) on the training split only and "
             "apply the same frozen transform to validation and test: share one transforms.Normalize or "
             "fitted scaler between the datasets, with augmentation only on the training side. Compare "
             "per-feature mean and std of a training and a validation batch after preprocessing."),
    Code('ND111', 'target-leak',
         'the targets are a copy of the inputs (or of part of them): a sequence target not shifted, a label '
         'column left among the features',
         source='Recipe "become one with the data"',
         severity='warning',
         why="If the target is a copy of the input or of part of it, the model learns the identity "
             "shortcut: training and validation loss fall to almost zero, but nothing transfers to real "
             "data where the answer is not in the input. In language models it is a target sequence not "
             "shifted by one; in tabular data a label column, or one derived from it, left among the "
             "features.",
         fix="For next-token prediction use inputs = seq[:, :-1] and targets = seq[:, 1:]; for tabular data "
             "drop the label and every column derived from it from the feature matrix before building "
             "tensors. Check that no input feature matches or correlates perfectly with the target."),
    Code('ND201', 'initial-loss-off',
         'loss at initialisation far from chance level (-ln(1/C) for C classes, ln 2 for binary, target '
         'variance for MSE)',
         source='37R #17; Recipe "verify loss @ init"',
         severity='warning',
         why="At initialisation a healthy network is maximally uncertain, so the loss should sit at chance "
             "level: -ln(1/C) for C-way cross-entropy (2.30 for 10 classes), ln 2 = 0.693 for binary, about "
             "the target variance for MSE. Far above it means overconfident initial outputs and the first "
             "steps are wasted undoing them; far below it at step 0 points to a wrong loss, a wrong "
             "reduction, or leaked targets.",
         fix="Initialise the final layer small (nn.init.zeros_ or a scaled-down normal on its weight) and "
             "set its bias to the class-prior log-odds or the target mean, then check the loss on the first "
             "batch before training. If it is still off, check the loss function, its reduction, and the "
             "targets passed to it."),
    Code('ND202', 'double-softmax',
         'probabilities fed to a loss that applies its own softmax/sigmoid (softmax before CrossEntropyLoss, '
         'sigmoid before BCEWithLogitsLoss)',
         source='37R #19',
         severity='error',
         why="CrossEntropyLoss applies log_softmax itself and BCEWithLogitsLoss applies sigmoid, so feeding "
             "them probabilities squashes the logits into [0, 1]: the loss can never get near zero and its "
             "gradients shrink drastically as the model grows confident. Training stalls well above what "
             "the model could reach, and nothing raises an error.",
         fix="Return raw logits from forward and remove the final nn.Softmax or torch.sigmoid; apply "
             "softmax or sigmoid only at inference time when you need probabilities. Alternatively end the "
             "model with F.log_softmax and use NLLLoss, but never stack the two."),
    Code('ND203', 'loss-expects-probabilities',
         'raw logits fed to a loss that expects (log-)probabilities (NLLLoss without log_softmax, BCELoss '
         'without sigmoid)',
         source='37R #19',
         severity='error',
         why="NLLLoss just picks -input[target], so on raw logits it rewards pushing the true logit up "
             "without bound and the loss runs off toward minus infinity; BCELoss on values outside [0, 1] "
             "either raises or clamps the log and gives meaningless gradients. Either way the number you "
             "see is not a likelihood, and the model is not learning what you think.",
         fix="Use the fused losses on logits: nn.CrossEntropyLoss instead of NLLLoss, nn.BCEWithLogitsLoss "
             "instead of BCELoss; they are also numerically stable. If you must keep NLLLoss or BCELoss, "
             "apply F.log_softmax(logits, dim=1) or torch.sigmoid(logits) first."),
    Code('ND204', 'shape-broadcast',
         'output and target shapes differ and the loss broadcasts them ((N,1) vs (N,) in MSELoss)',
         source='37R #25',
         severity='error',
         why="MSELoss on an output of shape (N, 1) and a target of shape (N,) broadcasts to an (N, N) "
             "matrix and compares every prediction with every target, so the model is trained to predict "
             "the batch mean; PyTorch only emits a UserWarning and training goes on. The loss still falls a "
             "little, which makes the bug hard to spot.",
         fix="Make the shapes match exactly before the loss: output.squeeze(-1), target.unsqueeze(-1) or "
             "target.view_as(output). Add assert output.shape == target.shape in the training step, and "
             "consider warnings.simplefilter('error') while debugging."),
    Code('ND205', 'clipped-logits', 'a non-negative activation (ReLU) on the final logits',
         source='CS231n; seed on loss curves',
         severity='warning',
         why="A ReLU on the final layer makes every logit non-negative, so softmax cannot push wrong "
             "classes below the others, and every clipped logit gets zero gradient. Learning becomes slow "
             "and erratic, and if an output dies the model can never raise that class again (or, in "
             "regression, predict any negative value).",
         fix="End the model with a plain nn.Linear and no activation after it, and let the loss "
             "(CrossEntropyLoss, BCEWithLogitsLoss) do the squashing; in nn.Sequential, drop the trailing "
             "nn.ReLU(). For a bounded regression output use a suitable transform instead (e.g. softplus "
             "for positive targets)."),
    Code('ND301', 'output-ignores-input',
         'the output hardly changes when the input changes: a constant or dead network',
         source='37R #2',
         severity='error',
         why="If the output barely moves when the input changes, the network has collapsed to a constant: "
             "dead ReLUs, saturated units, a zeroed layer, or a forward path that never uses x. It then "
             "predicts the target mean or the majority class, the loss plateaus at a level that looks like "
             "learning something, and no optimizer setting fixes it.",
         fix="Compare model(x) with model(torch.randn_like(x)) and bisect layer by layer with forward hooks "
             "to find where the variation dies. Check that forward really uses its input (no overwritten "
             "variable, no leftover torch.zeros), and fix initialisation or activations in the layer where "
             "activations go constant."),
    Code('ND302', 'batch-mixing', "sample i's output depends on sample j's input (view instead of permute)",
         source='Recipe "backprop to chart dependencies"',
         severity='error',
         why="Reshaping with view or reshape where permute or transpose was needed (e.g. (N, C, L) to (N, "
             "L, C)) scrambles values across samples, so sample i's output depends on sample j's input. The "
             "model still trains, on mixed-up data, and its results depend on batch composition and batch "
             "size in ways that never generalise.",
         fix="Reorder dimensions with x.permute(...) or x.transpose(a, b), and keep view/reshape for "
             "merging or splitting adjacent dimensions only (call .contiguous() after permute if a view "
             "follows). Verify by backpropagating the loss of sample i alone and checking that x.grad is "
             "zero for every other sample."),
    Code('ND303', 'dead-units', 'most ReLU units never activate',
         source='37R #33',
         severity='warning',
         why="A ReLU unit whose pre-activation is negative for every input outputs zero and gets zero "
             "gradient, so it can never recover: it is dead capacity. When most units are dead the "
             "effective network is far smaller than the one you built, often because a learning-rate spike "
             "or a large negative bias knocked them out early.",
         fix="Lower the learning rate or add a warm-up, use He initialisation (nn.init.kaiming_normal_(w, "
             "nonlinearity='relu')) with zero biases, and normalise before the activation (BatchNorm or "
             "LayerNorm). If units still die, switch to LeakyReLU, GELU or ELU."),
    Code('ND304', 'saturated-activations', 'sigmoid/tanh units stuck at their limits',
         source='37R #33, #35',
         severity='warning',
         why="A sigmoid or tanh near its limits has a derivative near zero, so gradients stop flowing "
             "through those units and everything below them learns very slowly or not at all. Saturation "
             "usually comes from unnormalised inputs, weights initialised too large, or a learning rate "
             "that pushed pre-activations far out.",
         fix="Normalise the inputs, use Xavier initialisation for tanh/sigmoid layers "
             "(nn.init.xavier_uniform_(w, gain=nn.init.calculate_gain('tanh'))), and add LayerNorm or "
             "BatchNorm before the nonlinearity. In hidden layers prefer ReLU or GELU; keep a sigmoid only "
             "at the output, folded into the loss (BCEWithLogitsLoss)."),
    Code('ND305', 'activation-scale',
         'activation std grows or shrinks layer after layer at initialisation (outside about 0.5 to 2)',
         source='37R #28, #35',
         severity='warning',
         why="If each layer multiplies the activation std by a constant factor, the scale grows or shrinks "
             "geometrically with depth: a deep stack ends with outputs around 1e6 or 1e-6, the loss at init "
             "is far off, and gradients explode or vanish on the way back. A good initialisation keeps the "
             "std roughly constant, between about 0.5 and 2, from layer to layer.",
         fix="Use the initialisation that matches the nonlinearity: Kaiming for ReLU "
             "(nn.init.kaiming_normal_(w, nonlinearity='relu')), Xavier for tanh, sigmoid or linear layers, "
             "and never raw torch.randn weights without the 1/sqrt(fan_in) scaling. In deep or residual "
             "networks add normalisation layers and scale the last layer of each residual branch down, or "
             "to zero."),
    Code('ND306', 'non-finite-forward', "a module's forward output holds NaN or Inf; the first such module is named",
         source='37R #37',
         severity='error',
         why="Once a module's output holds NaN or Inf, every later layer, the loss and all gradients are "
             "contaminated, and one optimizer step writes NaN into the weights for good. The named module "
             "is where it first appears: typically a log or sqrt of a non-positive number, a division by "
             "zero, an exp overflow, or fp16 overflow past 65504.",
         fix="Inspect the named module's inputs and code: add epsilons (torch.log(x + 1e-8), x / (d + "
             "eps)), clamp before exp or log, and prefer stable fused ops (F.log_softmax, torch.logsumexp, "
             "BCEWithLogitsLoss) to their naive forms. Under mixed precision, switch autocast to bfloat16 "
             "or run that module in float32."),
    Code('ND307', 'train-eval-discrepancy',
         'eval-mode outputs differ sharply from train-mode outputs, or eval mode is not deterministic (stale '
         'BatchNorm statistics, dropout without `training=self.training`)',
         source='37R #32',
         severity='warning',
         why="In eval mode BatchNorm uses its running statistics and dropout is off; if those statistics "
             "are stale, come from tiny batches or from different data, eval outputs differ sharply from "
             "what the model was trained to produce and validation looks inexplicably bad. A forward that "
             "calls F.dropout(x, p) without training=self.training keeps dropping units in eval, so "
             "predictions are random and irreproducible.",
         fix="Use nn.Dropout modules, or pass training=self.training to F.dropout; call model.train() for "
             "training and model.eval() with torch.no_grad() for evaluation. For BatchNorm use larger "
             "batches (or GroupNorm or LayerNorm for small ones), give the running statistics enough "
             "training-mode steps, and check momentum and track_running_stats."),
    Code('ND308', 'forward-fails',
         "the model or the loss raises on a real batch (shape or dtype mismatch); the user's frame is shown",
         source='37R #25',
         severity='error',
         why="A model or loss that raises on a real batch means model and data disagree about shapes or "
             "dtypes (float64 inputs into float32 weights, int targets where long is expected, a Linear "
             "sized for another input length), and nothing else can be checked until it runs. The frame "
             "shown is where the mismatch surfaced in your code, which is not always where it originates.",
         fix="Compare the shapes and dtypes in the error with what the layer expects: convert inputs with "
             "x.float() and class targets with y.long(), move both to the model's device, and size layers "
             "to the real input (nn.LazyLinear, or the flattened size from a dummy forward). Give each "
             "dimension a distinctive size while debugging so a swapped axis shows up at once."),
    Code('ND309', 'causal-leak', 'in a sequence model, position t depends on inputs after t',
         source='Recipe "backprop to chart dependencies"',
         severity='error',
         why="If position t can see inputs after t, an autoregressive model learns to copy the future "
             "instead of predicting it: training loss falls suspiciously fast and low, and generation fails "
             "because the future is not there at inference time. Typical causes are a missing or inverted "
             "attention mask, a centred (non-causal) convolution, or a bidirectional RNN.",
         fix="Mask self-attention causally (F.scaled_dot_product_attention(q, k, v, is_causal=True), or "
             "attn_mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1) for "
             "nn.MultiheadAttention), pad convolutions on the left only, and use unidirectional RNNs. "
             "Verify by backpropagating from output t and checking that inputs after t get zero gradient."),
    Code('ND310', 'stuck-in-eval-mode',
         "the model trains in eval mode: the user's step or factory leaves `model.training` False, so dropout "
         "is off and BatchNorm statistics never update",
         source='37R #32',
         severity='error',
         why="With model.training False, dropout is disabled and BatchNorm normalises with running "
             "statistics that never update, so the model trains without its regularisation and against "
             "frozen, usually initial, statistics. Typically model.eval() was called for a validation pass "
             "and model.train() was never called again.",
         fix="Call model.train() at the start of every training epoch (and leave the model in train mode in "
             "the factory that builds it), and model.eval() only around evaluation, switching back "
             "afterwards. An assert model.training in the training step catches a regression."),
    Code('ND401', 'disconnected-params',
         'trainable parameters get no gradient (detach, unused module, no_grad in forward)',
         source='37R #23',
         severity='error',
         why="A parameter that never receives a gradient is never trained: it stays at its random initial "
             "value while the rest of the model works around it, silently wasting capacity or leaving a "
             "whole branch dead. The causes are a .detach() or a .item()/.numpy() round trip in forward, a "
             "torch.no_grad() block, a module built in __init__ but never called, or an output that never "
             "reaches the loss.",
         fix="After loss.backward(), list [n for n, p in model.named_parameters() if p.requires_grad and "
             "p.grad is None] and trace each name through forward: remove stray .detach(), no_grad blocks "
             "and NumPy round trips, and make sure the module's output feeds the loss. Delete modules that "
             "are really unused."),
    Code('ND402', 'frozen-params', 'parameters with requires_grad=False (info unless it is all of them)',
         source='37R #23',
         severity='info',
         why="Parameters with requires_grad=False are never updated; that is intended for a frozen backbone "
             "when fine-tuning, but if it happened by accident (a leftover freeze, a helper that set it) "
             "that part of the model learns nothing. If every parameter is frozen, the run only moves "
             "BatchNorm statistics and the loss barely changes.",
         fix="Check that the frozen set is the one you intend: [n for n, p in model.named_parameters() if "
             "not p.requires_grad]. Unfreeze with p.requires_grad_(True) or model.requires_grad_(True) "
             "before building the optimizer, and give it the trainable ones: torch.optim.AdamW(p for p in "
             "model.parameters() if p.requires_grad)."),
    Code('ND403', 'params-not-in-optimizer', 'trainable parameters that the optimizer does not update',
         source='37R #23',
         severity='error',
         why="Parameters that get gradients but belong to no optimizer param group are never stepped: they "
             "stay at initialisation while the loss suggests the whole model is training. This happens when "
             "the optimizer is built before a layer is added or replaced (a new head swapped in after "
             "torch.optim.SGD(model.parameters())), or when hand-built param groups miss some.",
         fix="Build the optimizer after the model is final, from model.parameters(), and check that the "
             "param groups cover every trainable parameter ({id(p) for g in opt.param_groups for p in "
             "g['params']}). For a module added later, call opt.add_param_group({'params': "
             "new_module.parameters()})."),
    Code('ND404', 'vanishing-gradients', 'gradients shrink by orders of magnitude toward the input layers',
         source='37R #35',
         severity='warning',
         why="When gradient norms shrink by orders of magnitude from the output toward the input, the early "
             "layers effectively stop learning: they keep their random features, and the network behaves "
             "like a shallow one stacked on noise. Saturating activations, too-small initialisation and "
             "deep stacks without normalisation or skip connections are the usual causes.",
         fix="Use ReLU or GELU rather than sigmoid or tanh in hidden layers, Kaiming initialisation, and "
             "normalisation layers (BatchNorm, LayerNorm); in deep networks add residual connections (x + "
             "f(x)), and for recurrent models use LSTM or GRU. Log per-layer p.grad.norm() to confirm the "
             "fix."),
    Code('ND405', 'exploding-gradients', 'gradient norms far above the weight norms, or growing step after step',
         source='37R #35',
         severity='warning',
         why="Gradient norms far above the weight norms mean a single step can move the weights by more "
             "than their own size, throwing the model into a bad region, killing ReLUs or saturating units, "
             "and often ending in NaN. Norms that grow step after step are the early sign of divergence, "
             "common in RNNs, in deep networks without normalisation, and with a learning rate too high.",
         fix="Clip the gradient norm before the step, torch.nn.utils.clip_grad_norm_(model.parameters(), "
             "max_norm=1.0), and lower the learning rate or add a warm-up. Then fix the root cause where "
             "you can: proper initialisation, normalisation layers, and inputs and targets at unit scale."),
    Code('ND406', 'non-finite-gradients', 'NaN or Inf in gradients; the first parameter or module is named',
         source='37R #37',
         severity='error',
         why="A NaN or Inf gradient makes the optimizer write NaN into the weights, after which every "
             "forward and loss is NaN; with Adam the moment estimates are poisoned too, so the run cannot "
             "recover without a checkpoint. The named parameter is where backward first produced it, "
             "typically through sqrt, log or division at zero, or fp16 overflow.",
         fix="Run one step under torch.autograd.set_detect_anomaly(True) to get the forward line whose "
             "backward produced the NaN, then make that op safe (sqrt(x + eps), clamp before log, a "
             "torch.where that masks the inputs and not just the output). Under fp16 use "
             "torch.amp.GradScaler, which skips non-finite steps, or bfloat16, and clip gradients."),
    Code('ND407', 'update-ratio',
         'update-to-weight ratio per step far from about 1e-3: learning rate too high or too low',
         source='37R #33, #36',
         severity='warning',
         why="The per-step ratio of update size to weight size, ||lr * update|| / ||w||, should be around "
             "1e-3: much larger and the weights are rewritten every step (the loss bounces or diverges), "
             "much smaller and the parameters barely move and training crawls. It is a direct, scale-free "
             "reading of whether the learning rate suits each layer.",
         fix="Move the learning rate toward the value that brings the ratio near 1e-3 (a ratio of 1e-1 "
             "suggests dividing it by about 100), in steps of 3-10x with a re-check, or run an LR range "
             "test. If only some layers are off, give them their own param group and lr, and check that "
             "weight decay is not dominating the update."),
    Code('ND408', 'weights-not-updating', 'an optimizer step leaves the weights unchanged',
         source='37R #23',
         severity='error',
         why="If an optimizer step leaves the weights unchanged, the loop only looks like training: the "
             "loss moves from batch to batch but the model never improves. Causes include optimizer.step() "
             "never called, lr of 0 (or a scheduler that drives it there at once), all-zero gradients, or "
             "an optimizer built over a different copy of the model than the one being trained (or before a layer "
             "was swapped in), or a GradScaler that skips every step because the gradients are NaN/Inf.",
         fix="Check the loop order optimizer.zero_grad(); loss.backward(); optimizer.step(), print "
             "optimizer.param_groups[0]['lr'], and build the optimizer after any deepcopy, checkpoint load "
             "or wrapping of the model so it holds the right parameters. Snapshot a weight before and after "
             "one step and compare with torch.equal."),
    Code('ND409', 'stale-gradients', 'gradients are not reset between steps (no `zero_grad`), so they pile up',
         source='37R #23',
         severity='error',
         why="PyTorch accumulates into .grad on every backward, so without zero_grad each step applies the "
             "sum of all gradients so far: the effective step grows with time, the direction follows old "
             "batches, and training soon oscillates or diverges. It is silent: the loss may fall for a "
             "while before blowing up.",
         fix="Call optimizer.zero_grad(set_to_none=True) once per step, before loss.backward(). If "
             "accumulation is intended, divide the loss by the number of accumulation steps and zero the "
             "gradients right after each optimizer.step()."),
    Code('ND410', 'unregistered-params',
         'tensors that receive gradients but are not parameters of the model (layers kept in a plain Python '
         'list or dict), so no optimizer sees them',
         source='37R #23',
         severity='error',
         why="Submodules held in a plain Python list or dict, or tensors stored as plain attributes, are "
             "invisible to model.parameters(): the optimizer never updates them, model.to(device) does not "
             "move them, and state_dict() does not save them. They still take part in forward and get "
             "gradients, which hides the problem while those layers stay random.",
         fix="Hold submodules in nn.ModuleList or nn.ModuleDict, wrap trainable tensors in nn.Parameter, "
             "and keep non-trainable state in self.register_buffer. Then rebuild the optimizer from "
             "model.parameters() and check the count with sum(p.numel() for p in model.parameters())."),
    Code('ND501', 'cannot-overfit-batch', 'a short run on one small batch does not drive its loss near zero',
         source='37R #27; Recipe "overfit one batch"',
         severity='error',
         why="Any model with reasonable capacity should drive the loss on one small batch close to zero "
             "within a few hundred steps; if it cannot, something in the pipeline is broken (loss wiring, "
             "gradient flow, optimizer, labels), and training on the full dataset only hides it behind "
             "noise. It is the cheapest strong test of an end-to-end training setup.",
         fix="Take one batch of 2-32 samples, turn off regularisation (dropout, weight decay, "
             "augmentation), and train on it repeatedly, e.g. with Adam at lr 1e-3; if the loss still "
             "stalls, work through the other findings first (loss wiring, disconnected or unregistered "
             "parameters, zero_grad). If the model is too small to memorise even that, increase its "
             "capacity."),
    Code('ND502', 'loss-diverges', 'the loss rises during a short run (learning rate too high, gradient ascent)',
         source='37R #36; CS231n',
         severity='error',
         why="A loss that rises during a short run means each step makes things worse: usually a learning "
             "rate beyond the stable range, so the optimizer overshoots and amplifies, or a sign error that "
             "performs gradient ascent (a negated loss, a custom update with the wrong sign). Left alone it "
             "ends in NaN, or in a region the model never leaves.",
         fix="Lower the learning rate by 3-10x, with a warm-up for Adam or large batches, and re-run; if "
             "the loss still rises at a tiny lr, check the sign of the loss and of any hand-written update "
             "(p -= lr * p.grad, maximize=False). Gradient clipping (clip_grad_norm_) tames occasional "
             "spikes."),
    Code('ND503', 'non-finite-loss', 'the loss becomes NaN or Inf during a short run',
         source='37R #37',
         severity='error',
         why="Once the loss is NaN or Inf, backward fills every gradient with NaN and the next step writes "
             "NaN into the weights: the run is dead from that point even if it keeps logging. Within a "
             "short run it usually means a numerically unsafe loss (log of 0, division by 0), fp16 "
             "overflow, or divergence from a learning rate far too high.",
         fix="Use stable losses on logits (CrossEntropyLoss, BCEWithLogitsLoss) rather than log(softmax) or "
             "log(sigmoid) by hand, add epsilons to custom losses, and lower the learning rate with "
             "gradient clipping. Locate the op with torch.autograd.set_detect_anomaly(True), and guard the "
             "loop with if not torch.isfinite(loss): stop or skip."),
    Code('ND601', 'curve-not-learning', 'the training loss stays flat from the start',
         source='CS231n; seed on loss curves',
         severity='error',
         why="A training loss flat from the very first step means the parameters are not moving usefully at "
             "all: a learning rate far too low (or zero), broken gradient flow, labels unlinked from "
             "inputs, or logits clipped by a ReLU. Training longer will not help: the curve is flat because "
             "nothing is being learned.",
         fix="Smooth the curve to confirm it is really flat, then raise the learning rate by factors of 10 "
             "or run an LR range test. If it stays flat, run nndoctor's checks on the model and data to "
             "find disconnected parameters, a missing optimizer.step(), or inputs unlinked from targets."),
    Code('ND602', 'curve-non-finite', 'the logged loss turns NaN or Inf (the step where it begins is named)',
         source='37R #37',
         severity='error',
         why="From the step where the logged loss turns NaN or Inf, the weights are almost certainly NaN "
             "too: everything logged after it is meaningless and checkpoints saved after it are unusable. A "
             "rising or spiky loss just before points to divergence; a jump from normal values points to a "
             "bad batch or a numerically unsafe op.",
         fix="Resume from a checkpoint before the named step with a lower learning rate, gradient clipping "
             "(clip_grad_norm_) and a warm-up; if it recurs on the same data, inspect that batch for NaN or "
             "Inf inputs and targets. Under fp16 use torch.amp.GradScaler or bfloat16, and replace "
             "hand-written log/softmax/sigmoid with stable fused losses."),
    Code('ND603', 'curve-diverges', 'the loss trends upward',
         source='CS231n ("gradient ascent")',
         severity='error',
         why="A loss that trends upward means the optimizer is making the model worse: the learning rate is "
             "past the stable range, the schedule raised it too far (a warm-up peak set too high), or the "
             "sign is wrong and the run does gradient ascent. Every step after the turn is wasted compute, "
             "and it usually ends in NaN.",
         fix="Restart from the best checkpoint with the learning rate 3-10x lower (and a warm-up if the "
             "rise starts after some steps), and add gradient clipping. If the loss rises from the very "
             "first step even at a small lr, check the sign of the loss and of the update."),
    Code('ND604', 'curve-late-start', 'a long plateau, then a sudden drop: initialisation too small, or bad data',
         source='CS231n; seed on loss curves',
         severity='warning',
         why="A long flat plateau followed by a sudden drop means the network spent much of the run stuck, "
             "usually because the initialisation was too small (signals and gradients near zero until "
             "symmetry breaks) or because bad or mislabelled data confused it. The run gets there in the "
             "end but wastes steps, and is fragile: another seed may never leave the plateau.",
         fix="Use the standard initialisation (Kaiming for ReLU, Xavier for tanh; PyTorch's defaults rather "
             "than torch.randn(...) * 0.01), add normalisation layers, and check the data for mislabelled "
             "or corrupt samples. A slightly higher learning rate after a short warm-up often shortens the "
             "plateau."),
    Code('ND605', 'curve-oscillates', 'swings too large for a converging run: learning rate too high, batch too small',
         source='37R #36',
         severity='warning',
         why="Loss swings far larger than a converging run shows mean that steps overshoot the minimum or "
             "that the gradient estimate is too noisy: the learning rate is too high for the curvature, or "
             "the batch is too small. The model ends wherever the last swing left it, often well above the "
             "loss it could reach.",
         fix="Lower the learning rate 2-10x or add a decay schedule (CosineAnnealingLR, ReduceLROnPlateau), "
             "and raise the batch size, or accumulate gradients, to cut gradient noise. Plot an exponential "
             "moving average of the loss to judge the trend underneath the noise."),
    Code('ND606', 'curve-epoch-sawtooth', 'a pattern that repeats every epoch: data not shuffled',
         source='seed on loss curves',
         severity='warning',
         why="A loss pattern that repeats every epoch means the model sees the data in the same order each "
             "time, usually sorted by class, source or length: it fits whichever slice it is on and forgets "
             "the previous ones, so the loss rises and falls with the position in the epoch. The final "
             "weights are biased toward the data at the end of the epoch.",
         fix="Set shuffle=True on the training DataLoader (with DistributedSampler, call "
             "sampler.set_epoch(epoch) every epoch so the order changes), shuffling inputs and labels "
             "together. For streaming or sharded data, shuffle the shard order each epoch and use a shuffle "
             "buffer."),
    Code('ND607', 'curve-overfitting',
         'training loss falls while validation loss rises; the step where the gap opens is named',
         source='37R #30; Recipe "regularize"',
         severity='warning',
         why="When training loss keeps falling while validation loss rises, the model is memorising the "
             "training set rather than learning what generalises, and every step past the named one makes "
             "it worse on new data. Training on only widens the gap, and keeping the last checkpoint picks "
             "a worse model than the one at the turn.",
         fix="Keep the checkpoint at the validation minimum (early stopping) and add regularisation: weight "
             "decay (AdamW's weight_decay), dropout, data augmentation, or a smaller model. More training "
             "data, when you can get it, is the most effective fix."),
    Code('ND608', 'curve-noisy-validation', 'validation noise far above training noise: validation set too small',
         source='seed on loss curves',
         severity='warning',
         why="When validation loss is much noisier than training loss, the validation set is too small to "
             "measure the model: differences between checkpoints are within its sampling noise, so early "
             "stopping, model selection and hyperparameter choices follow chance.",
         fix="Enlarge the validation split (about 20% of the data, stratified by class) and evaluate on all "
             "of it rather than on a few batches, averaging the loss over samples, not batches. If data is "
             "scarce, evaluate less often or use k-fold cross-validation."),
    Code('ND609', 'curve-still-improving', 'the loss was still falling clearly when the log ends: train longer (info)',
         source='37R #31',
         severity='info',
         why="If the loss is still falling clearly when the log ends, the run stopped before convergence: "
             "the model is undertrained and its metrics understate what this setup can reach. Comparisons "
             "with other runs, or a verdict that the model is not good enough, are premature.",
         fix="Train longer: resume from the last checkpoint with the optimizer and scheduler state, or "
             "rerun with more epochs and the schedule stretched to the new length (e.g. CosineAnnealingLR's "
             "T_max set to the total number of steps). Keep watching validation loss and stop when it "
             "levels off."),
    Code('ND610', 'curve-lr-decayed-early', 'the learning rate decays to near zero long before the loss settles',
         source='Recipe "don\'t trust learning rate decay defaults"',
         severity='warning',
         why="With the learning rate decayed to near zero while the loss is still falling, the optimizer "
             "can no longer make progress: the curve flattens because the steps became tiny, not because "
             "the model converged. Default schedules do this easily: StepLR with a small step_size, an "
             "aggressive ExponentialLR gamma, or a cosine T_max given in epochs but stepped every batch.",
         fix="Match the schedule to the run: set T_max or total_steps to the number of scheduler.step() "
             "calls actually made (per batch or per epoch), lengthen the decay or raise gamma, or use "
             "ReduceLROnPlateau so the rate drops only when the loss stalls. Log the learning rate next to "
             "the loss to check."),
    Code('ND611', 'curve-loss-spikes', 'the loss jumps to 1.5x its trend or more and back, far more often than '
         'noise would',
         source='37R #36; seed on loss curves',
         severity='warning',
         why="A loss that jumps to 1.5-2x its trend and comes straight back, again and again, means that some "
             "steps throw the model off: the learning rate is too high for the sharpest directions of the "
             "loss (Adam with too small an eps or beta2, or no warm-up), gradients are not clipped, fp16 "
             "overflows, or some samples have broken labels or inputs that give enormous losses. Each spike "
             "undoes part of the progress, and a run that spikes often is one large spike away from "
             "diverging.",
         fix="Clip gradients (torch.nn.utils.clip_grad_norm_(params, 1.0)), lower the learning rate or add a "
             "warm-up, and raise Adam's eps (1e-6 to 1e-8 is typical; 1e-3 for unstable runs). To find bad "
             "data, log the per-sample losses of a batch that spikes and inspect the largest. Under fp16 use "
             "torch.amp.GradScaler or bfloat16."),
    # -- ND7xx: distributed training (`nndoctor run --nproc N`, or under torchrun) ----------------------------------
    Code('ND701', 'same-data-every-rank',
         'every rank reads the same samples (no DistributedSampler or equivalent sharding)',
         source='DDP docs; pytorch#57776',
         severity='error',
         why="Data parallelism only helps when each rank sees a different part of the data. With a plain "
             "DataLoader on every rank (no DistributedSampler), each rank reads the whole data set: N ranks "
             "compute the same gradients N times, an epoch takes N times the work it should, and the effective "
             "batch is not what the learning rate was tuned for. Nothing fails: the run only trains slower.",
         fix="Give the DataLoader a torch.utils.data.DistributedSampler(dataset) (and shuffle=False on the "
             "loader itself: the sampler shuffles), or shard an IterableDataset by rank "
             "(torch.distributed.get_rank(), get_world_size()); call sampler.set_epoch(epoch) at the start of "
             "every epoch."),
    Code('ND702', 'epoch-order-repeats',
         'the distributed sampler yields the same order every epoch (`set_epoch` never called)',
         source='DistributedSampler docs',
         severity='warning',
         why="DistributedSampler shuffles with a seed derived from the epoch that set_epoch gives it. Without the "
             "call, every epoch sees the samples in the same order and with the same split across ranks, which "
             "hurts generalisation much as not shuffling does. From a config nndoctor does not run your epoch "
             "loop, so it sees this only where the loader itself crosses an epoch (an endless, step-based "
             "loader) or in script mode.",
         fix="Call loader.sampler.set_epoch(epoch) (or sampler.set_epoch) at the start of every epoch, before "
             "iterating the loader; in a step-based loop, whenever the loader is restarted."),
    Code('ND703', 'params-out-of-sync',
         'parameters or buffers differ across ranks at the start or after steps (no broadcast, FSDP without sync '
         'of module states, edits after wrapping)',
         source='DDP/FSDP docs',
         severity='error',
         why="Data parallel training assumes every rank holds the same model: gradients are averaged, so ranks "
             "that start apart stay apart and each rank trains its own model. DDP broadcasts rank 0's state when "
             "it is built, but weights loaded or changed on one rank after wrapping, a hand-written wrapper "
             "without the broadcast, or FSDP without sync_module_states leave the ranks out of sync.",
         fix="Build and load the model identically on every rank before wrapping it (load the checkpoint on "
             "every rank, or broadcast it), wrap once with DistributedDataParallel (it broadcasts rank 0's "
             "state), and change parameters only through the optimizer afterwards; a hand-written wrapper must "
             "broadcast the parameters and buffers from rank 0 (torch.distributed.broadcast)."),
    Code('ND704', 'grads-not-synced',
         'gradients differ across ranks after the step that should average them (`no_sync` around the wrong '
         'micro-step, a manual all-reduce missing)',
         source='DDP `no_sync` docs',
         severity='error',
         why="At optimizer.step() every rank should hold the same, averaged gradient. When the backward of the "
             "step runs under model.no_sync() (gradient accumulation with no_sync around the last micro-step "
             "instead of the others), or a hand-written wrapper skips its all-reduce, each rank steps with its "
             "own gradient and the replicas drift apart.",
         fix="With gradient accumulation, use no_sync() for every micro-step except the last one, whose backward "
             "then averages the accumulated gradients; in a hand-written wrapper, all-reduce every gradient "
             "(and divide by the world size) before optimizer.step()."),
    Code('ND705', 'loss-scaled-by-world-size',
         'the averaged gradient is about N or 1/N times the single-process gradient of the same global batch',
         source='DDP docs (gradients are averaged)',
         severity='error',
         why="DDP averages gradients across ranks, so the loss must not be scaled by the world size. Code that "
             "multiplies or divides the loss by world_size (or a hand-written all-reduce that sums without "
             "dividing) makes the step N times too large or too small, which is an effective learning rate "
             "that changes with the number of GPUs.",
         fix="Compute the loss as in single-process training (mean over the rank's batch) and let DDP average "
             "the gradients; remove the * world_size or / world_size, or divide a hand-written all-reduce SUM "
             "by the world size."),
    Code('ND706', 'unused-params-distributed',
         'parameters that get no gradient on some rank (the cause of DDP\'s "did not receive grad" errors and '
         'hangs), by name',
         source='DDP `find_unused_parameters` docs',
         severity='error',
         why="DDP all-reduces gradients in buckets as backward produces them; a parameter that gets no gradient "
             "on a rank (a branch not taken there, an auxiliary head used only sometimes) leaves its bucket "
             "waiting. DDP then raises \"Expected to have finished reduction in the prior iteration\" on the "
             "next step, or the ranks hang in mismatched all-reduces.",
         fix="Make every rank use every parameter in each forward, or wrap with "
             "DistributedDataParallel(model, find_unused_parameters=True) (slower: it walks the graph every "
             "step), or freeze (requires_grad=False) the parameters that are not trained."),
    Code('ND707', 'batchnorm-not-synced', 'BatchNorm layers left unsynchronised with small per-rank batches',
         source='SyncBatchNorm docs',
         severity='warning',
         why="Each rank's BatchNorm normalises with the statistics of its own batch. With a few samples per "
             "rank those statistics are noisy, training suffers, and the running statistics used in evaluation "
             "are poor; the global batch the learning rate was chosen for is not what BatchNorm sees.",
         fix="Convert the model with torch.nn.SyncBatchNorm.convert_sync_batchnorm(model) before wrapping it in "
             "DDP (NCCL, on GPUs), or raise the per-rank batch size, or use GroupNorm/LayerNorm, which do not "
             "depend on the batch."),
    Code('ND708', 'same-rng-every-rank', 'random augmentation or dropout streams identical across ranks',
         source='transformers#37932',
         severity='error',
         why="Each rank should draw its own random numbers: a factory that seeds every rank with the same number "
             "(set_seed(42) in the model or data code) makes dropout masks and random augmentations identical on "
             "every rank, so the ranks' samples are perturbed in lockstep and the regularisation that N ranks "
             "should give is that of one.",
         fix="Seed each rank differently after the model is built and wrapped, e.g. "
             "torch.manual_seed(seed + rank) (numpy and random too), or keep set_seed(seed) for the "
             "initialisation and reseed with the rank before training; DDP makes the initial weights equal "
             "anyway."),
    Code('ND709', 'ranks-diverge',
         'ranks call different collectives, or one rank stalls: the rank and the step are named, within a timeout '
         '(no hang)',
         source='TORCH_DISTRIBUTED_DEBUG docs',
         severity='error',
         why="Every rank must call the same collectives in the same order. A barrier or an all-reduce inside "
             "`if rank == 0:`, a rank that takes an extra step, or one that stalls leaves the others waiting "
             "inside NCCL or gloo; with the default 30-minute timeout, the job hangs without saying where.",
         fix="Make every rank call the same collectives: move a collective out of a rank-only branch (every rank "
             "all-reduces, rank 0 logs the result), give every rank the same number of steps, and set a short "
             "timeout with TORCH_DISTRIBUTED_DEBUG=INFO while debugging."),
    Code('ND710', 'uneven-batches',
         'ranks get different numbers of batches (the last, uneven step hangs or drops data)',
         source='DDP `join` docs',
         severity='error',
         why="In DDP every step is a collective: when one rank has more batches than another, the rank with the "
             "extra batch waits in an all-reduce that the others never join, and the job hangs at the end of "
             "the epoch (or the surplus data is silently dropped by drop_last code).",
         fix="Shard with DistributedSampler (it pads every rank to the same number of samples), or use "
             "drop_last=True, or wrap the loop in model.join() (torch.distributed.algorithms.Join) for uneven "
             "inputs."),
]

CODES: dict[str, Code] = {c.code: c for c in _CATALOGUE}
BY_NAME: dict[str, Code] = {c.name: c for c in _CATALOGUE}


def lookup(code_or_name: str) -> Code | None:
    """A code by number (`ND201`, case-insensitive) or by name (`initial-loss-off`)."""
    key = code_or_name.strip()
    return CODES.get(key.upper()) or BY_NAME.get(key.lower())
