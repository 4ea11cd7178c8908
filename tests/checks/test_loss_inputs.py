"""loss-inputs: ND202-ND205 fire on miswired losses and stay silent on the right pairings."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import nndoctor

from conftest import assert_silent, codes, make_classification, run_example as run_config_example


CHECK = "loss-inputs"


def diagnose(model, data, loss, **kw):
    return nndoctor.diagnose(model, data, loss, select=kw.pop("select", [CHECK]), device="cpu", **kw)


def loader(x, y, batch_size=32):
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(0))


def net(*tail, features=8, out=3):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(features, 32), nn.ReLU(), nn.Linear(32, out), *tail)


def binary(n=256, positive=0.5, seed=0, column=True):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)  # (N, F)
    y = (torch.rand(n, 1, generator=g) < positive).float()  # (N, 1)
    return loader(x, y if column else y[:, 0])


def regression(n=256, seed=0, column=True, offset=0.0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)  # (N, F)
    y = x @ torch.randn(8, 1, generator=g) + offset  # (N, 1)
    return loader(x, y if column else y[:, 0])


def severity(report, code):
    return [f.severity for f in report.findings if f.code == code]


# -- fires -------------------------------------------------------------------------------------------------------
def test_nd202_softmax_into_cross_entropy():
    report = diagnose(net(nn.Softmax(dim=1)), make_classification(), nn.CrossEntropyLoss())
    assert severity(report, "ND202") == ["error"]
    assert report.findings[0].evidence["loss_floor"] > 0.5  # ln(1 + 2/e) for 3 classes


def test_nd202_softmax_into_a_cross_entropy_function():
    def lm_style_loss(logits, y):
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))

    assert codes(diagnose(net(nn.Softmax(dim=-1)), make_classification(), lm_style_loss)) == ["ND202"]
    assert codes(diagnose(net(nn.Softmax(dim=1)), make_classification(), F.cross_entropy)) == ["ND202"]


def test_nd202_sigmoid_into_bce_with_logits():
    assert codes(diagnose(net(nn.Sigmoid(), out=1), binary(), nn.BCEWithLogitsLoss())) == ["ND202"]


def test_nd203_logits_into_nll():
    report = diagnose(net(), make_classification(), nn.NLLLoss())
    assert codes(report) == ["ND203"] and "raw logits" in report.findings[0].title


def test_nd203_probabilities_into_nll():
    report = diagnose(net(nn.Softmax(dim=1)), make_classification(), nn.NLLLoss())
    assert codes(report) == ["ND203"] and "probabilities" in report.findings[0].title


def test_nd203_logits_into_bce_ranks_above_the_crash_it_explains():
    report = diagnose(net(out=1), binary(), nn.BCELoss(), select=["loss-inputs", "forward-probe"])
    assert codes(report) == ["ND203", "ND308"]
    assert report.findings[1].explained_by == "ND203"


def test_nd204_mse_broadcast():
    report = diagnose(net(out=1), regression(column=False), nn.MSELoss())
    assert severity(report, "ND204") == ["error"]
    assert report.findings[0].evidence["broadcast_shape"] == [32, 32]


def test_nd204_hand_written_mse_broadcast():
    assert codes(diagnose(net(out=1), regression(column=False), lambda o, y: ((o - y) ** 2).mean())) == ["ND204"]


def test_nd204_bce_shapes_ranks_above_the_crash():
    report = diagnose(net(out=1), binary(column=False), nn.BCEWithLogitsLoss(),
                      select=["loss-inputs", "forward-probe"])
    assert codes(report) == ["ND204", "ND308"]


def test_nd205_relu_on_logits_is_an_error():
    report = diagnose(net(nn.ReLU()), make_classification(), nn.CrossEntropyLoss())
    assert severity(report, "ND205") == ["error"]
    assert report.findings[0].evidence["zero_share"] > 0.1


def test_nd205_functional_relu_on_logits():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.a, self.b = nn.Linear(8, 32), nn.Linear(32, 3)

        def forward(self, x):
            return F.relu(self.b(F.relu(self.a(x))))

    assert codes(diagnose(Net(), make_classification(), nn.CrossEntropyLoss())) == ["ND205"]


def test_nd205_sigmoid_before_cross_entropy_caps_the_loss():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 8, generator=g)
    y = torch.randint(0, 10, (256,), generator=g)
    report = diagnose(net(nn.Sigmoid(), out=10), loader(x, y), nn.CrossEntropyLoss())
    assert severity(report, "ND205") == ["error"]  # floor ln(1 + 9/e) = 1.46 > ln(10) / 2


def test_nd205_relu_regression_with_negative_targets():
    assert codes(diagnose(net(nn.ReLU(), out=1), regression(), nn.MSELoss())) == ["ND205"]


# -- silent ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model, loss", [
    (lambda: net(), nn.CrossEntropyLoss()),
    (lambda: net(), nn.CrossEntropyLoss(label_smoothing=0.1)),
    (lambda: net(), F.cross_entropy),
    (lambda: net(nn.LogSoftmax(dim=1)), nn.NLLLoss()),
    (lambda: net(nn.LogSoftmax(dim=1)), nn.CrossEntropyLoss()),  # log_softmax is idempotent: harmless
    (lambda: net(nn.Softmax(dim=1)), lambda p, y: F.nll_loss(torch.log(p + 1e-9), y)),  # probabilities, then log
], ids=["ce", "label-smoothing", "function-ce", "logsoftmax-nll", "logsoftmax-ce", "softmax-log-nll"])
def test_silent_on_right_class_pairings(model, loss):
    assert_silent(diagnose(model(), make_classification(), loss), CHECK, fail_on="info")


def test_silent_on_right_binary_pairings():
    assert_silent(diagnose(net(out=1), binary(), nn.BCEWithLogitsLoss()), CHECK, fail_on="info")
    assert_silent(diagnose(net(nn.Sigmoid(), out=1), binary(), nn.BCELoss()), CHECK, fail_on="info")


def test_silent_on_prior_matched_bias_with_majority_positives():
    model = net(out=1)
    nn.init.zeros_(model[2].weight)
    nn.init.constant_(model[2].bias, 1.2)  # log-odds of 77% positives: every logit lies in (0, 1)
    assert_silent(diagnose(model, binary(positive=0.77), nn.BCEWithLogitsLoss()), CHECK, fail_on="info")


def test_silent_on_regression_done_right():
    model = net(out=1)
    nn.init.constant_(model[2].bias, 50.0)  # a large target mean, and the bias initialised to it
    assert_silent(diagnose(model, regression(offset=50.0), nn.MSELoss()), CHECK, fail_on="info")
    squeeze = lambda o, y: F.mse_loss(o.squeeze(-1), y)  # noqa: E731 - the loss fixes the shapes itself
    assert_silent(diagnose(net(out=1), regression(column=False), squeeze), CHECK, fail_on="info")
    positive = DataLoader(TensorDataset(torch.randn(256, 8), torch.rand(256, 1)), batch_size=32)
    # Targets >= 0: a ReLU output is a choice there.
    assert_silent(diagnose(net(nn.ReLU(), out=1), positive, nn.MSELoss()), CHECK, fail_on="info")


# -- examples ----------------------------------------------------------------------------------------------------
def run_example(path):
    return run_config_example(path, quick=True)


@pytest.mark.parametrize("name, code", [("double_softmax", "ND202"), ("nll_without_log_softmax", "ND203"),
                                        ("bce_without_sigmoid", "ND203"), ("broadcast_mse", "ND204"),
                                        ("relu_logits", "ND205")])
def test_example_ranks_its_code_first(example_path, name, code):
    report = run_example(example_path(name))
    assert report.findings and report.findings[0].code == code, [f.code for f in report.findings]
    assert report.exit_code() == 1


# -- outputs the loss takes whole (a VAE), index-masked losses over sparse graphs (a GCN) ------------------------------
def zoo(family, **kw):
    """A setup of the second zoo (benchmarks/zoo/real): the PyTorch examples' VAE, pygcn's GCN."""
    from benchmarks.zoo.real import gcn, vae

    setup = {"vae": vae.setup, "gcn": gcn.setup}[family](seed=7, **kw)
    return {k: v for k, v in setup.items() if k != "optimizer"}


@pytest.mark.parametrize("family", ["vae", "gcn"])
def test_silent_on_a_vae_tuple_output_and_a_masked_nll_over_a_sparse_graph(family):
    assert_silent(diagnose(**zoo(family)), CHECK)


def test_nd203_bce_on_a_vae_reconstruction_without_sigmoid():
    report = diagnose(**zoo("vae", sigmoid=False))
    found = [f for f in report.findings if f.code == "ND203"]
    assert found and "vae_loss() (F.binary_cross_entropy)" in found[0].title
    assert found[0].evidence["output_part"] == [0]  # the reconstruction, of (recon, mu, logvar)


def test_nd203_nll_on_raw_scores_behind_an_index_mask():
    report = diagnose(**zoo("gcn", log_softmax=False))
    assert codes(report) == ["ND203"]
    assert "F.nll_loss" in report.findings[0].title
