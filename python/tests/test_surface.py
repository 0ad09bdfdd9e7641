"""The Python objects expose what a Rust rule gets through its port and nothing more: no
attribute or method returns a noise sample, a conductance, a weight or a stream state.

Every public name of Chip, Port and Trace is on an allow-list (a new method must be added
here, consciously), every method is called and its return type checked, and what comes back
is only measurements, datasheet constants, counters and energy."""

import numpy as np
import pytest

import npchip

PORT = {"forward", "loss", "update_layer", "decorrelate", "count_digital", "counters",
        "energy", "depth", "sizes", "n_units", "has_decorrelation", "activation", "injected",
        "weight_step", "oracle"}
TRACE = {"depth", "pre", "inputs", "output"}
CHIP = {"port", "oracle", "oracle_uses", "sizes", "counters", "energy", "advance_step",
        "evaluate", "end_epoch", "save"}
ORACLE = {"why", "weights", "bias", "decorrelator", "injected", "float_forward"}
FORBIDDEN = ("noise", "conduct", "weight", "stream", "seed", "state", "checkpoint",
             "telemetry", "restore", "rng", "chip", "_inner", "raw")


def public(obj):
    return {n for n in dir(obj) if not n.startswith("__")}


@pytest.fixture
def chip():
    return npchip.Chip("rram", [8, 6, 3], seed=3, inject="hidden:0.01", decorrelation="plain")


def test_public_names_are_the_allow_lists(chip):
    port = chip.port()
    trace = port.forward(np.zeros((4, 8), np.float32))
    assert public(port) == PORT
    assert public(trace) == TRACE
    assert public(chip) == CHIP
    assert public(chip.oracle("surface test")) == ORACLE
    for name in PORT | TRACE | CHIP:
        allowed = name in ("weight_step", "oracle", "oracle_uses")
        assert allowed or not any(f in name for f in FORBIDDEN), name
    # No instance dictionary to hang state on, and nothing settable from Python.
    for obj in (port, trace, chip):
        assert not hasattr(obj, "__dict__")
        with pytest.raises(AttributeError):
            obj.chip = None


def test_every_port_and_trace_method_returns_only_measurements(chip):
    port = chip.port()
    x = np.random.default_rng(0).random((5, 8), dtype=np.float32)
    y = np.array([0, 1, 2, 0, 1])
    t = port.forward(x, "noisy", "perturbation")
    assert isinstance(t, npchip.Trace) and t.depth == 2
    for l, (d, n) in enumerate([(8, 6), (6, 3)]):
        assert t.inputs(l).shape == (5, d) and t.inputs(l).dtype == np.float32
        assert t.pre(l).shape == (5, n) and t.pre(l).dtype == np.float32
        assert not t.pre(l).flags.writeable, "a measurement is read-only"
    assert t.output().shape == (5, 3)
    np.testing.assert_array_equal(t.output(), t.pre(1))
    # The views are of the trace's memory (no copy), and stay valid while held.
    assert t.pre(0).base is not None and np.shares_memory(t.pre(0), t.pre(0))
    assert np.shares_memory(t.output(), t.pre(1))
    out = t.output()
    del t
    assert np.isfinite(out).all()
    t = port.forward(x, "clean")
    loss = port.loss(t, y)
    assert loss.shape == (5,) and loss.dtype == np.float32 and (loss > 0).all()
    assert port.loss(t, y, "mse").shape == (5,)
    before = port.counters()
    assert port.update_layer(0, np.full((6, 8), 1e-2, np.float32), np.zeros(6, np.float32)) is None
    assert port.decorrelate(0, t.inputs(0)) is None
    assert port.count_digital(1, "update", 7) is None
    after = port.counters()
    assert after.shape == (2, 4, 14) and after.dtype == np.uint64
    assert after[1, 2, 8] - before[1, 2, 8] == 7, "count_digital priced 7 ops"
    assert after[0, 2, 5] + after[0, 2, 6] > before[0, 2, 5] + before[0, 2, 6], "pulses"
    assert after[0, 3].sum() > before[0, 3].sum(), "the decorrelator update was counted"
    e = port.energy()
    assert e.shape == (2, 4, 5) and e.dtype == np.float64 and e.sum() > 0
    assert port.depth == 2 and port.sizes == [8, 6, 3] and port.n_units == 9
    assert port.has_decorrelation is True
    assert port.activation == ("leaky_relu", pytest.approx(0.2))
    assert port.injected == ("hidden", pytest.approx(0.01))
    assert isinstance(port.weight_step(0), float) and port.weight_step(0) > 0
    assert chip.oracle_uses == [], "nothing above asked for an oracle"


def test_the_hidden_source_stays_hidden_even_from_the_oracle(chip):
    t = chip.port().forward(np.zeros((2, 8), np.float32), "noisy")
    with pytest.raises(PermissionError, match="not readable"):
        chip.oracle("try").injected(t)
    assert chip.oracle_uses == ["try"], "the attempt is recorded"


def test_the_oracle_refuses_another_chips_trace():
    a = npchip.Chip("ideal", [4, 3, 2], seed=1, inject="readable:0.1")
    b = npchip.Chip("ideal", [4, 3, 2], seed=1, inject="readable:0.1")
    t = a.port().forward(np.ones((2, 4), np.float32), "noisy")
    eps = a.oracle("np").injected(t)
    assert [e.shape for e in eps] == [(2, 3), (2, 2)] and np.abs(eps[0]).sum() > 0
    with pytest.raises(PermissionError, match="another chip"):
        b.oracle("np").injected(t)


def test_the_chip_methods_return_only_lab_values(chip, tmp_path):
    data = npchip.load_data("digits")
    assert chip.sizes == [8, 6, 3]
    assert chip.counters().shape == (2, 4, 14) and chip.energy().shape == (2, 4, 5)
    assert chip.advance_step() is None
    small = npchip.Chip("rram", [64, 5, 10], seed=1)
    loss, acc = small.evaluate(data["x_test"], data["y_test"])
    assert isinstance(loss, float) and 0 <= acc <= 1
    assert small.end_epoch(1.0, 0.1, 0) == 1
    assert small.save(str(tmp_path / "s.h5")) == str(tmp_path / "s.h5")
    o = chip.oracle("why")
    assert o.why == "why" and o.weights(0).shape == (6, 8) and o.bias(1).shape == (3,)
    assert o.decorrelator(0).shape == (8, 8)
    ft = o.float_forward(np.zeros((3, 8), np.float32))
    assert isinstance(ft, npchip.Trace) and ft.output().shape == (3, 3)


def test_bad_port_calls_raise_naming_the_argument(chip):
    port = chip.port()
    with pytest.raises(ValueError, match="x="):
        port.forward(np.zeros((2, 7), np.float32))
    with pytest.raises(ValueError, match="pass"):
        port.forward(np.zeros((2, 8), np.float32), "loud")
    with pytest.raises(ValueError, match="phase"):
        port.forward(np.zeros((2, 8), np.float32), "clean", "lunch")
    with pytest.raises(ValueError, match="dw="):
        port.update_layer(0, np.zeros((8, 6), np.float32), np.zeros(6, np.float32))
    with pytest.raises(ValueError, match="layer"):
        port.weight_step(5)
    t = port.forward(np.zeros((2, 8), np.float32))
    with pytest.raises(ValueError, match="labels"):
        port.loss(t, np.array([0, 7]))
    with pytest.raises(ValueError, match="end_epoch"):
        chip.end_epoch(0.0, 0.0, 0)
