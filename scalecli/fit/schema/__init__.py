"""fit.json as typed records: the versioned contract between `fit` and `report`.

`FitDoc` is the whole file (`document`); `fits` holds `LawFit` and `ApproachFit`
entries (`fits`); the tables and blocks beside them are in `blocks`; the three shapes
they share (`Estimate`, `Predicted`, `Diagnostic`) in `shapes`. Every record has
`to_dict()` and `from_dict()`, which round-trip exactly and reject a field the record
does not name (`record`). `upgrade` turns the layout before `schema_version` into this
one; `text` prints the numbers. Stdlib only: `report` imports this and nothing else of
`fit` but the form registry.
"""

from __future__ import annotations

from scalecli.fit.schema.blocks import (
    ApproachCheck,
    ApproachRef,
    ApproachRow,
    CombinedPrediction,
    ComputeCheck,
    ComputeRun,
    ExponentRow,
    PredictionBlock,
    PredictionPoint,
    Score,
    SeedNoise,
    SeedPoint,
    ValidationBlock,
    ValidationRun,
)
from scalecli.fit.schema.document import (
    SCHEMA_VERSION,
    FitDoc,
    parse,
    read,
    schema,
    to_json,
    version_problem,
)
from scalecli.fit.schema.fits import (
    ApproachDerived,
    ApproachFit,
    Band,
    BudgetSlice,
    BySize,
    EnvelopePoint,
    Extrapolation,
    Fit,
    LawDerived,
    LawFit,
    LeaveOneOut,
    LeaveOneOutBudget,
)
from scalecli.fit.schema.record import Record, SchemaError
from scalecli.fit.schema.shapes import (
    INTERVAL_KINDS,
    PARAMETER,
    PREDICTION,
    Bootstrap,
    Diagnostic,
    Estimate,
    Predicted,
    PredictionRow,
    TokensPerParam,
)
from scalecli.fit.schema.upgrade import build, v0_to_v1

__all__ = [
    "INTERVAL_KINDS", "PARAMETER", "PREDICTION", "SCHEMA_VERSION",
    "ApproachCheck", "ApproachDerived", "ApproachFit", "ApproachRef", "ApproachRow", "Band",
    "Bootstrap", "BudgetSlice", "BySize", "CombinedPrediction", "ComputeCheck", "ComputeRun",
    "Diagnostic", "EnvelopePoint", "Estimate", "ExponentRow", "Extrapolation", "Fit", "FitDoc",
    "LawDerived", "LawFit", "LeaveOneOut", "LeaveOneOutBudget", "Predicted", "PredictionBlock",
    "PredictionPoint", "PredictionRow", "Record", "SchemaError", "Score", "SeedNoise",
    "SeedPoint", "TokensPerParam", "ValidationBlock", "ValidationRun", "build", "parse", "read",
    "schema", "to_json", "v0_to_v1", "version_problem",
]
