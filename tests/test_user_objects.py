"""No trace on the user's objects (loader generators, module hooks, the model itself), and one-line errors that
name the config key to set when the batch or the model's output cannot be mapped."""
from __future__ import annotations

import textwrap
import threading

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

import nndoctor
from nndoctor.api import run_config
from nndoctor import config as cfgmod
from nndoctor.config import ConfigError
from nndoctor.engine.context import Context
from nndoctor.engine.runner import prepare
from nndoctor.engine.subject import Subject, copy_module, optimizer_factory
from nndoctor.probes.batches import WiringError, read_batches, take_output, unpack

QUICK = dict(quick=True, select=["forward-probe", "overfit-one-batch", "gradient-flow"])


def data(n=64, features=8, classes=3):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, features, generator=g)  # (N, F)
    y = (x @ torch.randn(features, classes, generator=g)).argmax(1)  # (N,)
    return x, y


def mlp(features=8, classes=3):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(features, 16), nn.ReLU(), nn.Linear(16, classes))


def context(model, loader, loss=None, **subject):
    loss = loss if loss is not None else nn.CrossEntropyLoss()
    return Context(Subject(model=model, data=loader, loss=loss, optimizer=optimizer_factory(None), **subject))


def epoch(loader):
    """The order of one epoch: the first feature of every sample, batch by batch."""
    return [b[0][:, 0].tolist() for b in loader]


# -- 1. the loader's generators --------------------------------------------------------------------------------------
def shuffled_loaders():
    """Two identical loaders for each way of seeding the shuffle: DataLoader(generator=), and a sampler's own."""
    x, y = data()
    ds = TensorDataset(x, y)
    by_loader = [DataLoader(ds, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(7))
                 for _ in range(2)]
    by_sampler = [DataLoader(ds, batch_size=16, sampler=RandomSampler(ds, generator=torch.Generator().manual_seed(7)))
                  for _ in range(2)]
    return [by_loader, by_sampler]


@pytest.mark.parametrize("kind", [0, 1], ids=["loader-generator", "sampler-generator"])
def test_reading_batches_advances_the_generator_it_is_restored(kind):
    diagnosed, untouched = shuffled_loaders()[kind]
    read_batches(untouched, 2)  # what nndoctor does: without the restore this would change the next epoch
    expected = epoch(shuffled_loaders()[kind][1])
    assert epoch(untouched) == expected
    plain = shuffled_loaders()[kind][1]
    next(iter(plain))  # a plain read (not nndoctor's) does advance it: the test can fail
    assert epoch(plain) != expected
    nndoctor.diagnose(mlp(), diagnosed, nn.CrossEntropyLoss(), **QUICK)
    assert epoch(diagnosed) == expected


# -- 2. the user's hooks never fire on nndoctor's copies -------------------------------------------------------------
def hooked_model(calls: list):
    model = mlp()
    model.register_forward_hook(lambda m, i, o: calls.append("forward"))
    model[0].register_forward_pre_hook(lambda m, i: calls.append("pre"))
    model[2].register_full_backward_hook(lambda m, gi, go: calls.append("backward"))
    model._register_state_dict_hook(lambda m, sd, prefix, local: calls.append("state_dict"))
    return model


def test_user_hooks_never_fire_during_diagnose_and_stay_on_the_users_model():
    calls: list = []
    model = hooked_model(calls)
    x, y = data()
    report = nndoctor.diagnose(model, DataLoader(TensorDataset(x, y), batch_size=16), nn.CrossEntropyLoss(), **QUICK)
    assert [c.status for c in report.checks] == ["passed"] * 3
    assert calls == []
    model(x[:4]).sum().backward()  # the user's model still has its hooks
    assert calls == ["pre", "forward", "backward"]
    assert len(model._forward_hooks) == 1 and len(model[0]._forward_pre_hooks) == 1


def test_torch_and_model_own_hooks_are_kept_on_the_copy():
    """weight_norm's hook is part of the model; so is a hook that is a method of the model's own module."""

    class Features(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(8, 16), nn.ReLU())
            self.head = nn.Linear(16, 3)
            self.body[0].register_forward_hook(self._keep)  # collects the first layer's output for forward
            self.kept = None

        def _keep(self, module, inputs, output):
            self.kept = output

        def forward(self, x):
            return self.head(self.body(x)) + self.kept[:, :3]

    torch.manual_seed(0)
    model = Features()
    with pytest.warns(FutureWarning):
        torch.nn.utils.weight_norm(model.head)
    model.body.register_forward_hook(lambda m, i, o: pytest.fail("a user hook fired on a copy"))
    copy = copy_module(model)
    assert len(copy.head._forward_pre_hooks) == 1 and len(copy.body[0]._forward_hooks) == 1
    assert not copy.body._forward_hooks
    x = torch.randn(4, 8)
    with torch.no_grad():
        copy.head.weight_v.mul_(2)  # weight_norm recomputes weight from weight_g and weight_v: unchanged output
        out = copy(x)
    assert copy.kept is not None and model.kept is None  # the copy's method hook wrote into the copy
    model.body._forward_hooks.clear()
    assert torch.allclose(out, model(x))


def test_a_pruned_model_is_copied_and_its_pruning_kept():
    """torch's pruning holds `weight` as a tensor computed with autograd, which deepcopy refuses: copied detached."""
    import torch.nn.utils.prune as prune

    model = mlp()
    prune.l1_unstructured(model[0], "weight", amount=0.5)
    copy = copy_module(model)
    assert (copy[0].weight == 0).float().mean() == 0.5 and len(copy[0]._forward_pre_hooks) == 1
    x = torch.randn(4, 8)
    assert torch.equal(copy(x), model(x))


# -- 3. models that cannot be copied, and lazy modules ---------------------------------------------------------------
class Locked(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 3)
        self.lock = threading.Lock()

    def forward(self, x):
        return self.lin(x)


class Outer(nn.Module):
    def __init__(self, file):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(8, 3))
        self.encoder.logs = {"train": file}

    def forward(self, x):
        return self.encoder(x)


def loader():
    x, y = data()
    return DataLoader(TensorDataset(x, y), batch_size=16)


def test_a_model_holding_a_lock_is_a_one_line_value_error():
    with pytest.raises(ValueError) as info:
        nndoctor.diagnose(Locked(), loader(), nn.CrossEntropyLoss(), quick=True)
    assert str(info.value) == (
        "the model cannot be copied with copy.deepcopy: it holds a _thread.lock at attribute `lock`; nndoctor "
        "diagnoses copies and never your model: keep locks/files outside the module or implement __deepcopy__")


def test_the_path_of_a_nested_open_file_is_named(tmp_path):
    with open(tmp_path / "log.txt", "w") as fh:
        held = r"_io.TextIOWrapper \(an open file\) at attribute `encoder.logs\['train'\]`"
        with pytest.raises(ValueError, match=held):
            context(Outer(fh), loader())


MODULE = '''
import threading
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

class Locked(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 3)
        self.lock = threading.Lock()

    def forward(self, x):
        return self.lin(x)

def two_inputs():
    return TwoInputs()

class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(8, 3), nn.Linear(8, 3)

    def forward(self, x1, x2):
        return self.a(x1) + self.b(x2)

def triples():
    x1, x2 = torch.randn(64, 8), torch.randn(64, 8)
    return DataLoader(TensorDataset(x1, x2, torch.randint(0, 3, (64,))), batch_size=16)
'''


@pytest.fixture
def project(tmp_path):
    (tmp_path / "userobj_mod.py").write_text(MODULE)

    def write(text):
        p = tmp_path / "config.yaml"
        p.write_text(textwrap.dedent(text))
        return str(p)
    return write


def test_an_uncopyable_model_in_a_config_is_a_config_error_on_the_model_line(project):
    path = project("""
        data: userobj_mod:triples
        model: userobj_mod:Locked
        loss: torch.nn:CrossEntropyLoss
    """)
    with pytest.raises(ConfigError) as info:
        cfgmod.build(cfgmod.load(path))
    msg = str(info.value)
    assert msg.startswith(f"{path}:3: key 'model': the model cannot be copied with copy.deepcopy: it holds a "
                          "_thread.lock at attribute `lock`") and "\n" not in msg


def lazy_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.LazyLinear(16), nn.ReLU(), nn.LazyLinear(3))


def test_a_lazy_model_copy_is_materialised_from_the_first_batch_and_the_users_stays_lazy():
    model = lazy_model()
    ctx = context(model, loader())
    first, second = ctx.new_model(), ctx.new_model()
    assert not any(nn.parameter.is_lazy(p) for p in first.parameters())
    assert first[0].weight.shape == (16, 8) and torch.equal(first[0].weight, second[0].weight)
    assert ctx.parameter_count() == 8 * 16 + 16 + 16 * 3 + 3
    assert all(nn.parameter.is_lazy(p) for p in model.parameters())
    assert ctx.cost == {"grad_samples": 0, "nograd_samples": 0}  # the materialising pass is not a check's cost


def test_a_lazy_model_is_diagnosed():
    model = lazy_model()
    report = nndoctor.diagnose(model, loader(), nn.CrossEntropyLoss(), **QUICK)
    assert [c.status for c in report.checks] == ["passed"] * 3
    assert all(nn.parameter.is_lazy(p) for p in model.parameters())


# -- 4. several inputs -----------------------------------------------------------------------------------------------
def test_a_flat_triple_batch_takes_a_list_of_input_positions(project):
    path = project("""
        model: userobj_mod:two_inputs
        data: userobj_mod:triples
        loss: torch.nn:CrossEntropyLoss
        batch: {inputs: [0, 1], targets: 2}
    """)
    report = run_config(path, select=["forward-probe", "overfit-one-batch"], quick=True)
    assert [c.status for c in report.checks] == ["passed", "passed"]
    assert not report.findings


def test_unpack_list_of_positions_and_keys():
    a, b, c = torch.zeros(2, 1), torch.ones(2, 1), torch.tensor([0, 1])
    got = unpack((a, b, c), {"inputs": [0, 1]})  # targets default to the first free position
    assert got.inputs == (a, b) and got.targets is c
    got = unpack({"img": a, "mask": b, "cls": c}, {"inputs": ["img", "mask"], "targets": "cls"})
    assert got.inputs == {"img": a, "mask": b} and got.targets is c  # model(img=..., mask=...)
    got = unpack({"img": a, "cls": c}, {"inputs": "img", "targets": "cls"})
    assert got.inputs is a and got.targets is c  # model(img)
    assert unpack({"a": a, "b": b}, {"targets": None}).targets is None  # a loss that takes no targets


def test_a_dict_batch_with_a_list_of_keys_is_called_with_keywords():
    class Keywords(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(8, 3)

        def forward(self, *, img, mask):
            return self.lin(img * mask)

    x, y = data()
    batches = [{"img": x[i:i + 16], "mask": torch.ones(16, 8), "cls": y[i:i + 16]} for i in range(0, 64, 16)]
    report = nndoctor.diagnose(Keywords(), batches, nn.CrossEntropyLoss(), batch={"inputs": ["img", "mask"],
                               "targets": "cls"}, **QUICK)
    assert [c.status for c in report.checks] == ["passed"] * 3


@pytest.mark.parametrize("batch, ok", [("{inputs: [0, 1], targets: 2}", True), ("{inputs: img, targets: 0}", True),
                                       ("{targets: null}", True), ("{inputs: []}", False),
                                       ("{inputs: {a: 1}}", False), ("{inputs: [0, [1]]}", False),
                                       ("{targets: [1, 2]}", False), ("{inputs: true}", False)])
def test_batch_spec_validation(project, batch, ok):
    path = project(f"""
        model: userobj_mod:two_inputs
        data: userobj_mod:triples
        loss: torch.nn:CrossEntropyLoss
        batch: {batch}
    """)
    if ok:
        cfgmod.load(path)
        return
    with pytest.raises(ConfigError, match=r"config.yaml:5: key 'batch': `(inputs|targets)` must be"):
        cfgmod.load(path)


# -- 5. wiring errors that name the key ------------------------------------------------------------------------------
def wiring_error(fn, *args) -> WiringError:
    with pytest.raises(WiringError) as info:
        fn(*args)
    assert "\n" not in str(info.value) and isinstance(info.value, ValueError)
    return info.value


def test_take_output_errors_name_the_outputs_key():
    t = torch.zeros(2, 3)
    err = wiring_error(take_output, t, 5)
    assert err.key == "outputs" and str(err) == "`outputs: 5`: the model returns a Tensor, which has no item 5: " \
        "remove `outputs`"
    assert "has no attribute logits: remove `outputs`" in str(wiring_error(take_output, t, "logits"))
    err = wiring_error(take_output, {"out": t, "aux": t}, None)
    assert str(err) == "the model returns a dict with keys ['out', 'aux'] and no 'logits': set `outputs: out` in " \
        "the config (the one the loss takes)"
    assert "a tuple of 2 items (Tensor, Tensor), which has no item 2: set `outputs: 0`" in \
        str(wiring_error(take_output, (t, t), 2))
    assert "a tuple of 2 items (Tensor, int), not a tensor: set `outputs: 0`" in \
        str(wiring_error(take_output, (t, 1), None))
    assert take_output((t, 1), None, need_tensor=False) == (t, 1)  # a loss of the user's own may take a tuple
    assert take_output({"out": t, "logits": t + 1}, None)[0, 0] == 1 and take_output((t, t + 1), "1")[0, 0] == 1


def test_unpack_errors_name_the_batch_key():
    x, y = torch.zeros(2, 4), torch.tensor([0, 1])
    err = wiring_error(unpack, {"img": x, "cls": y}, {})
    assert err.key == "batch"
    assert str(err) == ("the batch is a dict with keys ['img', 'cls'] and none of targets/target/labels/label/y: "
                        "set `batch: {inputs: img, targets: cls}`")
    err = wiring_error(unpack, (x, y), {"inputs": [0, 1], "targets": 2})
    assert str(err) == ("`batch: {inputs: [0, 1], targets: 2}`: the batch is a tuple of 2 items (Tensor, Tensor), "
                        "which has no targets at 2: set `batch: {targets: ...}` to a position 0..1")
    assert "to one of its keys ['img', 'cls']" in str(wiring_error(unpack, {"img": x, "cls": y}, {"inputs": "image"}))


class DictOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 3)

    def forward(self, x):
        return {"out": self.lin(x), "aux": x.mean()}


def probe_error(model, batches, loss=None, **subject):
    ctx = context(model, batches, loss, **subject)
    prepare(ctx)
    return ctx.probe_error


def test_the_probe_reports_wiring_errors_the_runner_can_map_to_a_config_key():
    stage, exc = probe_error(DictOut(), loader())
    assert stage == "forward" and isinstance(exc, WiringError) and exc.key == "outputs"
    assert "set `outputs: out`" in str(exc)
    stage, exc = probe_error(mlp(), loader(), outputs=5)
    assert stage == "forward" and exc.key == "outputs" and str(exc).endswith("remove `outputs`")
    x, y = data()
    stage, exc = probe_error(mlp(), [{"img": x[:16], "cls": y[:16]}])
    assert stage == "data" and exc.key == "batch" and "set `batch: {inputs: img, targets: cls}`" in str(exc)
    assert probe_error(DictOut(), loader(), outputs="out") is None
    # the user's own loss gets the dict as it is: it may know what to take from it
    assert probe_error(DictOut(), loader(), lambda out, t: nn.functional.cross_entropy(out["out"], t)) is None


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_on_a_machine_without_it_is_a_value_error():
    with pytest.raises(ValueError) as info:
        nndoctor.diagnose(mlp(), loader(), nn.CrossEntropyLoss(), device="cuda")
    assert str(info.value) == "device 'cuda' asked for but CUDA is not available here; use device='auto' or 'cpu'"
