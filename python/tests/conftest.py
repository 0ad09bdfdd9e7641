"""Shared helpers: where the CLI binary is, and a numpy ANP rule driving a port."""

import os
import pathlib

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def cli_binary():
    """The `npchip` binary of this checkout (built by `make python`), or NPCHIP_BIN."""
    path = pathlib.Path(os.environ.get("NPCHIP_BIN", REPO / "target" / "release" / "npchip"))
    if not path.is_file():
        pytest.fail(f"{path} not found: build it with `cargo build --release` (make python does)")
    return str(path)


@pytest.fixture(scope="session")
def digits():
    import npchip

    return npchip.load_data("digits", seed=1)
