"""Approach 2 (isoFLOP profiles): per FLOP budget a parabola of loss in ln N, its vertex
N_opt; then N_opt = k_N C^a over the budgets (Hoffmann et al. 2022). The maths is in
`scalecli.fit.isoflop`."""

from __future__ import annotations

from scalecli.fit.forms.base import ComputeForm
from scalecli.fit.isoflop import analyse_isoflop


class IsoFlop(ComputeForm):
    name = "isoflop"
    title = "isoFLOP profiles (approach 2)"
    formula = "N_opt = k_N C^a_opt,  D_opt = k_D C^b_opt   (N = {x}, C from the compute column)"
    doc = ("Per FLOP budget, a least-squares parabola of loss in ln N near its lowest point; "
           "its vertex is N_opt. ln N_opt and ln D_opt against ln C by least squares, each "
           "budget weighted by its vertex's precision; a budget whose sizes do not bracket "
           "its optimum is rejected with a reason. Bootstrap over runs within each budget "
           "(Hoffmann et al. 2022, approach 2).")
    param_names = ("a_opt", "b_opt")
    approach = "2: isoFLOP"
    directness = 1
    in_all = True
    exponent_param = "a_opt"
    marker, colour = "D", "C1"

    def analyse(self, budgets, n_boot, seed, predict, reference, noise) -> dict:
        return analyse_isoflop(budgets, n_boot, seed, predict, reference)


FORM = IsoFlop()
