"""Shared helpers: small area files in tmp_path built on the shipped Dordrecht sample data."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "examples" / "dordrecht" / "data"
# 1 km x 1 km of Dordrecht (RD New): a pipeline run on it takes a few seconds.
SMALL_BBOX = [105000.0, 424000.0, 106000.0, 425000.0]


def source(name: str, kind: str, path: str | None = None, **extra) -> dict:
    """One entry of ``sources:`` with the required provenance fields filled in."""
    s = {"name": name, "kind": kind, "licence": "CC0-1.0", "attribution": "test", "date": "2024", **extra}
    if path is not None:
        s["path"] = path
    return s


@pytest.fixture
def write_area(tmp_path: Path):
    """``write_area(sources, folder="proj", **top)`` writes ``<tmp_path>/<folder>/area.yaml`` (a 1 km
    bbox with hexagon units unless ``boundary``/``units`` are given) and returns its path."""

    def _write(sources: list[dict], *, folder: str = "proj", **top) -> Path:
        d = tmp_path / folder
        d.mkdir(parents=True, exist_ok=True)
        doc = {"name": "Test area", "boundary": {"bbox": SMALL_BBOX}, "units": {"kind": "hexagon"},
               "sources": sources, **top}
        p = d / "area.yaml"
        p.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return p

    return _write


@pytest.fixture
def sample_copy(tmp_path: Path):
    """``sample_copy(name, folder="proj")`` copies a sample file or folder into the project folder
    (paths must stay inside the allowed root) and returns the copy's path."""

    def _copy(name: str, folder: str = "proj", as_name: str | None = None) -> Path:
        src = SAMPLE_DATA / name
        dst = tmp_path / folder / (as_name or name)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)
        return dst

    return _copy


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``python -m biostress.cli ARGS`` in a subprocess: the real exit code, stdout and stderr
    (wide console so long paths in messages are not wrapped)."""
    env = {**os.environ, "COLUMNS": "400", "NO_COLOR": "1", "TERM": "dumb"}
    return subprocess.run([sys.executable, "-m", "biostress.cli", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
