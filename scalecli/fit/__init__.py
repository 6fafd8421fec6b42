"""The fit stage: results.csv -> fit.json. Pure maths over NumPy and SciPy.

`laws` (the power and saturating forms) and `chinchilla` (the two-variable form) fit one
law each; `analysis` runs one form end to end (intervals, extrapolation check, band);
`rows` reads and filters the CSV; `driver` is the command and `summary` its printout.
Nothing here imports the sweep or report stages.
"""
