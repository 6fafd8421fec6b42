"""The sweep stage: a sweep file -> trained runs -> rows of results.csv.

`parse` and `validate` read the sweep file into the dataclasses of `spec`; `data` builds
the corpus and tokenizer; `model`, `train` and `evaluate` are one run; `checkpoint` and
`lock` keep it crash-safe; `local_executor` and `ray_executor` run the runs; `driver` is
the command, with `plan` (the dry run) and `records` (what a finished run writes).
"""
