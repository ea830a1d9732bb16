"""The terminal table of a validation report: one row per artifact x output, worst case over the input sets."""

from __future__ import annotations

from modelport.validators.results import ArtifactResult, ValidationReport


def _g(x: float | None) -> str:
    return "-" if x is None else f"{x:.2e}"


def _rows(art: ArtifactResult) -> list[list[str]]:
    """One row per output. TOP-K pools every input set's rows (a batch-1 set alone would read 0 or 1); STATUS of
    a reduced-precision artifact's values is "reported": its gate is the task metric, in the lines below."""
    by_output: dict[str, dict] = {}
    for s in art.input_sets:
        for o in s.outputs:
            row = by_output.setdefault(o.name, {"abs": None, "rel": None, "mis": 0, "tot": 0, "ok": True,
                                                "values_only": True, "tol": f"{o.atol:g}/{o.rtol:g}", "top": {}})
            if o.max_abs is not None:
                row["abs"] = max(row["abs"] or 0.0, o.max_abs)
                row["rel"] = max(row["rel"] or 0.0, o.max_rel or 0.0)
            row["mis"] += o.mismatched
            row["tot"] += o.total
            row["ok"] &= o.passed
            row["values_only"] &= o.passed or o.failed_on == "values"
            for k, v in o.topk.items():
                agree, rows = row["top"].get(k, (0.0, 0))
                row["top"][k] = (agree + v * (s.batch or 1), rows + (s.batch or 1))
    rows = []
    failed_runs = [s.input_set for s in art.input_sets if s.error is not None]
    for name, r in by_output.items():
        status = "ok" if r["ok"] and not failed_runs else "FAIL"
        if status == "FAIL" and art.precision != "fp32" and r["values_only"] and not failed_runs:
            status = "reported"
        top = " ".join(f"{k}={a / n:.3f}" for k, (a, n) in sorted(r["top"].items()))
        rows.append([art.id, name, _g(r["abs"]), _g(r["rel"]), f"{r['mis']}/{r['tot']}", r["tol"], top or "-",
                     status])
    if not by_output:
        rows.append([art.id, "-", "-", "-", "-", "-", "-", "FAIL"])
    return rows


def _failure_details(art: ArtifactResult) -> list[str]:
    """Every statistic of each failing output, on its first failing input set."""
    lines, seen = [], set()
    for s in art.input_sets:
        for o in s.outputs:
            if o.passed or o.name in seen or o.failed_on != "values":
                continue
            seen.add(o.name)
            lines.append(f"{art.id} {o.name} on {s.input_set} (batch {s.batch}): max abs {_g(o.max_abs)}, "
                         f"max rel {_g(o.max_rel)}, mean abs {_g(o.mean_abs)}, p99 abs {_g(o.p99_abs)}, "
                         f"mismatched {o.mismatched}/{o.total}, worst {o.worst_index} "
                         f"({o.worst_cand:.6g} vs {o.worst_ref:.6g}), cosine {o.cosine:.6f}; "
                         f"needs atol >= {_g(o.required_atol)} at rtol {o.rtol:g}")
    return lines


def render_table(report: ValidationReport) -> str:
    """A fixed-width table plus the lines a user needs when something failed."""
    sets = ", ".join(f"{s['name']} (batch {s['batch']}{', negated' if s.get('sign', 1) < 0 else ''})"
                     for s in report.input_sets)
    lines = [f"input sets (seed {report.settings.get('seed')}): {sets}"]
    header = ["ARTIFACT", "OUTPUT", "MAX ABS", "MAX REL", "MISMATCHED", "ATOL/RTOL", "TOP-K", "STATUS"]
    rows = [r for art in report.artifacts for r in _rows(art)]
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(len(header))] if rows else []
    if rows:
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        lines.extend("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)
    for art in report.artifacts:
        lines.extend(_failure_details(art))
        for c in art.checks:
            if not c.passed:
                lines.append(f"{art.id}: check {c.name} FAILED: {c.detail}")
        if not art.passed:
            lines.extend(f"{art.id}: export warning: {w}" for w in art.export_warnings)
        for a in art.agreement:
            what = (f"{a.metric} {a.output} {a.agreement:.4f} (" + ", ".join(f"{k} {v:.4g}" for k, v in
                                                                          a.values.items()) + ")"
                    if a.metric else f"{a.output} top-{a.k} agreement {a.agreement:.4f}")
            gate = "quality gate" if art.precision != "fp32" else "agreement gate"
            lines.append(f"{art.id} ({art.precision}) {gate}: {what} over {a.samples} samples (min "
                         f"{a.threshold:g}) {'ok' if a.passed else 'FAIL'}")
    for w in report.warnings:
        lines.append(f"warning: {w}")
    if report.passed:
        reduced = sum(a.precision != "fp32" for a in report.artifacts)
        what = "match the eager reference" if not reduced else \
            f"pass: {len(report.artifacts) - reduced} match the eager reference, {reduced} meet the quality gate"
        lines.append(f"PASSED: {len(report.artifacts)} artifact(s) {what} ({report.wall_time_s:.1f}s)")
    else:
        lines.append(f"FAILED ({len(report.failures)}):")
        lines.extend(f"  - {f.message}" for f in report.failures)
    return "\n".join(lines)
