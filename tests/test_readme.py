"""README's quick start: exactly two commands, and CI runs the test command verbatim."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _quick_start_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [b.strip() for b in blocks]


def test_quick_start_has_the_main_job_then_the_tests():
    commands = _quick_start_commands()[:2]
    assert len(commands) == 2
    main_job, tests = commands
    assert "demix --example" in main_job and "pip install" in main_job
    assert "pytest" in tests and ".[dev]" in tests


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text()
    assert _quick_start_commands()[1] in ci
