"""Approach 1 (the envelope): per FLOP budget the run with the lowest loss, on the lower
envelope of loss against C; then N_opt = k_N C^a over those runs (Hoffmann et al. 2022).
The maths is in `scalecli.fit.envelope`."""

from __future__ import annotations

from scalecli.fit.envelope import analyse_envelope
from scalecli.fit.forms.base import ComputeForm


class Envelope(ComputeForm):
    name = "envelope"
    title = "the envelope (approach 1)"
    formula = "N_opt = k_N C^a_opt,  D_opt = k_D C^b_opt   (N = {x}, C from the compute column)"
    doc = ("The final points of the runs; per budget the lowest loss, kept when below every "
           "smaller budget's; ln N and ln D against ln C by least squares. Its interval "
           "adds each point's seed noise (or the isoFLOP parabolas' residual noise) and "
           "takes the envelope again (Hoffmann et al. 2022, approach 1).")
    param_names = ("a_opt", "b_opt")
    approach = "1: envelope"
    directness = 3
    exponent_param = "a_opt"
    marker, colour = "v", "C3"

    def analyse(self, budgets, n_boot, seed, predict, reference, noise) -> dict:
        seed_sd, n_seeds = noise
        return analyse_envelope(budgets, n_boot, seed, predict, reference, seed_sd, n_seeds)


FORM = Envelope()
