"""Running ``modelport`` in-process the way the console script does (``modelport.cli.main``): exit code,
stdout and stderr, with every failure turned into its one line by the CLI's own handler."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

from modelport.cli import main


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def invoke(*args: str) -> Result:
    out, err = io.StringIO(), io.StringIO()
    code: int = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return Result(code, out.getvalue(), err.getvalue())
