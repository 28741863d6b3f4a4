"""``biostress serve``: run the web tool on a finished run folder with uvicorn.

The CLI (``biostress serve RUN_DIR [--host] [--port] [--users USERS.json] [--data DIR]``) calls
:func:`serve`; ``--add-user`` calls :func:`biostress.web.auth.add_user`.
"""

from __future__ import annotations

from pathlib import Path

from .auth import add_user

__all__ = ["add_user", "serve"]


def serve(run_dir: str | Path, host: str = "127.0.0.1", port: int = 8000, users: str | Path | None = None,
          data_dir: str | Path | None = None, *, report_dir: str | Path | None = None,
          geocoder_url: str | None = "default", log_level: str = "info") -> None:
    """Serve the run at ``run_dir`` on ``http://host:port/`` until interrupted (Ctrl+C).

    ``users``: editors file (JSON; create it with :func:`add_user`); ``data_dir``: folder for proposals,
    uploads, saved plans and the token secret; ``report_dir``: reports offered for download;
    ``geocoder_url``: PDOK Locatieserver root ("default" = the public service, None = offline)."""
    import uvicorn

    from .app import create_app

    app = create_app(run_dir, users=users, data_dir=data_dir, report_dir=report_dir, geocoder_url=geocoder_url)
    uvicorn.run(app, host=host, port=int(port), log_level=log_level, proxy_headers=False, server_header=False)
