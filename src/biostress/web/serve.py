"""``biostress serve``: run the web tool on a finished run folder with uvicorn.

The CLI (``biostress serve RUN_DIR [--host] [--port] [--users USERS.json] [--data DIR] [--workers N]``) calls
:func:`serve`; ``--add-user`` calls :func:`biostress.web.auth.add_user`.

Before the server listens, the caches the requests read are filled (by :func:`prepare`, or with one worker on
the app it serves, so the run is read once) (:mod:`biostress.web.cellcache`:
the raster layers in one memory-mapped file; :meth:`biostress.web.plot.PlotService.precompute`: the measures of
every cell), printing progress; a later start of the same run reads them back at once. With ``workers`` > 1
uvicorn starts that many processes (each opens the same cache files; the operating system shares their
pages), so requests use both cores of a small machine.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .auth import add_user

__all__ = ["add_user", "prepare", "serve"]

_ENV = "BIOSTRESS_SERVE_OPTIONS"


def prepare(run_dir: str | Path, data_dir: str | Path | None = None, *, measures: bool = True, cache: bool = True,
            progress: Callable[[str], None] | None = print) -> None:
    """Fill the server's caches for ``run_dir`` now (see the module docstring); ``cache=False``: no layer cache
    (tiles and values are read through GDAL), ``measures=False``: no measure table."""
    from .cellcache import cache_dir_for
    from .plot import PlotService
    from .state import load_state

    state = load_state(run_dir)
    data = Path(data_dir).resolve() if data_dir is not None else None
    if data is not None:
        data.mkdir(parents=True, exist_ok=True)
    cache_dir = cache_dir_for(state.run_dir, data)
    if cache:
        state.attach_stack(cache_dir, progress)
    if measures:
        plots = PlotService(state)
        plots.warm()
        plots.precompute(cache_dir, progress=progress)


def _options(run_dir: str | Path, users: str | Path | None, data_dir: str | Path | None,
             report_dir: str | Path | None, geocoder_url: str | None, cache: bool) -> dict[str, Any]:
    return {"run_dir": str(run_dir), "cache": cache, "users": None if users is None else str(users),
            "data_dir": None if data_dir is None else str(data_dir),
            "report_dir": None if report_dir is None else str(report_dir), "geocoder_url": geocoder_url}


def app_from_env() -> Any:
    """The app of one uvicorn worker process, from the options :func:`serve` put in the environment."""
    from .app import create_app
    from .fastpath import HotPaths

    o = json.loads(os.environ[_ENV])
    return HotPaths.in_front_of(create_app(o.pop("run_dir"), **o))


def serve(run_dir: str | Path, host: str = "127.0.0.1", port: int = 8000, users: str | Path | None = None,
          data_dir: str | Path | None = None, *, report_dir: str | Path | None = None,
          geocoder_url: str | None = "default", log_level: str = "info", workers: int = 1,
          precompute: bool = True, cache: bool = True, access_log: bool = False,
          progress: Callable[[str], None] | None = print,
          ready: Callable[[], None] | None = None) -> None:
    """Serve the run at ``run_dir`` on ``http://host:port/`` until interrupted (Ctrl+C).

    ``users``: editors file (JSON; create it with :func:`add_user`); ``data_dir``: folder for proposals,
    uploads, saved plans, the token secret and the caches; ``report_dir``: reports offered for download;
    ``geocoder_url``: PDOK Locatieserver root ("default" = the public service, None = offline);
    ``workers``: server processes; ``precompute``: compute the measures of every cell first (:func:`prepare`);
    ``cache``: keep the raster layers in one memory-mapped file (about 4 bytes x layers x cells on disk);
    ``access_log``: log every request (uvicorn's access log; off by default: at thousands of map requests a
    second it costs about a tenth of the server's time)."""
    import uvicorn

    if workers < 1:
        from ..errors import ConfigError

        raise ConfigError(f"--workers must be at least 1, not {workers}.")
    opts = _options(run_dir, users, data_dir, report_dir, geocoder_url, cache)
    if workers == 1:  # one process: prepare the caches on the app it serves (the run is read once)
        from .app import create_app
        from .cellcache import cache_dir_for
        from .fastpath import HotPaths

        app = create_app(opts.pop("run_dir"), **opts, warm=not precompute, progress=progress)
        if precompute:
            state = app.state.run
            app.state.plots.precompute(cache_dir_for(state.run_dir, Path(data_dir).resolve() if data_dir else None),
                                       progress=progress)
        if ready is not None:
            ready()
        uvicorn.run(HotPaths.in_front_of(app), host=host, port=int(port), log_level=log_level, proxy_headers=False,
                    server_header=False, access_log=access_log)
        return
    prepare(run_dir, data_dir, measures=precompute, cache=cache, progress=progress)
    if ready is not None:
        ready()
    os.environ[_ENV] = json.dumps(opts)
    uvicorn.run("biostress.web.serve:app_from_env", factory=True, workers=int(workers), host=host, port=int(port),
                log_level=log_level, proxy_headers=False, server_header=False, access_log=access_log)
