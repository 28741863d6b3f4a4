"""The web tool: a FastAPI backend (``biostress serve``) and a MapLibre front end for one run folder.

:func:`biostress.web.app.create_app` builds the app; :func:`biostress.web.serve.serve` runs it with
uvicorn. The HTTP contract is described in ``docs/web.md``.
"""
