"""A denoising autoencoder for 28x28 grey images (pixels in [0, 1]), an MLP through a 32-unit code.

The injected mistake: the reconstruction loss is MSELoss(reduction="sum"), copied from a VAE recipe, so the loss
and every gradient are summed over the 256 images of a batch and their 784 pixels (200,704 values) instead of
averaged: the gradients are hundreds of times the weights themselves, and the SGD learning rate that suits a mean
loss throws the weights far away on the first steps until the loss overflows. Everything else is healthy.
"""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

PIXELS = 28 * 28


def make_images(n=1024, seed=0):
    g = torch.Generator().manual_seed(seed)
    strokes = (torch.rand(16, PIXELS, generator=g) < 0.06).float()  # (16, P) a few sparse stroke masks
    uses = (torch.rand(n, 16, generator=g) < 0.2).float()  # (N, 16) about three strokes per image
    ink = 0.5 + 0.5 * torch.rand(n, 1, generator=g)  # (N, 1) how dark each image is drawn
    clean = (uses @ strokes).clamp(0, 1) * ink  # (N, P) pixels in [0, 1], mostly background, as in MNIST
    noisy = (clean + 0.2 * torch.randn(n, PIXELS, generator=g)).clamp(0, 1)
    return noisy, clean


def model(code=32, hidden=256):
    return nn.Sequential(nn.Linear(PIXELS, hidden), nn.ReLU(), nn.Linear(hidden, code), nn.ReLU(),
                         nn.Linear(code, hidden), nn.ReLU(), nn.Linear(hidden, PIXELS))


def train_loader(batch_size=256):
    noisy, clean = make_images()
    return DataLoader(TensorDataset(noisy, clean), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(0))
