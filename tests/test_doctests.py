"""The examples in the docstrings (``>>>``) run and give what they show."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "biostress"
MODULES = sorted(
    "biostress." + ".".join(p.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
    for p in SRC.rglob("*.py") if ">>> " in p.read_text(encoding="utf-8")
)


def test_there_are_examples():
    assert len(MODULES) >= 10  # modules whose examples are all "+SKIP" (need a run folder) count, run nothing


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    mod = importlib.import_module(name)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed (see the output)"
