"""A stand-in for a checkout of mlcommons/inference: ``tools/submission/submission_checker/main.py`` that
takes the official checker's arguments and logs in its format (tests have no network to fetch the real one).
It fails a tree whose accuracy.txt files lack a ``hash=`` line or whose submitter folder is missing."""

from __future__ import annotations

from pathlib import Path

MAIN = r'''
import argparse, logging, pathlib, sys
logging.basicConfig(level=logging.INFO, format="[%(asctime)s %(filename)s:%(lineno)d %(levelname)s] %(message)s")
log = logging.getLogger("main")
p = argparse.ArgumentParser()
for a in ("--input", "--version", "--submitter", "--csv"):
    p.add_argument(a, required=True)
args = p.parse_args()
root = pathlib.Path(args.input)
bad = 0
if not list(root.glob(f"*/{args.submitter}/systems/*.json")):
    log.error("%s has no %s/systems", root, args.submitter); bad += 1
for acc in root.glob("*/*/results/*/*/*/accuracy/accuracy.txt"):
    if not any(line.startswith("hash=") for line in acc.read_text().splitlines()):
        log.error("%s not hash value for accuracy.txt", acc); bad += 1
log.info("checked with %s", args.version)
if bad:
    log.error("SUMMARY: submission has errors"); sys.exit(1)
log.info("SUMMARY: submission looks OK")
'''


def fake_mlperf_repo(root: Path) -> Path:
    pkg = root / "tools" / "submission" / "submission_checker"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "main.py").write_text(MAIN)
    return root
