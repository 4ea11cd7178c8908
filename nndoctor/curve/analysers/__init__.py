"""The curve analysers, one per module, in the order they run and are reported.

Each module holds one `Analyser` (`..analyser`) whose docstring is its documentation: finite (ND602), trend (ND601,
ND603, ND609), late_start (ND604), oscillation (ND605), spikes (ND611), periodicity (ND606), generalisation (ND607,
ND608), schedule (ND610). A new analyser is a new module here and one entry in `ANALYSERS`.
"""
from __future__ import annotations

from ..analyser import Analyser
from .finite import Finite
from .generalisation import Generalisation
from .late_start import LateStart
from .oscillation import Oscillation
from .periodicity import Periodicity
from .schedule import Schedule
from .spikes import Spikes
from .trend import Trend

ANALYSERS: tuple[type[Analyser], ...] = (Finite, Trend, LateStart, Oscillation, Spikes, Periodicity,
                                          Generalisation, Schedule)

__all__ = ["ANALYSERS", "Finite", "Generalisation", "LateStart", "Oscillation", "Periodicity", "Schedule", "Spikes",
           "Trend"]
