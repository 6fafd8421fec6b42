"""Fit forms: one object per scaling law (`base.Form`), one module per form, all listed
in `registry`. Ask the registry (`registry.get(name)`, `registry.ladder_forms()`), never
compare a form's name."""

from scalecli.fit.forms import registry
from scalecli.fit.forms.base import ComputeForm, Form, LawForm

__all__ = ["ComputeForm", "Form", "LawForm", "registry"]
