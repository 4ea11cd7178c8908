"""Loan default from a table of applicant columns. The injected mistake: the feature columns are chosen as
"every column except the id", so the label column `defaulted` stays among the (standardised) features."""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

COLUMNS = ("applicant_id", "income", "loan_amount", "credit_history_years", "open_accounts", "debt_ratio",
           "defaulted")
LABEL = "defaulted"


def make_table(n=2000, seed=0):
    g = torch.Generator().manual_seed(seed)
    income = 30 + 70 * torch.rand(n, generator=g)
    loan = 5 + 45 * torch.rand(n, generator=g)
    history = 20 * torch.rand(n, generator=g)
    accounts = torch.poisson(torch.full((n,), 4.0), generator=g)
    debt = loan / income
    score = 3 * debt - 0.1 * history + 0.1 * accounts - 0.8 + 0.5 * torch.randn(n, generator=g)
    defaulted = (score > 0).float()
    return torch.stack([torch.arange(n).float(), income, loan, history, accounts, debt, defaulted], dim=1)


def train_loader(batch_size=64):
    table = make_table()  # (N, 7)
    features = [i for i, c in enumerate(COLUMNS) if c != "applicant_id"]  # BUG: the label column is kept
    x = table[:, features]  # (N, 6)
    x = (x - x.mean(dim=0)) / x.std(dim=0)  # standardised, label column included
    y = table[:, COLUMNS.index(LABEL)].long()  # (N,)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)


def model(hidden=32):
    return nn.Sequential(nn.Linear(6, hidden), nn.ReLU(), nn.Linear(hidden, 2))
