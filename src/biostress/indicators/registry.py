"""Which indicator modules exist and in which order the pipeline runs them.

Order matters where one indicator feeds another: pressures (heat, disturbance, drought) come
before guide species, which use them as stressors when present.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import ConfigError

ORDER = ("green", "habitat_quality", "fragmentation", "connectivity", "heat", "flooding", "drought", "nitrogen",
         "disturbance", "species_records", "guide_species")


def modules(enabled: list[str] | None = None) -> list[tuple[str, ModuleType]]:
    """The indicator modules to run (all known ones when ``enabled`` is None)."""
    names = list(ORDER) if enabled is None else list(enabled)
    unknown = [n for n in names if n not in ORDER]
    if unknown:
        raise ConfigError(f"Unknown indicator(s) {unknown}.", hint=f"Choose from {list(ORDER)}.")
    out = []
    for n in names:
        try:
            mod = importlib.import_module(f"{__package__}.{n}")
        except ModuleNotFoundError as e:
            if e.name == f"{__package__}.{n}":
                continue  # not part of this version
            raise
        if hasattr(mod, "compute"):
            out.append((n, mod))
    return out
