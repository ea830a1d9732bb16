"""--submitter and --system become folder names of the submission tree: anything that would leave --out is
refused before a file is written."""

from __future__ import annotations

import pytest

from modelport.benchmarks.submission import SubmissionMeta
from modelport.errors import InputError


@pytest.mark.parametrize(("submitter", "system"), [("../../esc", "S"), ("Org", "../../../sysesc"), ("a/b", "S"),
                                                   ("..", "S"), ("Org", "."), ("Org", "x\\y"), ("", "S")])
def test_names_that_leave_the_tree_are_refused(submitter: str, system: str) -> None:
    with pytest.raises(InputError, match="is not a plain name"):
        SubmissionMeta(submitter, system, "open", "edge", True)


def test_ordinary_names_are_kept() -> None:
    meta = SubmissionMeta("My Org_1", "node-a.v2", "open", "edge", True)
    assert (meta.submitter, meta.system) == ("My Org_1", "node-a.v2")
