"""The command line: thin Typer commands over plain functions.

Each command parses its options and calls one importable function. Library code raises
`ScaleError` for anything the user can fix; only this module catches it, prints one red
line on stderr and exits non-zero, so a user's mistake never shows a traceback. Heavy
imports (torch, transformers, scipy) happen inside the commands, so `--help` is instant.
"""

from __future__ import annotations

import errno
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from scalecli import __version__
from scalecli.errors import ScaleError

app = typer.Typer(
    name="scalecli",
    help="Measure the scaling laws of GPT-2-style language models on your own data.\n\n"
    "sweep -> results.csv -> fit -> fit.json -> report",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True, highlight=False)

DEFAULT_OUT = Path("out/default")
# Out of space, over quota, file too large, read-only file system, permission denied.
_WRITE_ERRORS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG,
                 errno.EROFS, errno.EACCES, errno.EPERM}


def _fail(error: ScaleError) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {error}", soft_wrap=True, markup=True)
    return typer.Exit(code=error.exit_code)


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


@app.command()
def sweep(
    file: Annotated[
        Path | None,
        typer.Argument(help="Sweep YAML file. Default: the packaged sweeps/default.yaml."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output root; results go to OUT/NAME/. Default: out.")
    ] = None,
    device: Annotated[str | None, typer.Option(help="cpu | cuda | auto.")] = None,
    tokens: Annotated[
        str | None, typer.Option(help="Token budget per run, e.g. 2e6 or 1e6,4e6 for a grid.")
    ] = None,
    seeds: Annotated[str | None, typer.Option(help="Seeds, e.g. 0 or 0,1,2.")] = None,
    executor: Annotated[
        str | None,
        typer.Option(help="local | ray: train here, one run after another, or each run as a "
                     "Ray task (pip install 'scalecli[ray]')."),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(help="With --executor ray: the cluster to join, e.g. auto. Default: "
                     "$RAY_ADDRESS, else a Ray instance on this machine."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the runs and their cost; train nothing.")
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

    options = SweepOptions(
        file=file,
        out=out,
        device=device,
        tokens=tokens,
        seeds=seeds,
        executor=executor,
        ray_address=ray_address,
        dry_run=dry_run,
        retry_failed=retry_failed,
        keep_checkpoints=keep_checkpoints,
        trust_remote_code=trust_remote_code,
        optimal_params=_optimal_params,
    )
    try:
        code = run_sweep(options)
    except ScaleError as error:
        raise _fail(error) from None
    except OSError as error:
        # A full disk or a read-only folder where no module expected one: still one line.
        if error.errno not in _WRITE_ERRORS:
            raise
        where = f" {error.filename}" if error.filename else ""
        raise _fail(ScaleError(f"cannot write{where}: {error.strerror}; free disk space or "
                               "pass --out with a writable folder; rerun to resume")) from None
    raise typer.Exit(code=code)


@app.command()
def fit(
    path: Annotated[
        Path, typer.Argument(help="results.csv, or an output folder that holds one.")
    ] = DEFAULT_OUT,
    form: Annotated[
        str,
        typer.Option(help="power | saturating | chinchilla | all (each form, and a table of "
                     "every exponent the runs' design supports), or the compute-optimal "
                     "approaches: envelope (1) | isoflop (2) | compute (1, 2 and chinchilla "
                     "side by side)."),
    ] = "power",
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
    from scalecli.fit.driver import FitOptions, run_fit

    options = FitOptions(
        path=path,
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
        code = run_fit(options)
    except ScaleError as error:
        raise _fail(error) from None
    if code:
        raise typer.Exit(code=code)


@app.command()
def report(
    out_dir: Annotated[
        Path, typer.Argument(help="A sweep's output folder (holds results.csv).")
    ] = DEFAULT_OUT,
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
        out_dir=out_dir,
        prompt=prompt,
        terminal=terminal,
        sample_tokens=sample_tokens,
        command=" ".join(["scalecli", *sys.argv[1:]]),
    )
    try:
        run_report(options)
    except ScaleError as error:
        raise _fail(error) from None


def main() -> None:
    app()


if __name__ == "__main__":
    main()
