"""Benchmark: sweep throughput (runs per minute) of Hydra's basic, joblib and Ray launchers on this
machine, every job recording over HTTP to one MLflow tracking server on PostgreSQL, as in a scaled-out
study. The same sweep (every target x `--seeds` seeds, the post's sizes unless overridden) runs through
each launcher in turn; prints a table with each launcher's speed-up over the basic one and the HTTP
requests the server answered per run (what a cluster's tracking server must keep up with); asserts nothing.

`python -m pipeline.bench.launchers [--seeds 4] [--workers 2] [override ...]`   (needs `.[ray,server]`)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipeline.ops import tracking_server

TARGETS = "sum,weighted_sum,product"


def launcher_overrides(name: str, workers: int) -> list[str]:
    """One process runs the jobs in turn (basic); `workers` processes run them side by side (joblib, Ray)."""
    if name == "basic":
        return []
    if name == "joblib":
        return ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={workers}"]
    return ["hydra/launcher=ray", f"+hydra.launcher.ray.init.num_cpus={workers}"]


def time_sweep(launcher: str, uri: str, seeds: int, workers: int, extra: list[str], sweep_dir: Path) -> float:
    command = [
        sys.executable,
        "-m",
        "pipeline.run",
        "-m",
        *launcher_overrides(launcher, workers),
        "tracking=server",
        f"tracking.uri={uri}",
        f"target={TARGETS}",
        f"model.seed={','.join(str(s) for s in range(1, seeds + 1))}",
        *extra,
        f"hydra.sweep.dir={sweep_dir}",
    ]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"the {launcher} sweep failed:\n{done.stderr[-2000:]}")
    return seconds


def requests_answered(server_log: Path) -> int:
    """API and artifact requests in the server's access log (its own /health probes left out)."""
    return sum('HTTP/1.1"' in line and "/health" not in line for line in server_log.read_text(errors="replace").splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4, help="seeds per target (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="parallel jobs (default: the cores)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every job, e.g. train.epochs=100")
    args = parser.parse_args()
    jobs = 3 * args.seeds
    with tempfile.TemporaryDirectory(prefix="toy-ann-bench-") as scratch:
        state_dir = Path(scratch) / "server"
        state_dir.mkdir()
        Path(scratch).chmod(0o755)  # as root, PostgreSQL runs as `postgres`, who must reach it
        running = tracking_server.start(state_dir, tracking_server.free_loopback_port(), tracking_server.free_loopback_port())
        seconds, requests = {}, {}
        try:
            for launcher in ("basic", "joblib", "ray"):
                before = requests_answered(state_dir / "mlflow.log")
                seconds[launcher] = time_sweep(
                    launcher, running.tracking_uri, args.seeds, args.workers, args.overrides, Path(scratch) / launcher
                )
                requests[launcher] = requests_answered(state_dir / "mlflow.log") - before
        finally:
            tracking_server.stop(state_dir)
    print(
        f"\n{jobs} jobs ({TARGETS} x {args.seeds} seeds{', ' + ' '.join(args.overrides) if args.overrides else ''}), "
        f"{args.workers} workers, {os.cpu_count()} cores, MLflow over HTTP on PostgreSQL\n"
    )
    print("| launcher | wall time (s) | runs per minute | speed-up over basic | HTTP requests per run |")
    print("|---|---|---|---|---|")
    for launcher, wall in seconds.items():
        print(
            f"| {launcher} | {wall:.1f} | {60 * jobs / wall:.1f} | {seconds['basic'] / wall:.2f}x "
            f"| {requests[launcher] / jobs:.1f} |"
        )


if __name__ == "__main__":
    main()
