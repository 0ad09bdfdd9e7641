"""Python-side overhead of a training step against the CLI, same run (samples/s).

1. `npchip.train` vs the `npchip` binary with the same settings: the training-loop rate the
   file records (`samples_per_second`, median over epochs) and the wall time of the call.
2. The numpy noisy–noisy ANP rule of python/tests driving the port vs the Rust `anp-nn` rule,
   same chip, network, batch and optimiser.

Each is the median of `--repeats` runs, alternating the two sides so drift hits both alike.
Usage: python3 python/bench/overhead.py [--repeats 3] [--epochs 10] [--hidden 100] [--bin target/release/npchip]
"""

import argparse
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

import npchip

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from test_numpy_rule import train_numpy_anp  # noqa: E402


def file_rate(path):
    with h5py.File(path, "r") as f:
        return float(np.median(f["runs/run0/epochs/samples_per_second"][:]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--hidden", type=int, default=100)
    ap.add_argument("--bin", default=str(HERE.parents[1] / "target" / "release" / "npchip"))
    a = ap.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp())
    flags = dict(rule="anp-nn", hidden=str(a.hidden), epochs=str(a.epochs), batch="32", seed="1",
                 trace="none")
    argv = [a.bin, "train", "-q", "--force"] + [x for k, v in flags.items() for x in (f"--{k}", v)]
    rows = {k: [] for k in ("cli_rate", "py_rate", "cli_wall", "py_wall", "numpy_rate")}
    digits = npchip.load_data("digits", seed=1)
    for r in range(a.repeats):
        out = tmp / f"cli{r}.h5"
        t0 = time.perf_counter()
        subprocess.run(argv + ["--out", str(out)], check=True, capture_output=True)
        rows["cli_wall"].append(time.perf_counter() - t0)
        rows["cli_rate"].append(file_rate(out))
        t0 = time.perf_counter()
        res = npchip.train(out=str(tmp / f"py{r}.h5"), force=True, **flags)
        rows["py_wall"].append(time.perf_counter() - t0)
        rows["py_rate"].append(float(np.median(res.samples_per_second)))
        chip = npchip.Chip("rram", [64, a.hidden, 10], seed=1)
        t0 = time.perf_counter()
        _, samples = train_numpy_anp(digits, a.epochs, chip)
        rows["numpy_rate"].append(samples / (time.perf_counter() - t0))
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"median of {a.repeats}; {a.epochs} epochs of digits, rram, 64-{a.hidden}-10, batch 32, anp-nn")
    print(f"CLI binary        {med['cli_rate']:10.0f} samples/s (training loop)   {med['cli_wall']:.2f} s wall")
    print(f"npchip.train      {med['py_rate']:10.0f} samples/s (training loop)   {med['py_wall']:.2f} s wall"
          f"   ratio {med['py_rate'] / med['cli_rate']:.2f}")
    print(f"numpy rule, port  {med['numpy_rate']:10.0f} samples/s (incl. evaluation) "
          f"ratio to Rust anp-nn {med['numpy_rate'] / med['cli_rate']:.2f}")
    for k, v in rows.items():
        print(f"  {k}: {', '.join(f'{x:.3g}' for x in v)}")


if __name__ == "__main__":
    main()
