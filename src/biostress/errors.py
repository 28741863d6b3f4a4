"""One root error type with a few subclasses carrying user-facing messages.

Every error raised on purpose by biostress derives from :class:`BiostressError`. The message is
written for the person running the tool: it names the file (or URL, or setting) at fault and
says what to do about it. The CLI prints the message without a traceback and exits with
:attr:`BiostressError.exit_code` (2 = usage/configuration error, 1 = data error).
"""

from __future__ import annotations


class BiostressError(Exception):
    """Root of all biostress errors. ``exit_code`` is what the CLI returns."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message}\n  What to do: {hint}")


class ConfigError(BiostressError):
    """The area configuration (YAML) or a parameter table is invalid. A usage error."""

    exit_code = 2


class UnsafeInputError(BiostressError):
    """A path or URL was refused: outside the allowed root, a GDAL /vsi path, a bad scheme."""

    exit_code = 2


class InputDataError(BiostressError):
    """An input file is unreadable or unusable: corrupt, wrong format, wrong CRS, bad geometry,
    missing columns."""

    exit_code = 1


class NoOverlapError(InputDataError):
    """The data does not overlap the area of interest."""


class FetchError(BiostressError):
    """An online service could not be reached or answered with something unusable."""

    exit_code = 1


class OutputExistsError(BiostressError):
    """The output folder exists and ``--overwrite`` was not given."""

    exit_code = 2
