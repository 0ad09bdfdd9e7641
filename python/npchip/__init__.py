"""npchip from Python.

Two ways in:

* :func:`train` runs one training of a built-in (Rust) rule exactly as ``npchip train`` does,
  with the same keyword names and defaults, and returns a :class:`TrainResult` of per-epoch
  numpy arrays and the HDF5 path.
* :class:`Chip` is the simulated hardware. ``chip.port()`` gives a learning rule written in
  numpy exactly what a Rust rule gets (forward passes returning measured activities and layer
  inputs, the loss, pulse-update requests, decorrelator updates, counters and energy) and
  nothing more; ``chip.oracle(why)`` is the recorded window inside for BP-like rules.

See docs/python.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np

from ._native import Chip, Oracle, Port, Trace, __version__, load_data
from . import _native

__all__ = [
    "Chip",
    "Port",
    "Trace",
    "Oracle",
    "TrainResult",
    "train",
    "train_defaults",
    "load_data",
    "COUNTER_NAMES",
    "ENERGY_KINDS",
    "LATENCY_KINDS",
    "PHASES",
    "__version__",
]

#: Last axis of ``counters`` arrays (as the HDF5 attribute ``counters``).
COUNTER_NAMES = (
    "vector_reads", "macs", "dac_conversions", "adc_conversions", "adc_saturations",
    "pulses_up", "pulses_down", "cells_written", "digital_ops", "program_requests",
)
#: Last axis of ``energy_pj`` arrays.
ENERGY_KINDS = ("mac", "dac", "adc", "write", "digital")
#: Last axis of ``latency_ns`` arrays.
LATENCY_KINDS = ("read", "program", "digital")
#: Third axis (phase) of counters, energy and latency arrays.
PHASES = ("inference", "perturbation", "update", "decorrelation")


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` returns: the file it wrote and its per-epoch arrays.

    Arrays are read back from the file, so they are the values the file holds: ``epoch``,
    ``train_loss``, ``train_acc``, ``test_loss``, ``test_acc``, ``samples``, ``skipped``,
    ``train_seconds``, ``epoch_seconds``, ``samples_per_second`` (E); ``counters`` and
    ``eval_counters`` (E × L × 4 × 10, :data:`COUNTER_NAMES`); ``energy_pj`` and
    ``eval_energy_pj`` (E × L × 4 × 5, :data:`ENERGY_KINDS`); ``latency_ns`` and
    ``eval_latency_ns`` (E × L × 4 × 3, only for chips with ``[timing]``);
    ``saturation_rate`` (E × L × 4); ``update_norm`` (E × L); ``alignment`` and
    ``decorrelation`` (E × L, with ``diagnostics=True``).
    """

    path: str
    status: str
    epochs_done: int
    sizes: List[int]
    oracle_uses: str
    arrays: Dict[str, np.ndarray] = field(repr=False)

    def __getattr__(self, name: str) -> np.ndarray:
        arrays = object.__getattribute__(self, "arrays")
        if name in arrays:
            return arrays[name]
        raise AttributeError(f"TrainResult has no array {name!r}; it has: {', '.join(sorted(arrays))}")


_META = ("path", "status", "epochs_done", "sizes", "oracle_uses")


def train(**settings: Any) -> TrainResult:
    """Runs ``npchip train`` with these settings (the flags' names, ``_`` for ``-``).

    Defaults are the CLI's (:func:`train_defaults`). A bad key or value raises ``ValueError``
    naming it. The GIL is released while training; Ctrl-C raises ``KeyboardInterrupt`` after
    the current batch, with the file closed and its run marked ``interrupted``.
    """
    raw = _native.train(**settings)
    meta = {k: raw.pop(k) for k in _META}
    return TrainResult(arrays=raw, **meta)


def train_defaults() -> Dict[str, Optional[str]]:
    """Every :func:`train` keyword and its default, as ``npchip train --help`` shows it."""
    return dict(_native.train_defaults())
