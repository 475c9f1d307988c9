"""The README's promises, read from README.md itself (so a drifting README fails here): the two
commands of a fresh machine first, a table of contents, links that resolve, and the quick start's
commands run as written on the embedded data.

Run as written: ``eval`` (on ``results.json``, which stands for the user's results file: a seeded
jitter of the embedded ground truth, ``test_cli_conventions.write_embedded_results``), ``run``,
``baseline`` and ``check``. Parsed only (every option known to the parser, no run): ``all``
(about 6 minutes on a 2-core machine; ``tests/test_cli.py`` runs a smaller ``bench all``) and
``speed --device cuda`` (needs a GPU and downloaded weights)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli_conventions import write_embedded_results

from bench.cli.main import build_parser

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
FRESH_MACHINE = [
    'python3 -m venv .venv && .venv/bin/pip install -e ".[all]" && .venv/bin/python -m bench all',
    'python3 -m venv .venv && .venv/bin/pip install -e ".[dev]" && .venv/bin/python -m pytest',
]
PARSE_ONLY = {"all", "speed"}


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end > 0 else None]


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")


def quick_start_commands() -> list[list[str]]:
    block = re.search(r"```bash\n(.*?)```", section("Quick start"), re.S).group(1)
    return [shlex.split(line)[3:] for line in block.splitlines() if line.startswith("python -m bench ")]


def test_the_first_lines_are_the_two_commands_of_a_fresh_machine():
    first_block = re.search(r"```bash\n(.*?)```", README, re.S).group(1)
    assert first_block.splitlines() == FRESH_MACHINE
    assert README.index("```bash") < 200


def test_contents_quick_start_size_and_links():
    assert "## Contents" in README and README.index("## Contents") < README.index("## Quick start")
    slugs = {slug(h) for h in re.findall(r"^#+ (.+)$", README, re.M)}
    for anchor in re.findall(r"\]\(#([a-z0-9-]+)\)", README):
        assert anchor in slugs, anchor
    assert len(section("Quick start").splitlines()) <= 42
    links = set(re.findall(r"\]\((docs/[a-z0-9-]+\.md)", README))
    assert {"docs/scoring.md", "docs/runs-and-gate.md", "docs/speed.md", "docs/layout.md"} <= links
    missing = {link for link in links if not (REPO / link).exists()}
    assert not missing, f"README links to missing pages: {missing}"


def test_quick_start_covers_the_five_jobs_and_every_command_parses():
    commands = quick_start_commands()
    assert [c[0] for c in commands] == ["eval", "run", "all", "baseline", "check", "speed"]
    parser = build_parser()
    for argv in commands:
        parser.parse_args(argv)  # an unknown or misspelled option exits 2 here


def test_quick_start_commands_run_as_written(tmp_path):
    """eval, run, baseline and check, in a folder where the README's relative paths resolve."""
    for name in ("bench", "detectors"):
        (tmp_path / name).symlink_to(REPO / name)
    write_embedded_results(tmp_path / "results.json")
    outputs = {}
    for argv in quick_start_commands():
        if argv[0] in PARSE_ONLY:
            continue
        proc = subprocess.run([sys.executable, "-m", "bench", *argv], capture_output=True, text=True, timeout=900, cwd=tmp_path, check=False)
        assert proc.returncode == 0, f"{argv}: {proc.stderr[-2000:]}"
        outputs[argv[0]] = proc.stdout
    assert "  classes: 71 with ground truth of 80 (lowest AP: " in outputs["eval"] and "  AP      35.1\n" in outputs["eval"]
    box = next(line for line in outputs["run"].splitlines() if line.startswith("box"))
    assert box.startswith("box   AP 30.3  AP50 46.9"), box  # the README's table: yolox_nano on coco-val2017-mini
    assert "latency p50 " in outputs["run"] and "stored in runs/" in outputs["run"]
    assert outputs["baseline"].strip() == "wrote baseline.json: 1 units"
    assert outputs["check"].rstrip().splitlines()[-1].startswith("no regressions") and "+0.00 pts" in outputs["check"]  # speed rows may be "machine busy": listed, not judged


@pytest.mark.parametrize("page", sorted(p.name for p in (REPO / "docs").glob("*.md")))
def test_docs_pages_link_back_and_resolve(page):
    text = (REPO / "docs" / page).read_text()
    assert text.startswith("[← README](../README.md)")
    for link in re.findall(r"\]\(([a-z0-9-]+\.md)[)#]", text):
        assert (REPO / "docs" / link).exists(), f"{page} -> {link}"
