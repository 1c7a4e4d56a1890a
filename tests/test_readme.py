"""The README cannot drift from the code: its examples run here, exactly as written.

* Every ```python block runs on its own (a reader copies one block), in a
  scratch folder.  A line ``print(...)  # -> text`` says what it prints, and
  a comment line ``# -> text`` right after adds a further line: the block's
  output must be exactly those lines.  A first line ``# needs: module``
  skips the block when that module is absent.
* The ``rleaky-viz simulate|figure|nir|presets`` lines of the ```bash blocks run
  through ``python -m rleaky_viz.cli`` and must succeed.
* Files, images and pages the README names must exist; the URL flags and
  commands it documents must be the ones the code has.
"""
import contextlib
import importlib.util
import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio
import pytest

from rleaky_viz import SimConfig
from rleaky_viz.cli import build_parser
from rleaky_viz.ui.classroom import CONTROL_GROUPS, CONTROLS_PARAM, PRESENT_PARAM

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(README) if lang == language]


PYTHON = blocks("python")


def expected_output(code: str) -> list[str]:
    out = []
    for line in code.splitlines():
        m = re.search(r"#\s*->\s?(.*)$", line)
        if not m:
            continue
        if not line.lstrip().startswith("#") and "print(" not in line:
            raise AssertionError(f"'# ->' belongs on a print line: {line!r}")
        out.append(m.group(1).rstrip())
    return out


def test_readme_has_the_examples():
    assert len(PYTHON) >= 6
    text = "\n".join(PYTHON)
    for name in ("SimConfig", "simulate(", "PRESETS", "gradient_flow", "RLeaky", "unroll(",
                 "fig.show()"):
        assert name in text, name
    if (ROOT / "rleaky_viz" / "sweeps.py").exists():
        assert "from rleaky_viz.sweeps import sweep" in text


@pytest.mark.parametrize("code", PYTHON, ids=[f"block{i}" for i in range(len(PYTHON))])
def test_python_example_runs_and_prints_what_it_says(code, tmp_path, monkeypatch):
    first = code.splitlines()[0]
    if first.startswith("# needs:"):
        module = first.split(":", 1)[1].strip()
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not there")
    shown = []
    monkeypatch.setattr(go.Figure, "show", lambda self, *a, **k: shown.append(self))
    monkeypatch.setattr(pio, "show", lambda fig, *a, **k: shown.append(fig))
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})
    assert [line.rstrip() for line in out.getvalue().splitlines()] == expected_output(code)
    if "fig.show()" in code:
        assert shown and all(isinstance(f, go.Figure) for f in shown)


def cli_lines() -> list[str]:
    lines = []
    for body in blocks("bash"):
        for line in body.splitlines():
            line = line.split("  #")[0].strip()
            if re.match(r"rleaky-viz (simulate|figure|nir|presets)\b", line):
                lines.append(line)
    return lines


def test_cli_examples_run(tmp_path):
    lines = cli_lines()
    assert any(" simulate " in f" {line} " for line in lines)
    assert any(" figure " in f" {line} " for line in lines)
    (tmp_path / "my_run.json").write_text(SimConfig(num_steps=50).to_json())  # "as the app exports it"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    for line in lines:
        args = shlex.split(line)[1:]
        result = subprocess.run([sys.executable, "-m", "rleaky_viz.cli", *args], cwd=tmp_path,
                                env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, (line, result.stderr)
        if "--out" in args:
            assert (tmp_path / args[args.index("--out") + 1]).stat().st_size > 0, line


def test_documented_cli_options_exist():
    parser = build_parser()
    help_text = {name: sub.format_help() for name, sub in
                 parser._subparsers._group_actions[0].choices.items()}
    assert set(help_text) == {"app", "simulate", "figure", "nir", "presets"}
    for option in re.findall(r"`(--[a-z-]+)", README):
        assert any(option in text for text in help_text.values()), option
    for kind in re.findall(r"`(\w+)`", README.split("`--kind` is", 1)[1].split("with `--neuron`")[0]):
        assert kind in help_text["figure"], kind


def test_files_and_images_named_exist():
    for target in re.findall(r"\]\(([^)#:]+)\)", README):  # relative links and images
        assert (ROOT / target).exists(), target
    for path in re.findall(r"`((?:tests|benchmarks|rleaky_viz|pages)/[\w/.]+\.(?:py|md))`", README):
        assert (ROOT / path).exists(), path


def test_every_page_is_described():
    pages = section("## Pages")
    for page in sorted((ROOT / "pages").glob("*.py")):
        title = re.sub(r"^\d+_", "", page.stem).replace("_", " ")
        assert f"**{title}**" in pages, title


def test_classroom_flags_are_the_real_ones():
    teaching = section("## Teaching with it")
    assert f"?{PRESENT_PARAM}=1" in teaching and f"?{CONTROLS_PARAM}=beta,threshold" in teaching
    for group in CONTROL_GROUPS:
        assert f"`{group}`" in teaching
    assert "/Lesson?step=" in teaching


def section(heading: str) -> str:
    start = README.index(heading)
    end = README.find("\n## ", start + len(heading))
    return README[start:end if end != -1 else None]
