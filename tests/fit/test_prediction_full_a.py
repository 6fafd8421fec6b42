"""One new run's seed noise on the bootstrap predictions (`prediction.with_noise`), checked
against the normal distribution it is drawn from: every prediction gets its own draw,
whatever the shape of the array, a lone prediction (one draw at one point) included."""

from __future__ import annotations

import numpy as np
import pytest

from scalecli.fit import prediction

SD = 0.03
REPS = 4000


@pytest.mark.parametrize("shape", [(1, 1), (1, 3), (3, 1)])
def test_every_prediction_gets_one_runs_seed_noise_a_single_one_included(shape) -> None:
    base = np.full(shape, 4.2)
    rng = np.random.default_rng(7)
    got = np.stack([prediction.with_noise(base, SD, rng) for _ in range(REPS)])
    assert got.shape == (REPS, *shape)
    assert np.all(base == 4.2)  # the bootstrap predictions themselves are left as they were
    noise = (got - 4.2).reshape(REPS, -1)
    # each entry ~ N(0, SD^2): its mean within 4 standard errors (SD / sqrt(REPS)) of 0,
    # its sd within 10% of SD (the sample sd's relative standard error is 1/sqrt(2 REPS),
    # 1.1%), and the entries of one draw independent (a shared shift would correlate them)
    assert np.all(np.abs(noise.mean(axis=0)) < 4 * SD / np.sqrt(REPS))
    np.testing.assert_allclose(noise.std(axis=0, ddof=1), SD, rtol=0.1)
    if noise.shape[1] > 1:
        corr = np.corrcoef(noise, rowvar=False)[np.triu_indices(noise.shape[1], 1)]
        assert np.all(np.abs(corr) < 0.1)

