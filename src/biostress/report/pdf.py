"""HTML to PDF with WeasyPrint, offline and confined to the report folder.

:func:`html_to_pdf` renders an HTML file of the report folder to PDF. Every resource the HTML
refers to (images, style sheets) is fetched by :class:`LocalFetcher`, which refuses anything that is
not a ``file:`` URL of a regular file inside the report folder (no ``http(s):``, ``data:``,
``ftp:``; no file outside the folder, also not through ``..`` or a symbolic link): the refusal stops
the rendering with an :class:`~biostress.errors.UnsafeInputError`. Fonts come from the system
(fontconfig; DejaVu is installed by ``make setup``).

WeasyPrint needs the Pango library. Without it importing WeasyPrint raises ``OSError``;
:func:`load_weasyprint` turns that into :class:`PdfUnavailableError` naming the system packages to
install (``scripts/install_system_deps.sh``, run by ``make setup``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ..errors import BiostressError, UnsafeInputError

SYSTEM_PACKAGES = "libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b"


class PdfUnavailableError(BiostressError):
    """The PDF could not be made (WeasyPrint or its system libraries are missing). ``written``
    lists the files that were written all the same (the HTML)."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None, written: dict[str, Path] | None = None) -> None:
        super().__init__(message, hint=hint)
        self.written = dict(written or {})


def load_weasyprint() -> Any:
    """Import WeasyPrint, or raise :class:`PdfUnavailableError` saying what to install."""
    try:
        import weasyprint
    except OSError as e:  # Pango / GObject / HarfBuzz not found by cffi
        raise PdfUnavailableError(
            f"The PDF cannot be made: WeasyPrint cannot load the Pango text library ({e}).",
            hint=f"Install the system packages {SYSTEM_PACKAGES} (e.g. 'sudo apt-get install {SYSTEM_PACKAGES}', "
                 "or run 'make setup', which installs them). The HTML report is written all the same.") from None
    except ImportError as e:
        raise PdfUnavailableError(
            f"The PDF cannot be made: WeasyPrint is not installed ({e}).",
            hint="Install biostress with its dependencies ('make setup' or 'pip install -e .').") from None
    return weasyprint


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def check_local_url(url: str, root: Path) -> Path:
    """The file a ``file:`` URL points to when it is a regular file inside ``root`` (symbolic links
    resolved); :class:`UnsafeInputError` otherwise."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "file":
        raise UnsafeInputError(f"The report refers to {url!r}, which is not a local file; reports are made offline.",
                               hint="Refer only to files inside the report folder (relative paths).")
    if parts.netloc not in ("", "localhost"):
        raise UnsafeInputError(f"The report refers to a file on another host: {url!r}.")
    p = Path(unquote(parts.path)).resolve()
    r = Path(root).resolve()
    if not _inside(p, r):
        raise UnsafeInputError(f"The report refers to {p}, outside the report folder {r}.",
                               hint="Copy the file into the report folder and refer to it by a relative path.")
    if not p.is_file():
        raise UnsafeInputError(f"The report refers to {p}, which is not a file in the report folder.")
    return p


def local_fetcher(root: Path) -> Any:
    """A WeasyPrint URL fetcher that serves only regular files inside ``root`` (see the module
    docstring); any other URL stops the rendering."""
    wp = load_weasyprint()
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class LocalFetcher(URLFetcher):
        def __init__(self) -> None:
            super().__init__(fail_on_errors=True, allowed_protocols=("file",))
            self.root = Path(root).resolve()
            self.fetched: list[Path] = []

        def fetch(self, url: str, headers: Any = None) -> Any:
            p = check_local_url(url, self.root)
            self.fetched.append(p)
            return URLFetcherResponse(p.as_uri(), body=p.read_bytes(), headers={})

    del wp
    return LocalFetcher()


def html_to_pdf(html_path: Path, pdf_path: Path, root: Path) -> Path:
    """Render ``html_path`` (inside ``root``) to ``pdf_path`` with :func:`local_fetcher`; written
    atomically. Returns ``pdf_path``."""
    wp = load_weasyprint()
    from weasyprint.urls import FatalURLFetchingError

    html_path, root = Path(html_path).resolve(), Path(root).resolve()
    if not _inside(html_path, root):
        raise UnsafeInputError(f"The HTML {html_path} is not inside the report folder {root}.")
    fetcher = local_fetcher(root)
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    try:
        doc = wp.HTML(string=html_path.read_text(encoding="utf-8"), base_url=html_path.as_uri(), url_fetcher=fetcher)
        tmp = pdf_path.with_name(f".{pdf_path.name}.tmp-{os.getpid()}")
        try:
            doc.write_pdf(tmp, uncompressed_pdf=False)
            os.replace(tmp, pdf_path)
        finally:
            tmp.unlink(missing_ok=True)
    except FatalURLFetchingError as e:
        cause = e.__cause__
        if isinstance(cause, UnsafeInputError):
            raise UnsafeInputError(cause.message, hint=cause.hint) from None
        raise UnsafeInputError(f"The PDF could not fetch a resource of the report: {e}") from None
    return pdf_path


__all__ = ["PdfUnavailableError", "SYSTEM_PACKAGES", "check_local_url", "html_to_pdf", "load_weasyprint",
           "local_fetcher"]
