"""``modelport zoo``: list the built-in models and their inputs."""

from __future__ import annotations

import click

from modelport import zoo as zoo_lib
from modelport.commands.common import emit_json, json_option


@click.command("zoo")
@json_option
def zoo(as_json: bool) -> None:
    """List the built-in models (use them as SOURCE: zoo:NAME)."""
    rows = []
    for name in zoo_lib.names():
        e = zoo_lib.get(name)
        rows.append({"name": name, "summary": e.summary, "class": e.model_class, "task": e.task,
                     "metric": e.metric, "sample": e.sample, "model_args": e.default_args,
                     "inputs": [s.to_json() for s in e.input_specs()], "outputs": list(e.output_names),
                     "mlperf": e.mlperf.to_json() if e.mlperf else None, "known_working": list(e.known_working)})
    if as_json:
        emit_json({"models": rows})
        return
    for r in rows:
        click.echo(f"zoo:{r['name']:<17} {r['summary']}")
        for s in r["inputs"]:
            dyn = ",".join(f"{k}={v}" for k, v in s["dynamic_axes"].items())
            click.echo(f"    {s['name']}: {s['dtype']}{s['shape']} in [{s['low']:g}, {s['high']:g})"
                       + (f" dynamic {dyn}" if dyn else ""))
