"""The README's set-up commands are the ones CI runs: a change that breaks them breaks CI."""

from __future__ import annotations

import re


def readme_commands(project_root) -> list[str]:
    text = (project_root / "README.md").read_text()
    return re.findall(r"```bash\n(python3 -m venv .venv && [^\n]+)\n```", text)


def test_readme_test_command_is_what_ci_runs(project_root):
    ci_lines = (project_root / ".ci" / "run").read_text().splitlines()
    main_job, tests = readme_commands(project_root)[:2]

    assert tests in ci_lines
    assert main_job.endswith("dvc repro") and tests.endswith("python -m pytest")
