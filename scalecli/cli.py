"""The command line: thin Typer commands over plain functions.

Each command parses its options and calls one importable function. Library code raises
`ScaleError` for anything the user can fix; only this module catches it, prints one red
line on stderr and exits non-zero, so a user's mistake never shows a traceback. Heavy
imports (torch, transformers, scipy) happen inside the commands, so `--help` is instant.
"""

from __future__ import annotations

import errno
import os
import re
import sys
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import Annotated

from scalecli.threads import thread_defaults

# One BLAS thread for numpy, and torch's threads quick to sleep on a busy machine, unless
# the user chose otherwise (scalecli/threads.py); before anything imports numpy or torch.
os.environ.update(thread_defaults(os.environ))

import typer
from rich.console import Console
from rich.markup import escape

from scalecli import __version__
from scalecli.errors import ScaleError
from scalecli.fit.forms import registry as _forms

app = typer.Typer(
    name="scalecli",
    help="Measure the scaling laws of GPT-2-style language models on your own data.\n\n"
    "init -> sweep.yaml -> sweep -> results.csv -> fit -> fit.json -> report",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Help is plain text: with rich markup, `pip install 'scalecli[ray]'` printed as
    # 'scalecli', since rich took [ray] for a style tag.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
err_console = Console(stderr=True, highlight=False)
_FIND = ("Default: the sweep that `scalecli sweep` last wrote under out/ (named in "
         "out/.last_sweep), else the only sweep folder under out/.")

EXIT_CODES = ("Exit codes: 0 ok; {one}2 bad input (a wrong option, file or value); "
              "130 interrupted (Ctrl-C).")


class Executor(str, Enum):
    local = "local"
    ray = "ray"


def _form(value: str) -> str:
    """fit's --form: a form registered by the time the command runs (`fit.forms.registry`,
    which loads numpy, not scipy, so --help stays fast), `all` or `compute`. Checked then,
    not when this module was imported, so that a form registered later is a choice."""
    choices = _forms.choices()
    if value not in choices:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(map(repr, choices))}.")
    return value


DEVICES = ("auto", "cpu", "cuda")


def _device(value: str) -> str:
    """--device: a choice like an Enum's, plus cuda:N (one GPU of several), which
    runtime.device also accepts and an Enum cannot list."""
    if value in DEVICES or re.fullmatch(r"cuda:\d+", value):
        return value
    raise typer.BadParameter(f"'{value}' is not one of {', '.join(DEVICES)}, cuda:N")
# Out of space, over quota, file too large, read-only file system, permission denied.
_WRITE_ERRORS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG,
                 errno.EROFS, errno.EACCES, errno.EPERM}


def _fail(error: ScaleError) -> typer.Exit:
    # The message quotes user and library text (paths, values, `pip install 'x[ray]'`):
    # escaped, so rich prints it as it is and never reads it as markup.
    err_console.print(f"[bold red]error:[/] {escape(str(error))}", soft_wrap=True)
    return typer.Exit(code=error.exit_code)


def _interrupted() -> typer.Exit:
    err_console.print("interrupted", style="yellow")
    return typer.Exit(code=130)


def _find_sweep(path: Path | None) -> Path:
    """The folder `fit` or `report` reads: `path`, or the last sweep under out/ (said on
    stderr, so that `fit --json` stdout stays JSON)."""
    if path is not None:
        return path
    from scalecli.locate import find_sweep

    folder, how = find_sweep()
    err_console.print(f"using {escape(str(folder))} ({escape(how)})", style="dim",
                      soft_wrap=True)
    return folder


def _version(value: bool) -> None:
    if value:
        print(f"scalecli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Measure the scaling laws of GPT-2-style language models on your own data."""


def _optimal_params(csv_path: Path, flops: list[float]) -> list[tuple[float, str]]:
    """The ladder's compute fit for `validate: {flops: ...}`: sweep/ may not import fit/,
    so the CLI hands it this."""
    from scalecli.fit.suggest import optimal_params

    return optimal_params(csv_path, flops)


@app.command(epilog=EXIT_CODES.format(one="1 a run failed or diverged; "))
def sweep(
    file: Annotated[
        Path | None,
        typer.Argument(help="Sweep YAML file. Default: the packaged sweeps/default.yaml."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output root; results go to OUT/NAME/. Default: out.")
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(help="The dataset (sets data.dataset): a file, a glob like 'texts/*.txt', "
                     "a folder of .txt/.jsonl/.parquet files, or a Hugging Face dataset id. "
                     "The sweep is then named FILE_NAME-DATA_NAME (unless --set name=...), "
                     "so its results get their own folder."),
    ] = None,
    sets: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="KEY=VALUE",
                     help="Set any sweep-file value, e.g. --set train.lr=3e-3 --set "
                     "models=[s1,s2]; repeatable, applied last, VALUE read as YAML and "
                     "checked like the file. The resolved file is saved as OUT/NAME/sweep.yaml."),
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(parser=_device, metavar="[auto|cpu|cuda|cuda:N]", help="Where to train."),
    ] = None,
    tokens: Annotated[
        str | None, typer.Option(help="Token budget per run, e.g. 2e6 or 1e6,4e6 for a grid.")
    ] = None,
    seeds: Annotated[str | None, typer.Option(help="Seeds, e.g. 0 or 0,1,2.")] = None,
    executor: Annotated[
        Executor | None,
        typer.Option(help="Train here, one run after another (local), or each run as a "
                     "Ray task (ray; pip install 'scalecli[ray]')."),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(help="With --executor ray: the cluster to join, e.g. auto. Default: "
                     "$RAY_ADDRESS, else a Ray instance on this machine."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the runs and their cost; train nothing.")
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="With --dry-run: the runs, their counts, FLOPs and "
                     "estimated time as one JSON object on stdout (notes on stderr)."),
    ] = False,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Rerun runs recorded as failed or diverged.")
    ] = False,
    keep_checkpoints: Annotated[
        bool, typer.Option("--keep-checkpoints", help="Keep mid-run checkpoints of finished runs.")
    ] = False,
    trust_remote_code: Annotated[
        bool,
        typer.Option("--trust-remote-code", help="Allow a hub tokenizer to run its own code."),
    ] = False,
) -> None:
    """Train a ladder of GPT-2 sizes and write one results.csv row per run."""
    from scalecli.sweep.driver import SweepOptions, run_sweep

    if as_json and not dry_run:
        raise _fail(ScaleError("--json needs --dry-run (a sweep's results are results.csv)"))
    options = SweepOptions(
        file=file,
        out=out,
        device=device,
        tokens=tokens,
        seeds=seeds,
        executor=executor.value if executor else None,
        ray_address=ray_address,
        dry_run=dry_run,
        retry_failed=retry_failed,
        keep_checkpoints=keep_checkpoints,
        trust_remote_code=trust_remote_code,
        optimal_params=_optimal_params,
        data=data,
        sets=tuple(sets or ()),
        as_json=as_json,
    )
    try:
        code = run_sweep(options)
    except ScaleError as error:
        raise _fail(error) from None
    except KeyboardInterrupt:  # before the sweep's own Ctrl-C handler is installed
        raise _interrupted() from None
    except OSError as error:
        # A full disk or a read-only folder where no module expected one: still one line.
        if error.errno not in _WRITE_ERRORS:
            raise
        where = f" {error.filename}" if error.filename else ""
        raise _fail(ScaleError(f"cannot write{where}: {error.strerror}; free disk space or "
                               "pass --out with a writable folder; rerun to resume")) from None
    raise typer.Exit(code=code)


@app.command(epilog=EXIT_CODES.format(one="1 --strict and a diagnostic is a warning; "))
def fit(
    path: Annotated[
        Path | None,
        typer.Argument(help="results.csv, or an output folder that holds one. " + _FIND,
                       show_default=False),
    ] = None,
    form: Annotated[
        str,
        typer.Option(parser=_form, metavar=f"<{'|'.join(_forms.choices())}>",
                     help=_forms.choices_help()),
    ] = _forms.default().name,
    x: Annotated[
        str | None,
        typer.Option(help="Column for x (N). Default: params_non_embedding for power and "
                     "saturating; params for chinchilla, envelope, isoflop and compute."),
    ] = None,
    y: Annotated[
        str | None,
        typer.Option(help="Column for y. Default: val_ppl for power, val_loss otherwise."),
    ] = None,
    d: Annotated[str, typer.Option(help="Column for D, the tokens (chinchilla).")] = "tokens",
    where: Annotated[
        list[str] | None,
        typer.Option(help="Row filter COLUMN=VALUE; repeat to combine. Default: status=ok."),
    ] = None,
    bootstrap: Annotated[int, typer.Option(min=0, help="Bootstrap refits for the CIs.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    predict: Annotated[
        str | None, typer.Option(help="x values (FLOPs for chinchilla) to predict, e.g. 1e8,1e9.")
    ] = None,
    predict_flops: Annotated[
        str | None,
        typer.Option(help="FLOP budgets, e.g. 1e18: N_opt, D_opt (and loss where the approach "
                     "gives one) with 95% CIs, per compute-optimal approach."),
    ] = None,
    holdout: Annotated[
        int, typer.Option(min=0, help="Refit without the K largest x and check the prediction.")
    ] = 1,
    all_lrs: Annotated[
        bool,
        typer.Option("--all-lrs", help="With an lr grid, fit every run, not only the best lr "
                     "per size (the default, as Kaplan et al. and Chinchilla do)."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print fit.json to stdout.")] = False,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Exit 1 when a diagnostic is a warning (for scripts "
                     "and CI); without it, warnings are printed and fit exits 0."),
    ] = False,
) -> None:
    """Fit scaling laws to a results CSV and write fit.json next to it.

    After the table, fit prints diagnostics: when the numbers should not be trusted as
    they stand (a non-monotone ladder, repeated data, too few tokens per parameter, an lr
    at the edge of its grid, a poor or unstable fit, seed noise), and what to do."""
    from scalecli.fit.driver import run_fit
    from scalecli.fit.request import FitOptions

    options = FitOptions(
        path=Path(),  # replaced below, where a failure to find the sweep is one red line
        form=form,
        x=x,
        y=y,
        d=d,
        where=list(where) if where else None,  # None: default status=ok, if that column exists
        bootstrap=bootstrap,
        seed=seed,
        predict=predict,
        predict_flops=predict_flops,
        holdout=holdout,
        all_lrs=all_lrs,
        as_json=as_json,
        strict=strict,
    )
    try:
        code = run_fit(replace(options, path=_find_sweep(path)))
    except ScaleError as error:
        raise _fail(error) from None
    except KeyboardInterrupt:
        raise _interrupted() from None
    if code:
        raise typer.Exit(code=code)


@app.command(epilog=EXIT_CODES.format(one=""))
def report(
    out_dir: Annotated[
        Path | None,
        typer.Argument(help="A sweep's output folder (holds results.csv). " + _FIND,
                       show_default=False),
    ] = None,
    prompt: Annotated[
        str | None, typer.Option(help="Prompt for the samples. Default: a held-out line.")
    ] = None,
    terminal: Annotated[
        bool, typer.Option("--terminal", help="Print the tables (and a plot) in the terminal.")
    ] = False,
    sample_tokens: Annotated[int, typer.Option(min=1, help="Tokens per sample.")] = 60,
) -> None:
    """Render plots, tables, the extrapolation and samples into OUT_DIR/report/."""
    from scalecli.report.driver import ReportOptions, run_report

    options = ReportOptions(
        out_dir=Path(),  # replaced below, where a failure to find the sweep is one red line
        prompt=prompt,
        terminal=terminal,
        sample_tokens=sample_tokens,
        command=" ".join(["scalecli", *sys.argv[1:]]),
        make_fit=_default_fit,
    )
    try:
        run_report(replace(options, out_dir=_find_sweep(out_dir)))
    except ScaleError as error:
        raise _fail(error) from None
    except KeyboardInterrupt:
        raise _interrupted() from None


def _default_fit(csv_path: Path) -> None:
    """What `report` runs when fit.json is missing: `scalecli fit PATH` with no options,
    written through the schema (the report stage never imports the fitting code)."""
    from scalecli.fit import schema
    from scalecli.fit.driver import compute_fit
    from scalecli.results import atomic_write_text

    doc = schema.build(compute_fit(csv_path))
    atomic_write_text(csv_path.parent / "fit.json", schema.to_json(doc) + "\n")


@app.command(epilog="Exit codes: 0 written; 2 the file exists (pass --force) or cannot be "
             "written.")
def init(
    file: Annotated[
        Path, typer.Argument(help="The sweep file to write.", dir_okay=False)
    ] = Path("sweep.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite FILE if it exists.")] = False,
) -> None:
    """Write a commented sweep file to start from: the default sweep, named after FILE.

    Point its data.dataset at your text (or pass --data to sweep), then run
    `scalecli sweep FILE --dry-run` to see the runs and their cost."""
    from scalecli.sweep.starter import write_starter

    try:
        path = write_starter(file, force)
    except ScaleError as error:
        raise _fail(error) from None
    print(f"wrote {path}; next: scalecli sweep {path} --dry-run")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
