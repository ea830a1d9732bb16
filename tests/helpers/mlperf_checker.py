"""A stand-in for a checkout of mlcommons/inference (tests have no network to fetch the real one):
- ``tools/submission/submission_checker/main.py`` takes the official checker's arguments and logs in its
  format; it fails a tree whose accuracy.txt files lack a ``hash=`` line or whose submitter folder is missing;
- ``compliance/TEST0x/run_verification.py`` take the official ``-r RESULTS -c COMPLIANCE -o OUT`` and, as the
  official ones, read MLPerf's results layout, write ``verify_*.txt`` into their working directory and copy
  them with the test's logs to ``OUT/TEST0x``. TEST01's accuracy check compares each sample's response as the
  official script does by default (its first byte); the performance checks pass when both runs are VALID.
  Each also appends its argv and working directory to ``calls.txt`` beside it."""

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


VERIFY = r'''
import argparse, json, os, pathlib, shutil, sys
TEST = pathlib.Path(__file__).parent.name
with open(pathlib.Path(__file__).parent / "calls.txt", "a") as f:
    f.write(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd()}) + "\n")
p = argparse.ArgumentParser()
for a in ("-r", "-c", "-o"):
    p.add_argument(a, required=True)
args = p.parse_args()
res, comp, out = pathlib.Path(args.r), pathlib.Path(args.c), pathlib.Path(args.o) / TEST

def valid(detail):
    return any('"result_validity"' in ln and '"VALID"' in ln for ln in detail.read_text().splitlines())

def first_bytes(path):
    return {r["qsl_idx"]: r["data"][:2] for r in json.loads(path.read_text())}

perf_ok = valid(res / "performance" / "run_1" / "mlperf_log_detail.txt") and valid(comp / "mlperf_log_detail.txt")
pathlib.Path("verify_performance.txt").write_text("stand-in\nTEST PASS\n" if perf_ok else "TEST FAIL\n")
(out / "performance" / "run_1").mkdir(parents=True)
for name in ("mlperf_log_summary.txt", "mlperf_log_detail.txt"):
    shutil.copy2(comp / name, out / "performance" / "run_1")
shutil.copy2("verify_performance.txt", out)
if TEST == "TEST01":
    ref = first_bytes(res / "accuracy" / "mlperf_log_accuracy.json")
    got = first_bytes(comp / "mlperf_log_accuracy.json")
    shared = [i for i in got if i in ref]
    bad = sum(got[i] != ref[i] for i in shared)
    verdict = "TEST PASS" if shared and not bad else "TEST FAIL"
    pathlib.Path("verify_accuracy.txt").write_text(f"num_perf_log_data_mismatch = {bad}\n{verdict}\n")
    (out / "accuracy").mkdir()
    shutil.copy2(comp / "mlperf_log_accuracy.json", out / "accuracy")
    shutil.copy2("verify_accuracy.txt", out)
print(f"{TEST} verification complete")
'''


def fake_mlperf_repo(root: Path) -> Path:
    pkg = root / "tools" / "submission" / "submission_checker"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "main.py").write_text(MAIN)
    for test in ("TEST01", "TEST04"):
        (root / "compliance" / test).mkdir(parents=True)
        (root / "compliance" / test / "run_verification.py").write_text(VERIFY)
    return root
