"""A noisy–noisy ANP rule written here in numpy, driving the port of the rram chip with no
injected noise (the chip's own read noise is the only perturbation), learns the digits."""

import time

import h5py
import numpy as np

import npchip


class Adam:
    """Adam (β₁ 0.9, β₂ 0.999, ε 1e-8), bias-corrected, as the Rust optimiser."""

    def __init__(self, shapes, lr):
        self.lr, self.t = lr, 0
        self.m = [np.zeros(s, np.float32) for s in shapes]
        self.v = [np.zeros(s, np.float32) for s in shapes]

    def delta(self, i, g):
        m, v = self.m[i], self.v[i]
        m *= 0.9
        m += 0.1 * g
        v *= 0.999
        v += 0.001 * g * g
        step = self.lr * np.sqrt(1 - 0.999**self.t) / (1 - 0.9**self.t)
        return (-step * m / (np.sqrt(v) + 1e-8)).astype(np.float32)


def anp_nn_step(port, x, y, opt):
    """One step of noisy–noisy ANP: two noisy passes, δa = a⁽²⁾ − a⁽¹⁾, δℓ = ℓ⁽²⁾ − ℓ⁽¹⁾,
    g_W = N·(δℓ/‖δa‖²)·δa xᵀ per sample, averaged; Adam; pulses. Returns (loss, correct)."""
    first = port.forward(x, "noisy", "inference")
    l1 = port.loss(first, y)
    second = port.forward(x, "noisy", "perturbation")
    l2 = port.loss(second, y)
    depth, b = port.depth, x.shape[0]
    da = [second.pre(l) - first.pre(l) for l in range(depth)]
    norm2 = sum((d * d).sum(axis=1) for d in da)
    ok = norm2 > 0
    c = np.where(ok, port.n_units * (l2 - l1) / np.where(ok, norm2, 1), 0).astype(np.float32)
    opt.t += 1
    for l in range(depth):
        n, d = port.sizes[l + 1], port.sizes[l]
        u = da[l] * c[:, None]
        gw = (u.T @ first.inputs(l)) / b
        gb = u.mean(axis=0)
        port.count_digital(l, "update", (n + 2 * n * d) * b + 12 * (n * d + n))
        port.update_layer(l, opt.delta(2 * l, gw), opt.delta(2 * l + 1, gb))
    correct = int((first.output().argmax(axis=1) == y).sum())
    return float(l1.mean()), correct


def train_numpy_anp(digits, epochs, chip, batch=32, lr=3e-3, seed=1):
    port = chip.port()
    shapes = [s for w in zip(port.sizes[1:], port.sizes[:-1]) for s in (w, (w[0],))]
    opt = Adam(shapes, lr)
    x, y = digits["x_train"], digits["y_train"]
    rng = np.random.default_rng(seed)
    acc = []
    steps = len(y) // batch
    for _ in range(epochs):
        order = rng.permutation(len(y))
        t0, loss_sum, correct = time.perf_counter(), 0.0, 0
        for s in range(steps):
            idx = order[s * batch:(s + 1) * batch]
            loss, ok = anp_nn_step(port, np.ascontiguousarray(x[idx]), y[idx], opt)
            chip.advance_step()
            loss_sum += loss * batch
            correct += ok
        seconds = time.perf_counter() - t0
        test_loss, test_acc = chip.evaluate(digits["x_test"], digits["y_test"])
        chip.end_epoch(loss_sum / (steps * batch), correct / (steps * batch), steps * batch,
                       train_seconds=seconds)
        acc.append(test_acc)
    return acc, steps * batch * epochs


def test_numpy_anp_nn_learns_digits_on_rram(digits, tmp_path):
    chip = npchip.Chip("rram", [64, 100, 10], seed=1, inject="none")
    assert chip.port().injected == ("none", 0.0)
    acc, _ = train_numpy_anp(digits, epochs=10, chip=chip)
    # Chance is 10 %; the Rust anp-nn reaches ~90 % in 10 epochs with these settings.
    assert max(acc[-3:]) >= 0.80, acc
    assert chip.oracle_uses == [], "a physical rule leaves no oracle record"
    path = chip.save(str(tmp_path / "numpy-anp.h5"), data="digits", rule="numpy-anp-nn",
                     optimizer="adam", lr=3e-3, batch=32)
    with h5py.File(path, "r") as f:
        run = f["runs/run0"]
        assert run.attrs["rule"] == "python:numpy-anp-nn"
        assert run.attrs["status"] == "completed"
        assert not run.attrs["oracle"]
        assert run.attrs["epochs_done"] == 10
        np.testing.assert_array_equal(run["epochs/test_acc"][:], acc)
        assert run["epochs/epoch"][:].tolist() == list(range(1, 11))
        counters = run["epochs/counters"][:]
        assert counters.shape == (10, 2, 4, 14)
        pulses = counters[..., 5] + counters[..., 6]
        assert (pulses[:, :, 2] > 0).all(), "the update phase programmed pulses every epoch"
        assert (run["epochs/eval_counters"][:, :, 1:] == 0).all(), "evaluation is inference only"
        assert "checkpoint" not in run and "traces" not in run, "no conductances in the file"


def test_a_chip_that_handed_out_an_oracle_says_so_in_its_file(digits, tmp_path):
    chip = npchip.Chip("rram", [64, 16, 10], seed=2)
    w = chip.port().oracle("test: read weights").weights(0)
    assert w.shape == (16, 64) and np.isfinite(w).all()
    chip.evaluate(digits["x_test"], digits["y_test"])
    chip.end_epoch(0.0, 0.0, 0)
    path = chip.save(str(tmp_path / "oracle.h5"), data="digits", rule="peek")
    with h5py.File(path, "r") as f:
        run = f["runs/run0"]
        assert run.attrs["oracle"]
        assert "test: read weights" in run.attrs["oracle_uses"]
    # Even with no epoch logged, the record is in the file.
    chip2 = npchip.Chip("rram", [64, 16, 10], seed=2)
    chip2.oracle("bp: weights")
    path2 = chip2.save(str(tmp_path / "oracle0.h5"), data="digits", rule="peek")
    with h5py.File(path2, "r") as f:
        assert f["runs/run0"].attrs["oracle"]
        assert f["runs/run0"].attrs["oracle_uses"] == "bp: weights"
