"""biostress: biodiversity stress test and opportunity map from open geodata.

Library use (no CLI needed)::

    from biostress import load_area, run_area
    result = run_area(load_area("examples/dordrecht/area.yaml"), "runs/dordrecht")
"""

__version__ = "0.1.0"

from .config import AreaConfig, load_area  # noqa: E402
from .errors import BiostressError  # noqa: E402
from .grid import Grid  # noqa: E402


def run_area(*args, **kwargs):  # noqa: ANN002, ANN003 - thin lazy wrapper
    """See :func:`biostress.pipeline.run_area`."""
    from .pipeline import run_area as _run

    return _run(*args, **kwargs)


__all__ = ["AreaConfig", "BiostressError", "Grid", "__version__", "load_area", "run_area"]
