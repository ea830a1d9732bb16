"""``modelport submission``: bench run directories with the official LoadGen and the compliance tests, then
write the MLPerf submission tree."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import click

from modelport.commands.common import emit_json, json_option, quiet_option


@click.command("submission")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--submitter", required=True, help="Organisation name (the tree's <submitter> folder).")
@click.option("--system", "system", required=True, help="System name (systems/<system>.json, results/<system>/).")
@click.option("--division", type=click.Choice(["open", "closed", "network"]), required=True)
@click.option("--system-type", type=click.Choice(["edge", "datacenter"]), required=True,
              help="The suite: which scenarios each benchmark needs.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="A new folder for the tree.")
@click.option("--artifact", "artifact_id", default=None, metavar="ID",
              help="The artifact submitted from each run [default: its first].")
@click.option("--scenario", "scenarios", multiple=True, metavar="NAME",
              help="Open division only: a subset of the required scenarios (repeatable or comma-separated).")
@click.option("--system-json", default=None, metavar="FILE", help="Fields overriding the system description.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Intra-op threads [default: usable cores].")
@click.option("--dry-run", is_flag=True,
              help="Short runs (seconds) to try the flow; every README says it is not a valid submission.")
@click.option("--dataset", "datasets", multiple=True, metavar="NAME=PATH",
              help="Score each benchmark's accuracy run on its MLPerf data set on disk (repeatable: imagenet, "
              "squad, kits19, librispeech, criteo); accuracy.txt gets the reference script's line.")
@click.option("--check", is_flag=True, help="Run MLPerf's submission checker over the tree (needs --mlperf-repo).")
@click.option("--mlperf-repo", default=None, metavar="PATH",
              help="A checkout of mlcommons/inference: its compliance scripts verify TEST01/TEST04, and --check "
              "runs its submission checker.")
@click.option("--mlperf-version", default="v6.1", show_default=True,
              help="The checker's --version (the round whose rules and seeds apply).")
@json_option
@quiet_option
def submission(run_dirs: tuple[Path, ...], submitter: str, system: str, division: str, system_type: str, out: Path,
               artifact_id: str | None, scenarios: tuple[str, ...], system_json: str | None, threads: int | None,
               dry_run: bool, datasets: tuple[str, ...], check: bool, mlperf_repo: str | None, mlperf_version: str,
               as_json: bool, quiet: bool) -> None:
    """Bench each RUN_DIR (official LoadGen, accuracy, TEST01, TEST04) and write the submission tree to --out.

    Writes <out>/<division>/<submitter>/{systems, src, results/<system>/<benchmark>/<scenario>/...}.
    A real run takes 600 s per performance run (see the README's submission workflow).
    """
    from modelport.benchmarks import dataset_accuracy, parse_scenarios
    from modelport.benchmarks import submission as sub
    from modelport.benchmarks.submission_tree import write_scenario, write_src, write_system
    from modelport.benchmarks.workflow import bench_and_report
    from modelport.progress import Progress

    meta = sub.SubmissionMeta(submitter, system, division, system_type, dry_run, sub.read_system_json(system_json))
    wanted = parse_scenarios(scenarios) if scenarios else None
    # every run directory, artifact and scenario set is checked before minutes of benchmarking
    checker = _checker(check, mlperf_repo)
    runs = [sub.plan_run(d, meta, artifact_id, wanted) for d in run_dirs]
    sub.check_out(out)
    chosen = sub.match_datasets(runs, datasets)
    progress = Progress.for_cli(quiet, as_json)
    command = "modelport " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    outcomes = []
    for run in runs:
        options, data = sub.bench_options(run, dry_run, threads, mlperf_repo), None
        if run.run_dir in chosen:
            options, data = dataset_accuracy.prepare(run.run_dir, chosen[run.run_dir], options, None, progress)
        elif dry_run:
            options = sub.with_dry_run_samples(run, options)
        progress.step(f"{run.benchmark}: benchmarking {run.artifact.id} ({', '.join(run.scenarios)})")
        outcomes.append(bench_and_report(run.run_dir, options, progress=progress))
        if data is not None:  # accuracy.txt beside each accuracy log, copied into the tree below
            dataset_accuracy.score_results(run.run_dir, outcomes[-1].results, data)
    stage = sub.staged(out)
    try:
        root = stage / division / submitter
        write_system(root, meta, [o.results for o in outcomes])
        write_src(root, meta, command)
        written = [str(write_scenario(root, meta, run, o.results, s, command).relative_to(stage))
                   for run, o in zip(runs, outcomes, strict=True) for s in run.scenarios]
        sub.publish(stage, out)
    except BaseException:
        sub.discard(stage)
        raise
    verdict = None
    if checker is not None:
        from modelport.benchmarks.submission_check import run_checker

        progress.step(f"MLPerf submission checker {mlperf_version}")
        verdict = run_checker(checker, out, submitter, mlperf_version)
        progress.done()
    # a run directory's results may hold cells of earlier benches (other artifacts, other scenarios): only the
    # cells this submission benched are its checks
    failures = [f for run, o in zip(runs, outcomes, strict=True) for f in o.failures + o.compliance_failures
                if any(f.startswith(f"{run.artifact.id} {sc}") for sc in run.scenarios)]
    _report(out, written, failures, dry_run, as_json, quiet, verdict, mlperf_version)


def _checker(check: bool, repo: str | None) -> Any:
    """The official checker and compliance scripts, found before any benchmark runs (docs/decisions.md,
    "Submission: the official checker")."""
    from modelport.benchmarks.audit import COMPLIANCE_TESTS
    from modelport.benchmarks.compliance import check_official
    from modelport.benchmarks.submission_check import find_checker
    from modelport.errors import InputError

    if check and not repo:
        raise InputError("--check runs MLPerf's checker from a checkout of mlcommons/inference",
                         "add --mlperf-repo PATH")
    checker = find_checker(repo) if check and repo else None
    check_official(repo, list(COMPLIANCE_TESTS))
    return checker


def _report(out: Path, written: list[str], failures: list[str], dry_run: bool, as_json: bool, quiet: bool,
            verdict: Any, version: str) -> None:
    from modelport.errors import ValidationFailed

    if as_json:
        emit_json({"out": str(out), "scenarios": written, "dry_run": dry_run, "failures": failures,
                   **({"check": {"version": version, **verdict.to_json()}} if verdict else {})})
    elif not quiet:
        click.echo(f"submission tree: {out}" + (" (dry run: not a valid submission)" if dry_run else ""))
        for w in written:
            click.echo(f"  {w}")
        if failures and dry_run:  # not an error in a dry run, but said
            click.echo("checks that failed (a dry run's short runs may fail them): " + "; ".join(failures))
        if verdict is not None:
            click.echo(verdict.one_line(version))
    if failures and not dry_run:
        raise ValidationFailed("submission written, but these checks failed: " + "; ".join(failures),
                               "see the README.md and TEST0x folders of each scenario")
    if verdict is not None and not verdict.passed:
        raise ValidationFailed(f"MLPerf's submission checker rejected {out}: {verdict.summary}",
                               f"its errors are in {verdict.log}" + (" (a dry run never passes)" if dry_run else ""))
