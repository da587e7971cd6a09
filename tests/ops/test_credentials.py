"""A sweep recorded straight into the tracking server's own PostgreSQL, its password in the URI, as a tester
did: the password reaches no row of the database (so no API of the server can return it), no file of the
sweep, no artifact and no line on the terminal; and the artifacts land in the project's artifact root, not
in `./mlruns` of the working directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.ops import tracking_server
from pipeline.tracking.store import ARTIFACTS_DIR
from tests.helpers import TINY, run_door


@pytest.mark.integration
@pytest.mark.slow
def test_a_sweep_into_postgresql_keeps_the_password_out_of_the_store_its_files_and_its_output(server, tmp_path):
    import psycopg
    from psycopg import sql

    running, state_dir = server
    password = (state_dir / tracking_server.OWNER_PASSWORD_FILE).read_text().strip()
    uri = f"postgresql://{tracking_server.DATABASE_OWNER}:{password}@127.0.0.1:{running.database_port}/{tracking_server.DATABASE}"
    project, work, sweep_dir = tmp_path / "project", tmp_path / "work", tmp_path / "sweep"
    work.mkdir()
    env = {**os.environ, "DVC_ROOT": str(project)}  # the project's root, for its artifact root: not this repository's

    done = run_door("-m", f"tracking.uri={uri}", "model.seed=1,2", *TINY, f"hydra.sweep.dir={sweep_dir}", cwd=work, env=env)

    assert done.returncode == 0, done.stderr[-3000:]
    assert password not in done.stdout + done.stderr
    with psycopg.connect(uri) as connection:
        tables = [row[0] for row in connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        holding = [
            table
            for table in tables
            if connection.execute(
                sql.SQL("SELECT count(*) FROM {} AS row WHERE row::text LIKE %s").format(sql.Identifier(table)),
                (f"%{password}%",),
            ).fetchone()[0]  # type: ignore[index]
        ]
        shown = connection.execute("SELECT count(*) FROM params WHERE key = 'tracking.uri' AND value LIKE %s", ("%:***@%",))
        assert shown.fetchone()[0] >= 3  # type: ignore[index]  # the parent's fixed params and each job's
    assert tables and holding == []
    artifacts = project / ARTIFACTS_DIR
    assert not (work / "mlruns").exists() and any(artifacts.rglob("config.yaml"))
    assert _files_holding(password, sweep_dir, artifacts) == []


def _files_holding(text: str, *folders: Path) -> list[Path]:
    return [path for folder in folders for path in folder.rglob("*") if path.is_file() and text.encode() in path.read_bytes()]
