"""Every fit form by name: the one place that lists them.

Adding a form is one module beside this one (a `Form` subclass and its `FORM`) and one
line in BUILTIN. The CLI's --form choices, fit's loops, the diagnostics, the summary, the
report's figures and the generated reference all ask this registry, so that nothing else
learns a form's name.
"""

from __future__ import annotations

from scalecli.errors import ScaleError
from scalecli.fit.forms import chinchilla, envelope, isoflop, power, saturating
from scalecli.fit.forms.base import ComputeForm, Form, LawForm

# In the order fit.json, the summary and the report list them.
BUILTIN: tuple[Form, ...] = (
    power.FORM,
    saturating.FORM,
    chinchilla.FORM,
    isoflop.FORM,
    envelope.FORM,
)
# --form choices that name a group of forms, not one
ALL, COMPUTE = "all", "compute"

_FORMS: dict[str, Form] = {}


def register(form: Form) -> Form:
    """Add a form (a new name, not a group's); returns it, so a module can end with
    `FORM = register(MyForm())`."""
    if not form.name or form.name in (ALL, COMPUTE):
        raise ValueError(f"a form needs a name other than {ALL!r} and {COMPUTE!r}")
    if form.name in _FORMS and _FORMS[form.name] is not form:
        raise ValueError(f"a form named {form.name!r} is registered already")
    _FORMS[form.name] = form
    return form


def unregister(name: str) -> None:
    """Remove a form (tests that register their own)."""
    _FORMS.pop(name, None)


def get(name: str) -> Form:
    """The form called `name`; a ScaleError that lists the choices for an unknown one."""
    try:
        return _FORMS[name]
    except KeyError:
        raise ScaleError(f"--form {name!r} is unknown; use {', '.join(choices())}") from None


def find(name: str | None) -> Form | None:
    """The form called `name`, or None (a fit.json entry written by another version)."""
    return _FORMS.get(name or "")


def forms() -> tuple[Form, ...]:
    """Every registered form, in registration order."""
    return tuple(_FORMS.values())


def names() -> tuple[str, ...]:
    return tuple(_FORMS)


def choices() -> tuple[str, ...]:
    """--form's choices: each law form, `all`, each compute-only form and `compute`."""
    laws = [f.name for f in law_forms()]
    rest = [f.name for f in forms() if not f.law]
    return (*laws, ALL, *rest, COMPUTE)


def choices_help() -> str:
    """--form's help text, from the forms themselves."""
    budget = budget_forms()
    number = {f.name: f.approach.split(":")[0] for f in budget}
    laws = " | ".join(f.name for f in law_forms())
    approaches = " | ".join(f"{f.name} ({number[f.name]})" for f in budget)
    parametric = " and ".join(f.name for f in compute_forms() if isinstance(f, LawForm))
    return (f"{laws} | {ALL} (each form, and a table of every exponent the runs' design "
            f"supports), or the compute-optimal approaches: {approaches} | {COMPUTE} "
            f"({', '.join(number.values())} and {parametric} side by side). Each form's law "
            "and method: docs/reference/fit-forms.md.")


def default() -> LawForm:
    """The form a plain `fit` fits (power): its slope is the exponents table's."""
    return next(f for f in law_forms() if f.default)


def default_x(choice: str) -> str:
    """The x column of a --form choice as a whole (each form has its own, `Form.x`)."""
    if choice == ALL:
        return default().x
    if choice == COMPUTE:
        return compute_forms()[0].x
    return get(choice).x


def law_forms() -> tuple[LawForm, ...]:
    """Forms fitted point by point (`analysis.analyse`)."""
    return tuple(f for f in forms() if isinstance(f, LawForm))


def ladder_forms() -> tuple[LawForm, ...]:
    """Forms that predict y at a size from x alone: the combined prediction's."""
    return tuple(f for f in law_forms() if f.ladder)


def compute_forms() -> tuple[Form, ...]:
    """Forms that give N_opt(C): the approaches, in the approaches table's order."""
    return tuple(sorted((f for f in forms() if f.compute), key=lambda f: f.approach))


def by_directness() -> tuple[Form, ...]:
    """The compute forms, the one that reads N_opt most directly first (`Form.directness`)."""
    return tuple(sorted(compute_forms(), key=lambda f: f.directness))


def budget_forms() -> tuple[ComputeForm, ...]:
    """The compute forms fitted budget by budget (approaches 1 and 2)."""
    return tuple(f for f in compute_forms() if isinstance(f, ComputeForm))


def all_forms() -> tuple[Form, ...]:
    """What `fit --form all` fits: the law forms it names, then the budget forms it adds
    where the runs have FLOP budgets."""
    return tuple(f for f in (*law_forms(), *budget_forms()) if f.in_all)


def selected(choice: str) -> tuple[Form, ...]:
    """The forms one --form choice names: itself, `all`'s, or every approach (`compute`)."""
    if choice == ALL:
        return all_forms()
    if choice == COMPUTE:
        return compute_forms()
    return (get(choice),)


for _form in BUILTIN:
    register(_form)
