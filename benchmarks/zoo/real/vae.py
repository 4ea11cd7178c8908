"""A variational autoencoder the way the PyTorch examples write one (vae/main.py): a fully connected encoder
to (mu, logvar), `reparameterize` drawing eps with randn_like (in eval mode too: the example samples always),
a sigmoid decoder, and a loss over the whole output `(recon, mu, logvar)`: BCE(sum) + KLD, Adam at 1e-3.

Here the images are 8x8 (64 pixels in [0, 1]), the latent has 4 dimensions; the loader yields (images, labels) as
MNIST's does and the autoencoder's targets are the images themselves (`batch: {inputs: 0, targets: 0}`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..cases._common import images, loader
from ..registry import case

PIXELS, HIDDEN, LATENT = 64, 32, 4


class VAE(nn.Module):
    """fc1 -> (fc21, fc22) -> reparameterize -> fc3 -> fc4 -> sigmoid, as in the examples' VAE."""

    def __init__(self, sigmoid: bool = True, functional_dropout: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(PIXELS, HIDDEN)
        self.fc21 = nn.Linear(HIDDEN, LATENT)
        self.fc22 = nn.Linear(HIDDEN, LATENT)
        self.fc3 = nn.Linear(LATENT, HIDDEN)
        self.fc4 = nn.Linear(HIDDEN, PIXELS)
        self.sigmoid = sigmoid
        self.functional_dropout = functional_dropout

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        if self.functional_dropout:
            h1 = F.dropout(h1, self.functional_dropout)  # training defaults to True: on in eval mode too
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)  # sampled in every mode, as the example does
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        out = self.fc4(h3)
        return torch.sigmoid(out) if self.sigmoid else out

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, PIXELS))  # (B, 1, 8, 8) -> (B, 64)
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def vae_loss(outputs, x, kld_sign: float = -0.5):
    """Reconstruction (BCE summed over pixels and the batch) plus the KL divergence to N(0, I)."""
    recon, mu, logvar = outputs
    bce = F.binary_cross_entropy(recon, x.view(-1, PIXELS), reduction="sum")
    kld = kld_sign * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def unflattened_target_loss(outputs, x):
    """BCE against the images as the loader gives them, (B, 1, 8, 8), not flattened like the (B, 64) recon."""
    recon, mu, logvar = outputs
    bce = F.binary_cross_entropy(recon, x, reduction="sum")
    return bce - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


def flipped_kld_loss(outputs, x):
    """The KL term with its sign flipped: minimising it maximises the divergence, without bound."""
    return vae_loss(outputs, x, kld_sign=0.5)


def setup(seed: int, loss=vae_loss, **model_kwargs) -> dict:
    x, y = images(n=256, seed=seed)  # (N, 1, 8, 8) in [0, 1], labels unused by the VAE
    torch.manual_seed(0)
    net = VAE(**model_kwargs)
    return dict(model=net, data=loader(x, y, batch_size=32), loss=loss, batch={"inputs": 0, "targets": 0},
                optimizer=torch.optim.Adam(net.parameters(), lr=1e-3))


@case("vae-examples", "vae", "the PyTorch examples' VAE: (recon, mu, logvar), BCE(sum)+KLD, sampling in eval mode "
      "too, Adam 1e-3", healthy=True)
def _():
    return setup(1301)


# pytorch/examples#298 ("Reversed Sign?") and graviraja/pytorch-sample-codes#6: the KLD term's sign, flipped, makes
# the loss fall without bound (mu and logvar run off) while the reconstruction does not improve.
@case("vae-kld-sign-flipped", "vae", "KLD with its sign flipped: the loss falls without bound",
      expect=("ND502", "ND503"))
def _():
    return setup(1302, loss=flipped_kld_loss)


# nadavbh12/VQ-VAE#14 ("all elements of input should be between 0 and 1"): the decoder's last activation is not a
# sigmoid, and F.binary_cross_entropy gets values outside [0, 1].
@case("vae-bce-without-sigmoid", "vae", "the decoder returns fc4(h) without a sigmoid into F.binary_cross_entropy",
      expect=("ND203",))
def _():
    return setup(1303, sigmoid=False)


# Coderx7/SimpleNet#2 and deepchem/deepchem#5094: F.dropout(x, p) without training=self.training stays on in eval
# mode. The model also samples in eval mode by design, which is not the bug.
@case("vae-functional-dropout", "vae", "F.dropout in the encoder without training=self.training, beside the "
      "by-design sampling", expect=("ND307",))
def _():
    return setup(1304, functional_dropout=0.3)


# pytorch/examples#220 ("Using a target size (torch.Size([16, 1, 28, 28])) that is different to the input size
# (torch.Size([16, 784]))") and pytorch/pytorch#19564: the images are not flattened like the reconstruction.
@case("vae-target-not-flattened", "vae", "BCE of the (B, 64) reconstruction against the (B, 1, 8, 8) images",
      expect=("ND308", "ND204"))
def _():
    return setup(1305, loss=unflattened_target_loss)
