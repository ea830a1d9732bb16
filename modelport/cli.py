"""The ``modelport`` command.

Each subcommand lives in ``modelport/commands/<name>.py`` as a thin click function that parses, calls the
library and renders. Subcommands are imported lazily so ``modelport --help`` does not import torch.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import signal
import sys
import threading
import warnings

import click

from modelport import __version__
from modelport.commands.common import emit_json, json_emitted, reset_json_emitted, stdout_for_json_only
from modelport.errors import ModelportError

_COMMANDS = {
    "convert": ("modelport.commands.convert", "convert", "Export a PyTorch model to TorchScript, ONNX and .pt2."),
    "validate": ("modelport.commands.validate", "validate", "Prove artifacts match the eager reference."),
    "opsets": ("modelport.commands.opsets", "opsets", "ONNX operator versions: show, diff, check, convert."),
    "bench": ("modelport.commands.bench", "bench", "Benchmark every artifact of a run with the LoadGen."),
    "run": ("modelport.commands.run", "run", "Convert, validate, benchmark and report in one go."),
    "compare": ("modelport.commands.compare", "compare", "Compare benched run directories side by side."),
    "zoo": ("modelport.commands.zoo", "zoo", "List the built-in models."),
    "submission": ("modelport.commands.submission", "submission", "Write an MLPerf submission tree from runs."),
    "serve": ("modelport.commands.serve", "serve", "Serve an artifact with MLServer on loopback (OIP)."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _COMMANDS:
            return None
        module, attr, _ = _COMMANDS[cmd_name]
        try:
            return getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as e:
            if e.name and e.name.startswith("modelport.commands"):
                return None
            raise

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, _, help_) in sorted(_COMMANDS.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="modelport")
@click.option("--debug", is_flag=True, envvar="MODELPORT_DEBUG", help="Show tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """modelport: take a PyTorch model out of PyTorch, prove the exports are the same model, measure them."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def _debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("MODELPORT_DEBUG", "") not in ("", "0")


class Terminated(BaseException):
    """SIGTERM, raised in the main thread like KeyboardInterrupt so every cleanup (``finally``) runs."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


def _one_line_warnings() -> None:
    """Library warnings (torch, onnx) as one line each on stderr, like everything else we print."""

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: object = None,
             line: str | None = None) -> None:
        text = " ".join(str(message).split())
        click.echo(f"modelport: warning: {category.__name__}: {text[:300]}", err=True)

    warnings.showwarning = show


#: library loggers whose import-time warnings say nothing to a modelport user: torchao (which transformers imports
#: when it is installed) reports every CUDA kernel library it cannot load on a CPU machine, and torch's pytree
#: then warns about torchao's own enum registrations; --debug keeps them
_QUIET_LOGGERS = ("torchao", "torch.utils._pytree")


def _quiet_library_loggers(argv: list[str]) -> None:
    if not _debug_requested(argv):
        for name in _QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)


def _invoke(argv: list[str]) -> object:
    # make_context + invoke rather than cli.main: click's main turns Ctrl-C into a blank line plus Abort.
    try:
        with cli.make_context("modelport", argv) as ctx:
            return cli.invoke(ctx)
    except click.exceptions.Exit as e:  # --help, --version
        return e.exit_code


def _fail(argv: list[str], message: str, kind: str, code: int, prefix: str = "error") -> None:
    click.echo(f"modelport: {prefix}: {message}" if prefix else f"modelport: {message}", err=True)
    if "--json" in argv and not json_emitted():
        # Scripts that asked for JSON get one object on stdout on failure too.
        emit_json({"error": message, "kind": kind, "exit_code": code})
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: every failure is one line on stderr and a non-zero exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--debug" in argv:  # worker processes (matrix cells, isolated steps) read the environment, not our argv
        os.environ["MODELPORT_DEBUG"] = "1"
    reset_json_emitted()
    _one_line_warnings()
    _quiet_library_loggers(argv)
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if threading.current_thread() is threading.main_thread() \
        else None
    try:
        with stdout_for_json_only() if "--json" in argv else contextlib.nullcontext():
            rv = _invoke(argv)
    except ModelportError as e:
        if _debug_requested(argv):
            raise
        _fail(argv, e.format_message(), type(e).__name__, e.exit_code)
    except click.exceptions.NoArgsIsHelpError as e:
        # `modelport` or `modelport opsets` alone: the help, as it reads on --help, and the usage exit code
        click.echo(e.ctx.get_help() if e.ctx is not None else e.format_message(), err=True)
        sys.exit(e.exit_code)
    except click.UsageError as e:
        # One line, like every other failure; the usage block is one --help away.
        where = e.ctx.command_path if e.ctx is not None else "modelport"
        _fail(argv, f"{' '.join(e.format_message().split())} (see '{where} --help')", "UsageError", e.exit_code)
    except click.ClickException as e:
        _fail(argv, " ".join(e.format_message().split()), type(e).__name__, e.exit_code)
    except (KeyboardInterrupt, click.exceptions.Abort):
        _fail(argv, "aborted", "Aborted", 130, prefix="")
    except Terminated:
        _fail(argv, "terminated", "Terminated", 143, prefix="")
    except SystemExit as e:
        # Our own code never calls sys.exit below this point: this came from the user's model code
        # (a module that runs argparse at import, a constructor that exits).
        if _debug_requested(argv):
            raise
        _fail(argv, f"the model's own code called sys.exit({e.code!r}) while modelport was running it",
              "InputError", 2)
    except Exception as e:  # noqa: BLE001 - last line of defence: one line, not a traceback
        if _debug_requested(argv):
            raise
        msg = " ".join(str(e).split()) or type(e).__name__
        _fail(argv, f"{type(e).__name__}: {msg[:500]} (re-run with --debug for the traceback)", "InternalError", 70,
              prefix="internal error")
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
