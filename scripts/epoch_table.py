#!/usr/bin/env python3
"""Per-epoch accuracy table of npchip result files, as Markdown (an h5py example of the schema in
docs/hdf5-schema.md).

    python3 scripts/epoch_table.py runs/*.h5 [--epochs 1,5,10,20]

One row per run: rule (* = oracle), chip, test accuracy at the chosen epochs, final train and
test accuracy, and the training wall time per epoch (minimum and median over epochs: the minimum
is the undisturbed figure on a shared machine).
"""
import argparse
import os
import statistics
import sys

import h5py


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--epochs", default="1,5,10,20", help="epochs whose test accuracy is shown")
    args = ap.parse_args()
    marks = [int(e) for e in args.epochs.split(",")]
    head = ["run", "rule", "chip"] + [f"test ep. {e}" for e in marks]
    head += ["final train", "final test", "s/epoch min", "s/epoch median"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for path in args.files:
        try:
            f = h5py.File(path, "r")
        except OSError as e:
            print(f"{path}: cannot open ({e}); a run still writing it holds a lock", file=sys.stderr)
            continue
        with f:
            for name, run in f["runs"].items():
                a = run.attrs
                e = run["epochs"]
                test, train, secs = e["test_acc"][:], e["train_acc"][:], e["train_seconds"][:]
                label = os.path.splitext(os.path.basename(path))[0]
                if len(f["runs"]) > 1:
                    label += "/" + name
                rule = text(a["rule"]) + ("*" if a.get("oracle", False) else "")
                chip = text(a.get("chip_name", a.get("chip.name", "?")))
                pct = lambda x: f"{100 * x:.2f} %"
                row = [label, rule, chip]
                row += [pct(test[m - 1]) if m <= len(test) else "-" for m in marks]
                if len(test):
                    row += [pct(train[-1]), pct(test[-1]), f"{min(secs):.1f}",
                            f"{statistics.median(secs):.1f}"]
                else:
                    row += ["-"] * 4
                print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
