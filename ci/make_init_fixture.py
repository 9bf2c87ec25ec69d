#!/usr/bin/env python3
"""Writes Fixtures/init_tiny_seed3.npz: the tiny preset's initial state at seed 3,
computed in NumPy from the documented scheme (ci/byol_arch.py), for the Swift test that
`byol init` reproduces it.

Run from the repository root:  python3 ci/make_init_fixture.py  (needs numpy).
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from byol_arch import PRESETS, init_state  # noqa: E402

state = init_state(PRESETS["tiny"], 3)
np.savez(os.path.join(os.path.dirname(__file__), "..", "Fixtures", "init_tiny_seed3.npz"), **state)
