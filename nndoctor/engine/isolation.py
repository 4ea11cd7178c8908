"""What keeps one check from affecting another or the user: every RNG seeded before each check and restored
after the run, and a time box that interrupts a check stuck inside one long call (the loops also call
`ctx.check_time()`, the cooperative path)."""
from __future__ import annotations

import random
import signal
import threading
from contextlib import contextmanager

import numpy as np
import torch

from ..common.isolation import TimeBoxExceeded


class RNGState:
    """Saves and restores every RNG a check might draw from."""

    def __init__(self) -> None:
        self.torch = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        self.numpy = np.random.get_state()
        self.random = random.getstate()

    @staticmethod
    def seed(seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)

    def restore(self) -> None:
        torch.set_rng_state(self.torch)
        if self.cuda is not None:
            torch.cuda.set_rng_state_all(self.cuda)
        np.random.set_state(self.numpy)
        random.setstate(self.random)


@contextmanager
def alarm(seconds: float):
    """Interrupt a check stuck inside one long call (cooperative ctx.check_time() covers the loops)."""
    usable = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    if not usable or seconds <= 0:
        yield
        return

    def handler(signum, frame):
        raise TimeBoxExceeded("time box exceeded")

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds + 1.0)  # a second of grace for the cooperative path
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


class Interrupts:
    """Tells Ctrl-C from the terminal (SIGINT) from a KeyboardInterrupt that the user's code raises itself: the
    runner and the capture of a script both install it."""

    def __init__(self) -> None:
        self.from_terminal = False

    @contextmanager
    def watching(self):
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            self.from_terminal = True
            raise KeyboardInterrupt

        old = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, old)
