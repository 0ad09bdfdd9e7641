"""The code in docs/python.md runs as written (in a scratch directory), and does what it says."""

import contextlib
import io
import os
import re

from conftest import REPO

DOC = (REPO / "docs" / "python.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", DOC, re.S)


def test_the_docs_examples_run_and_learn(tmp_path):
    assert len(BLOCKS) == 3, "train, a rule of your own, h5py"
    train, rule, read = BLOCKS
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        ns = {}
        exec(train, ns)
        assert ns["r"].status == "completed" and ns["r"].epochs_done == 10
        assert ns["r"].energy_pj.shape == (10, 2, 4, 5)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(rule, {})
        accs = [float(line.rsplit(",", 1)[1].strip(" )")) for line in printed.getvalue().splitlines()]
        assert len(accs) == 5 and accs[-1] >= 0.5, accs  # chance is 0.1
        with contextlib.redirect_stdout(io.StringIO()):
            exec(read, ns)
        assert ns["per_phase"].shape == (10, 4) and (ns["per_phase"][:, 0] > 0).all()
    finally:
        os.chdir(cwd)
