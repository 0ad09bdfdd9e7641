"""`npchip.train`: the same run as the CLI, bad settings named, Ctrl-C leaves a readable file."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest

import npchip

# Wall-clock datasets differ between any two runs; everything else must be bit for bit equal.
WALL = {"train_seconds", "epoch_seconds", "samples_per_second"}


def test_train_is_bit_identical_to_the_cli(cli_binary, tmp_path):
    settings = dict(rule="danp-nn", hidden=[32, 16], epochs=3, batch=16, seed=7, lr=2e-3,
                    chip="pcm", set=["device.levels=64"])
    py = npchip.train(out=str(tmp_path / "py.h5"), **settings)
    assert py.status == "completed" and py.epochs_done == 3
    cli_out = tmp_path / "cli.h5"
    subprocess.run(
        [cli_binary, "train", "-q", "--rule", "danp-nn", "--hidden", "32,16", "--epochs", "3",
         "--batch", "16", "--seed", "7", "--lr", "2e-3", "--chip", "pcm",
         "--set", "device.levels=64", "--out", str(cli_out)],
        check=True, capture_output=True)
    with h5py.File(cli_out, "r") as f, h5py.File(py.path, "r") as g:
        ep = f["runs/run0/epochs"]
        compared = 0
        for name in ep:
            if name in WALL:
                continue
            cli = ep[name][:]
            np.testing.assert_array_equal(py.arrays[name], cli, err_msg=name)
            np.testing.assert_array_equal(g["runs/run0/epochs"][name][:], cli, err_msg=name)
            compared += 1
        assert compared >= 12, list(ep)
        for key in ["rule", "sizes", "lr", "seed", "chip_toml", "oracle"]:
            a, b = f["runs/run0"].attrs[key], g["runs/run0"].attrs[key]
            assert np.array_equal(a, b), key
    assert py.counters.shape == (3, 3, 4, 14)
    assert py.energy_pj.shape == (3, 3, 4, 5) and (py.energy_pj.sum(axis=(1, 2, 3)) > 0).all()
    assert py.test_acc.dtype == np.float64 and py.epoch.tolist() == [1, 2, 3]


def test_latency_of_a_blocked_decorrelator_is_the_files(tmp_path):
    # The file's latency_ns is written by the run; the Python arrays are re-priced from its
    # counters. A blocked R on small arrays prices differently from a full R, so a pricing
    # that ignored the layout (or used node counts for shapes) would differ here.
    py = npchip.train(out=str(tmp_path / "b.h5"), rule="danp-nn", hidden=[40], epochs=1,
                      batch=16, seed=3, chip="rram", decor_blocks="array",
                      set=["array.rows=16", "array.cols=16"], train_samples=64, test_samples=32)
    with h5py.File(py.path, "r") as f:
        ep = f["runs/run0/epochs"]
        for name in ["latency_ns", "eval_latency_ns"]:
            stored = ep[name][:]
            assert stored[..., 2].sum() > 0, name
            np.testing.assert_array_equal(py.arrays[name], stored, err_msg=name)


def test_defaults_are_the_clis(cli_binary):
    d = npchip.train_defaults()
    help_text = subprocess.run([cli_binary, "train", "--help"], check=True,
                               capture_output=True, text=True).stdout
    assert d["rule"] == "danp-nn" and d["chip"] == "rram" and d["epochs"] == "30"
    for key, value in d.items():
        assert "--" + key.replace("_", "-") in help_text, key
        if value is not None and key not in ("trace",):
            assert f"[default: {value}]" in help_text, (key, value)


@pytest.mark.parametrize("settings, key", [
    (dict(learning_rate=1e-3), "learning_rate"),
    (dict(lr=-1), "lr"),
    (dict(epochs=0), "epochs"),
    (dict(rule="sgd-magic"), "rule"),
    (dict(hidden=[10, 0]), "hidden"),
    (dict(inject="loud:3"), "inject"),
    (dict(decor_precision="fixed:8"), "decor_precision"),
    (dict(diagnostics="yes"), "diagnostics"),
    (dict(lr="fast", epochs=-3), "lr=fast(.|\n)*epochs=-3"),
])
def test_a_bad_setting_raises_naming_it(settings, key, tmp_path):
    with pytest.raises(ValueError, match=key):
        npchip.train(out=str(tmp_path / "x.h5"), **settings)
    assert not (tmp_path / "x.h5").exists(), "nothing is written for a refused run"


def test_resume_continues_the_file(tmp_path):
    out = str(tmp_path / "r.h5")
    first = npchip.train(out=out, epochs=2, hidden=[16], seed=4)
    again = npchip.train(resume=out, epochs=3)
    assert again.path == out and again.epochs_done == 3
    np.testing.assert_array_equal(again.test_acc[:2], first.test_acc)
    with pytest.raises(ValueError, match="seed"):
        npchip.train(resume=out, epochs=4, seed=5)


@pytest.mark.parametrize("kwargs, key", [
    (dict(model="rram-typo"), "model"),
    (dict(overrides=["device.levels=0"]), "overrides"),
    (dict(inject="loud"), "inject"),
    (dict(layers=[64]), "layers"),
    (dict(decorrelation="sideways"), "decorrelation=sideways"),
    (dict(leaky_slope=2.0), "leaky_slope"),
])
def test_a_bad_chip_setting_raises_naming_it(kwargs, key):
    with pytest.raises(ValueError, match=key):
        npchip.Chip(**kwargs)


CHILD = textwrap.dedent("""
    import sys, npchip
    print("training", flush=True)
    npchip.train(out=sys.argv[1], epochs=1000000, hidden=[200], batch=8, trace="none")
""")


def test_ctrl_c_raises_keyboard_interrupt_and_leaves_a_readable_file(tmp_path):
    out = tmp_path / "interrupted.h5"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(out)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        done = 0
        while time.monotonic() < deadline and done < 2:
            time.sleep(0.2)
            if out.exists():
                try:
                    with h5py.File(out, "r") as f:
                        done = int(f["runs/run0"].attrs["epochs_done"])
                except (OSError, KeyError):
                    pass  # between publishes; the next look sees a whole file
        assert done >= 2, "the child finished no epochs in a minute"
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    # An uncaught KeyboardInterrupt ends CPython (≥ 3.8) by re-raising SIGINT.
    assert child.returncode == -signal.SIGINT, err
    assert "KeyboardInterrupt" in err, err
    with h5py.File(out, "r") as f:
        run = f["runs/run0"]
        assert run.attrs["status"] == "interrupted"
        n = int(run.attrs["epochs_done"])
        assert n >= 2 and len(run["epochs/epoch"]) == n
        assert run["epochs/epoch"][:].tolist() == list(range(1, n + 1))
        assert int(run.attrs["interrupted_in_epoch"]) == n + 1


def test_the_gil_is_released_while_training(tmp_path):
    import threading

    done = threading.Event()
    ticks = 0

    def run():
        npchip.train(out=str(tmp_path / "gil.h5"), epochs=3, hidden=[100], batch=8, trace="none")
        done.set()

    worker = threading.Thread(target=run)
    worker.start()
    while not done.is_set() and worker.is_alive():
        ticks += 1  # only runs while the worker does not hold the GIL
    worker.join()
    assert done.is_set(), "training failed in the worker thread"
    # With the GIL held for the whole run this loop would stall at its first iteration.
    assert ticks > 10_000, ticks
