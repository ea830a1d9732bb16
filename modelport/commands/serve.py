"""``modelport serve``: put one artifact of a run behind a real inference server on loopback.

MLServer with modelport's runtime (``serving.mlserver_runtime``) speaks the Open Inference Protocol over
gRPC and REST; ``--export-triton-repo DIR`` writes a Triton model repository instead of serving
(docs/decisions.md, "Serving: MLServer as the server" and "Serving: a Triton model repository for
production"). The server runs in this command's process group, so Ctrl-C on the terminal reaches both; on
Ctrl-C or SIGTERM the command stops it (SIGTERM, then SIGKILL) and exits 0.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

import click

from modelport.commands.common import emit_json, json_option, quiet_option
from modelport.errors import InputError, ModelportError


class _Stop(BaseException):
    """SIGTERM while serving: stop the server and exit normally (a BaseException, like KeyboardInterrupt, so
    no ``except Exception`` on the way swallows it)."""


def _on_term(signum: int, frame: object) -> None:
    raise _Stop()


def _check_server(server: str) -> None:
    if server == "mlserver":
        return
    import importlib.util

    how = "write a repository for a Triton server with --export-triton-repo DIR, or serve with --server mlserver"
    if importlib.util.find_spec("pytriton") is None:
        raise InputError("--server triton needs PyTriton (nvidia-pytriton), which is not installed here "
                         "(it pins numpy<2)", how)
    raise InputError("--server triton through PyTriton is not built into modelport yet", how)


@click.command("serve")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--artifact", "artifact_id", default=None, metavar="ID",
              help="The artifact to serve (onnx or torchscript) [default: the first ONNX artifact].")
@click.option("--model-name", default=None, metavar="NAME", help="The served model's name [default: the artifact id].")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="HTTP (REST) port on 127.0.0.1; 0 picks a free one.")
@click.option("--grpc-port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="gRPC port on 127.0.0.1; 0 picks a free one.")
@click.option("--server", type=click.Choice(["mlserver", "triton"]), default="mlserver", show_default=True,
              help="mlserver (the [serve] extra) or triton (PyTriton, where it installs).")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Intra-op threads of the model.")
@click.option("--export-triton-repo", "triton_dir", type=click.Path(path_type=Path), default=None, metavar="DIR",
              help="Write a Triton model repository (config.pbtxt + the artifact) into DIR and exit.")
@json_option
@quiet_option
def serve(run_dir: Path, artifact_id: str | None, model_name: str | None, port: int, grpc_port: int, server: str,
          threads: int | None, triton_dir: Path | None, as_json: bool, quiet: bool) -> None:
    """Serve one artifact of RUN_DIR with MLServer on 127.0.0.1 until Ctrl-C (Open Inference Protocol)."""
    from modelport.progress import Progress
    from modelport.runners import RunnerOptions
    from modelport.serving.model_info import describe_artifact

    if triton_dir is None:
        _check_server(server)
    progress = Progress.for_cli(quiet, as_json)
    progress.step(f"reading {run_dir}")
    model = describe_artifact(run_dir, artifact_id, model_name, RunnerOptions(threads=threads))
    if triton_dir is not None:
        _export(model, triton_dir, as_json, quiet)
        return
    if port and port == grpc_port:
        raise InputError(f"--port and --grpc-port are both {port}", "give two different ports")
    _serve(model, port, grpc_port, threads, as_json, quiet, progress)


def _export(model: Any, out: Path, as_json: bool, quiet: bool) -> None:
    from modelport.serving.triton_repo import export_triton_repo, output_names

    export_triton_repo(model, out)
    if as_json:
        emit_json({"triton_repository": str(out), "model": model.to_json(), "output_names": output_names(model)})
    elif not quiet:
        click.echo(f"Triton model repository: {out}/{model.name}/config.pbtxt (artifact {model.artifact_id})")
        click.echo(f"  tritonserver --model-repository {out}")


def _serve(model: Any, port: int, grpc_port: int, threads: int | None, as_json: bool, quiet: bool,
           progress: Any) -> None:
    from modelport.serving.server_process import MLServerProcess, pick_ports

    ports = pick_ports(port or None, grpc_port or None)
    proc = MLServerProcess(model, ports, threads, own_group=False)
    previous = signal.signal(signal.SIGTERM, _on_term)
    try:
        progress.step(f"starting MLServer for {model.name} ({model.artifact_id})")
        proc.start()
        progress.done()
        if as_json:
            emit_json({"server": "mlserver", "model": model.to_json(), "urls": proc.urls,
                       "pid": proc.proc.pid if proc.proc else None})
        else:
            click.echo(f"serving {model.name} ({model.kind} artifact {model.artifact_id}) with MLServer")
            for proto, url in proc.urls.items():
                click.echo(f"  {proto:<4} {url}")
            click.echo("Ctrl-C stops it")
        _wait(proc)
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        code = proc.stop()
        signal.signal(signal.SIGTERM, previous)
    if not quiet and not as_json:
        click.echo(f"stopped (MLServer exit code {code})", err=True)


def _wait(proc: Any) -> None:
    """Until a signal arrives; a server that dies on its own is an error."""
    while proc.proc is not None:
        try:
            code = proc.proc.wait(0.5)
        except subprocess.TimeoutExpired:  # still serving
            continue
        raise ModelportError(f"MLServer exited on its own with code {code}")
