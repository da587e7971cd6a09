"""The project's DVC remote: by default a directory beside the repository, so clones placed side by side
share it. `dvc push` after a run stores data/ and models/ there; a fresh clone pulls them and finds the
pipeline up to date."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import TARGETS, commit_all, git_changes, sh

REMOTE_DIR = "toy-ann-lab-dvc-remote"  # beside the repository
UP_TO_DATE = "Data and pipelines are up to date."

# What a run leaves for git: params.yaml (composed by `dvc exp run`), dvc.lock and the outputs declared
# `cache: false`, each already committed by main's baseline, so each one modified and none new. data/ and
# models/ go to the remote: the .gitignore files DVC wrote for them are committed too, and stay as they are.
LEFT_FOR_GIT = {
    "params.yaml",
    "dvc.lock",
    "reports/summary.md",
    "reports/summary.html",
    *(f"{folder}/{target}.json" for folder in ("metrics", "evaluations") for target in TARGETS),
    *(f"plots/loss/{target}.csv" for target in TARGETS),
}
CACHED = [
    "data/gaussian.npz",
    "data/gamma.npz",
    "data/drawn_coefficients.json",
    *(f"models/{target}/{name}" for target in TARGETS for name in ("model.keras", "weights.json", "history.json")),
]


def default_remote(repo: Path, *level: str) -> Path:
    """Where `dvc push` in `repo` sends files: its default remote's url, as DVC resolves it."""
    name = sh("dvc", "config", *level, "core.remote", cwd=repo).stdout.strip()
    return Path(sh("dvc", "config", *level, f"remote.{name}.url", cwd=repo).stdout.strip())


@pytest.mark.slow
def test_default_remote_is_the_directory_beside_each_copy_of_the_project(project_root, project_copy):
    for repo in (project_root, project_copy):
        # --project: the committed .dvc/config, whatever a user's .dvc/config.local says
        assert sh("dvc", "config", "--project", "core.remote", cwd=repo).stdout.strip() == "local"
        assert default_remote(repo, "--project").resolve() == (repo.parent / REMOTE_DIR).resolve()


@pytest.mark.slow
def test_a_run_leaves_for_git_only_files_main_already_commits(tiny_experiment):
    # `dvc exp run -S <TINY>`: `dvc repro` on conf/ composed with TINY
    assert git_changes(tiny_experiment) == dict.fromkeys(LEFT_FOR_GIT, " M")


@pytest.mark.slow
def test_a_fresh_clone_pulls_what_was_pushed_and_finds_the_pipeline_up_to_date(tiny_experiment, tiny_experiment_copy, tmp_path):
    store = tmp_path / "dvc-store"
    sh("dvc", "remote", "modify", "local", "url", str(store), cwd=tiny_experiment_copy)
    assert default_remote(tiny_experiment_copy) == store  # never the real remote beside the project
    commit_all(tiny_experiment_copy, "the run, with the remote in a temporary directory")
    sh("dvc", "push", cwd=tiny_experiment_copy)

    clone = tmp_path / "clone"
    sh("git", "clone", "-q", str(tiny_experiment_copy), str(clone), cwd=tmp_path)
    sh("dvc", "pull", cwd=clone)

    repro = sh("dvc", "repro", cwd=clone).stdout
    assert UP_TO_DATE in repro and "Running stage" not in repro
    assert sh("dvc", "status", cwd=clone).stdout.strip() == UP_TO_DATE
    assert git_changes(clone) == {}
    for name in CACHED:
        assert (clone / name).read_bytes() == (tiny_experiment / name).read_bytes(), name
