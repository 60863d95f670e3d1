import random

import numpy as np
import torch

from loralab.train.determinism import (
    rng_state,
    seed_everything,
    set_rng_state,
)


def test_rng_state_round_trip():
    seed_everything(3)
    state = rng_state()
    a = (random.random(), np.random.rand(), torch.rand(3))
    set_rng_state(state)
    b = (random.random(), np.random.rand(), torch.rand(3))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])
