"""Shared bits of the benchmark scripts: the machine description, running one case in its own
process, and appending a result table to ``bench/RESULTS.md``.

The scripts run as ``python bench/<script>.py`` (so ``bench/`` is on ``sys.path``) and import this
module as ``_common``.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"

__all__ = ["RESULTS", "ROOT", "append_results", "machine", "run_case", "run_cases", "run_child"]


def machine(*, load_average: bool = False) -> str:
    """``host · arch · N cores · Python x.y.z · M GiB RAM`` (RAM left out where the OS does not say);
    with ``load_average``, the 1-minute load average now is added ("at the end" of the run)."""
    text = f"{platform.node()} · {platform.machine()} · {os.cpu_count()} cores · Python {platform.python_version()}"
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        text += f" · {mem:.0f} GiB RAM"
    except (ValueError, OSError):
        pass
    if load_average:
        with contextlib.suppress(OSError):
            text += f" · load average {os.getloadavg()[0]:.1f} at the end"
    return text


def append_results(script: str, table: str, note: str = "", *, load_average: bool = False) -> None:
    """Append a section ``## <script> — <UTC date and time>`` with the :func:`machine` line, the
    ``note`` paragraph (if any) and the Markdown ``table`` to ``bench/RESULTS.md`` (created with a
    title when absent)."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    text += (f"\n## {script} — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n\n"
             f"Machine: {machine(load_average=load_average)}\n\n"
             + (f"{note}\n\n" if note else "") + f"{table}\n")
    RESULTS.write_text(text)


def run_case(script: str | Path, case: str) -> dict:
    """Run ``python <script> --one <case>`` in its own process (so its peak memory is its own) and
    return the JSON object it prints on its last stdout line; on failure print its stderr and exit."""
    r = subprocess.run([sys.executable, str(script), "--one", case], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        print(r.stderr, file=sys.stderr)
        raise SystemExit(f"{case} failed")
    return json.loads(r.stdout.strip().splitlines()[-1])


def run_child(one: Callable[[str], dict]) -> bool:
    """In the child process of :func:`run_case` (``<script> --one <case>``): run ``one(case)``, print
    its result as one JSON line and return True. Otherwise (the parent) return False."""
    if len(sys.argv) > 2 and sys.argv[1] == "--one":
        print(json.dumps(one(sys.argv[2])))
        return True
    return False


def run_cases(script: str | Path, cases: list[str], skip: Callable[[str], str | None] | None = None) -> list[dict]:
    """Run each case with :func:`run_case`, in order, and return their results. ``skip(case)`` may
    return a reason to leave a case out (printed as ``skip <case>: <reason>``) or None to run it (it
    may prepare the case's inputs first)."""
    rows = []
    for c in cases:
        reason = skip(c) if skip is not None else None
        if reason:
            print(f"skip {c}: {reason}", file=sys.stderr)
            continue
        print(f"running {c} ...", file=sys.stderr, flush=True)
        rows.append(run_case(script, c))
    return rows
