"""One output folder per run, replaced atomically.

``with RunFolder(out_dir) as run: ...`` writes every output into a *staging* folder next to
``out_dir`` (``.<name>.staging-<pid>-<random>``, same file system, so renames are atomic). When
the block ends without an exception the run's ``manifest.json`` is written, everything is
fsync'ed and the staging folder takes the place of ``out_dir``. On an exception the staging
folder is deleted and ``out_dir`` is never touched. A run killed outright (SIGKILL, power cut)
leaves only its staging folder behind, which the next run against the same ``out_dir`` removes
(only staging folders whose process is gone are removed, so two runs may share a parent folder).

The swap and its crash window
-----------------------------
POSIX cannot atomically exchange two non-empty directories, so the swap is two renames:

1. ``out_dir`` -> ``.<name>.old-<pid>-<random>`` (only if a previous result exists),
2. staging -> ``out_dir``,
3. delete the ``.old-`` folder.

Each rename is atomic and followed by an fsync of the parent folder. At every instant the
previous complete result is at ``out_dir`` (before 1) or at the ``.old-`` sibling (between 1 and
3), and the new complete result is in the staging folder (before 2) or at ``out_dir`` (after 2);
no folder is ever half-written at ``out_dir``. The only state that needs repair is a crash
between 1 and 2: ``out_dir`` is missing and the previous result sits in ``.old-``. The next
:class:`RunFolder` for that ``out_dir`` renames the orphaned ``.old-`` folder back to
``out_dir`` before doing anything else (and records that in its manifest warnings). A ``.old-``
folder found while ``out_dir`` exists (crash between 2 and 3) is a leftover and is deleted.

Limitations: "process is gone" is decided with the process id on *this* machine; do not point
runs on several machines at the same output folder at the same time. On Windows stale staging
folders are never removed automatically (no safe liveness test without extra dependencies).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import os
import platform
import re
import secrets
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any

import numpy as np

from ..errors import BiostressError, OutputExistsError
from ..grid import Grid
from . import gpkg as _gpkg
from .cog import CogWriter, sidecar_paths, write_cog

__all__ = ["MANIFEST_NAME", "RunFolder", "software_versions"]

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
MANIFEST_SCHEMA = 1
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


# ---------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs on this machine (zombies count as gone)."""
    if pid <= 0:
        return False
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, belongs to someone else
        return True
    except OSError:
        return False
    try:  # a killed but not yet reaped child is a zombie: it will never finish its run
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _pid_of(suffix: str) -> int | None:
    """The pid in a ``<pid>-<random>`` staging/old suffix, or ``None``."""
    head = suffix.split("-", 1)[0]
    return int(head) if head.isdigit() else None


def _fsync_dir(path: Path) -> None:
    if os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError:  # some file systems do not support fsync on directories
        pass
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def _rmtree(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


def _jsonable(obj: Any) -> Any:
    """Convert ``obj`` into plain JSON types (paths, numpy values, dates, NaN -> null)."""
    if obj is None or isinstance(obj, bool | str | int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        items = sorted(obj, key=str) if isinstance(obj, set | frozenset) else obj
        return [_jsonable(v) for v in items]
    if isinstance(obj, dt.datetime | dt.date | dt.time):
        return obj.isoformat()
    if isinstance(obj, Grid):
        return obj.to_dict()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return str(obj)


def _biostress_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("biostress")
    except PackageNotFoundError:
        pass
    try:
        import biostress

        return str(getattr(biostress, "__version__", "unknown"))
    except ImportError:  # pragma: no cover
        return "unknown"


def software_versions() -> dict[str, str]:
    """Versions of Python and of the geospatial stack, for the manifest."""
    import geopandas
    import pyogrio
    import pyproj
    import rasterio
    import shapely

    return {
        "biostress": _biostress_version(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "gdal": rasterio.__gdal_version__,
        "rasterio": rasterio.__version__,
        "geopandas": geopandas.__version__,
        "shapely": shapely.__version__,
        "geos": shapely.geos_version_string,
        "pyproj": pyproj.__version__,
        "proj": pyproj.proj_version_str,
        "pyogrio": pyogrio.__version__,
        "pyogrio_gdal": pyogrio.__gdal_version_string__,
    }


# ---------------------------------------------------------------------------------------------
# RunFolder
# ---------------------------------------------------------------------------------------------


class RunFolder:
    """``with RunFolder(out_dir, overwrite=False) as run: ...`` writes into a staging folder; on
    success ``manifest.json`` is written and the staging folder atomically replaces
    ``out_dir``; on any exception (or SIGKILL) ``out_dir`` is untouched.

    Attributes:
        out_dir: the final output folder (absolute).
        path: the staging folder to write into while the run is open
            (``out_dir.parent / ".<out_dir.name>.staging-<pid>-<random>"``).
        gpkg: the run's GeoPackage inside :attr:`path` (created on first vector/table).
        manifest: the manifest written on success (``None`` before).
    """

    def __init__(self, out_dir: Path | str, *, overwrite: bool = False, gpkg_name: str = "biostress.gpkg") -> None:
        out = Path(out_dir).expanduser()
        if out.name in {"", ".", ".."}:
            raise OutputExistsError(f"{out_dir!s} cannot be used as an output folder.",
                                    hint="Give a folder name, e.g. results/dordrecht.")
        self.out_dir: Path = out.resolve()
        if not (_NAME_RE.match(gpkg_name) and gpkg_name.lower().endswith(".gpkg")):
            raise ValueError(f"Invalid GeoPackage name {gpkg_name!r}.")
        self.overwrite = overwrite
        self._warnings: list[str] = []
        # repair what killed runs left behind before looking at out_dir
        self._recover()
        self._check_out_dir()
        self._token = f"{os.getpid()}-{secrets.token_hex(4)}"
        self.path: Path = self.out_dir.parent / f".{self.out_dir.name}.staging-{self._token}"
        self.gpkg: Path = self.path / gpkg_name
        self.gpkg_name = gpkg_name
        self.manifest: dict[str, Any] | None = None
        self._state = "new"
        self._run_id = str(uuid.uuid4())
        self._started = ""
        self._t0 = 0.0
        self._grid: Grid | None = None
        self._params: dict[str, Any] = {}
        self._inputs: list[dict[str, Any]] = []
        self._outputs: list[dict[str, Any]] = []
        self._info: dict[str, Any] = {}
        self._timings: dict[str, float] = {}

    # -- lifecycle -----------------------------------------------------------------------------

    def _check_out_dir(self) -> None:
        out = self.out_dir
        if out.exists() and not out.is_dir():
            raise OutputExistsError(
                f"The output path {out} exists and is a file, not a folder.",
                hint="Choose a folder name that is not an existing file.",
            )
        if out.is_dir() and not self.overwrite and any(out.iterdir()):
            raise OutputExistsError(
                f"The output folder {out} already exists and is not empty.",
                hint="Pass --overwrite to replace it, or choose another output folder.",
            )

    def _recover(self) -> None:
        """Remove staging folders of dead runs; restore or remove orphaned ``.old-`` folders."""
        out = self.out_dir
        parent = out.parent
        if not parent.is_dir():
            return
        stage_prefix = f".{out.name}.staging-"
        old_prefix = f".{out.name}.old-"
        orphans: list[Path] = []
        for entry in parent.iterdir():
            name = entry.name
            if name.startswith(stage_prefix):
                pid = _pid_of(name[len(stage_prefix):])
                if pid is not None and not _pid_alive(pid):
                    log.info("Removing the staging folder of an interrupted run: %s", entry)
                    _rmtree(entry)
            elif name.startswith(old_prefix):
                pid = _pid_of(name[len(old_prefix):])
                if pid is None or not _pid_alive(pid):
                    orphans.append(entry)
        if not orphans:
            return
        orphans.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        if not out.exists() and orphans[0].is_dir():
            # a run died between moving the previous result aside and moving its own in
            os.rename(orphans[0], out)
            _fsync_dir(parent)
            msg = f"Restored the previous result of an interrupted run from {orphans[0].name} to {out}."
            log.warning(msg)
            self._warnings.append(msg)
            orphans = orphans[1:]
        for entry in orphans:
            _rmtree(entry)

    def __enter__(self) -> RunFolder:
        if self._state != "new":
            raise BiostressError("A RunFolder can only be entered once.")
        self.out_dir.parent.mkdir(parents=True, exist_ok=True)
        self.path.mkdir()
        self._state = "open"
        self._started = _utc_now()
        self._t0 = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc_type is not None:
            self._discard()
            return False
        try:
            self._commit()
        except BaseException:
            self._discard()
            raise
        return False

    def _discard(self) -> None:
        _rmtree(self.path)
        self._state = "closed"

    def _require_open(self) -> None:
        if self._state != "open":
            raise BiostressError("The RunFolder is not open; use it as `with RunFolder(...) as run:`.")

    # -- recording -----------------------------------------------------------------------------

    def set_grid(self, grid: Grid) -> None:
        """Record the run's analysis grid (otherwise the grid of the first raster is used)."""
        self._grid = grid

    def set_parameters(self, params: Mapping[str, Any]) -> None:
        """Record the run's parameters (replaces earlier ones)."""
        self._params = dict(params)

    def add_warning(self, msg: str) -> None:
        """Record a warning the user should see in the manifest."""
        self._warnings.append(str(msg))

    def set_info(self, key: str, value: Any) -> None:
        """Record any other run information under ``info.<key>``."""
        self._info[str(key)] = value

    def add_input(
        self,
        name: str,
        path_or_url: str | os.PathLike[str],
        *,
        sha256: str | None,
        licence: str | None,
        attribution: str | None,
        date: str | dt.date | None,
        **extra: Any,
    ) -> None:
        """Record an input data set: where it came from, its checksum, licence and date."""
        entry: dict[str, Any] = {"name": str(name)}
        loc = os.fspath(path_or_url)
        if _URL_RE.match(loc):
            entry["url"] = loc
        else:
            entry["path"] = loc
        entry.update({"sha256": sha256, "licence": licence, "attribution": attribution, "date": date})
        entry.update(extra)
        self._inputs.append(entry)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time a pipeline step: ``with run.step("landcover"): ...``. Repeated steps add up."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self._timings[name] = self._timings.get(name, 0.0) + (time.perf_counter() - t0)

    @property
    def outputs(self) -> list[dict[str, Any]]:
        """A copy of the output entries recorded so far."""
        return [dict(o) for o in self._outputs]

    # -- writing -------------------------------------------------------------------------------

    def _check_new(self, path: str, layer: str | None = None) -> None:
        for o in self._outputs:
            if o["path"] == path and o.get("layer") == layer:
                what = f"layer {layer!r} of {path}" if layer else path
                raise ValueError(f"Output {what} was already written in this run.")

    def _register(self, entry: dict[str, Any]) -> dict[str, Any]:
        self._outputs.append(entry)
        return entry

    def write_raster(
        self,
        name: str,
        data: np.ndarray,
        grid: Grid,
        *,
        units: str,
        description: str,
        **cog_kwargs: Any,
    ) -> Path:
        """Write ``<name>.tif`` as a COG (see :func:`~biostress.store.cog.write_cog` for
        ``cog_kwargs``: nodata, colormap, band_names, category_names, qml, categorical)."""
        rel = self._raster_name(name)
        path = write_cog(self.path / rel, data, grid, units=units, description=description, **cog_kwargs)
        self._register_raster(rel, path, grid, units, description)
        return path

    @contextlib.contextmanager
    def raster_writer(self, name: str, grid: Grid, count: int, dtype: str, *, units: str, description: str,
                      **cog_kwargs: Any) -> Iterator[CogWriter]:
        """Write ``<name>.tif`` block by block: ``with run.raster_writer(...) as w: w.write(block, r0, c0)``.

        Memory stays bounded by the block size; the COG is made and registered when the block ends.
        """
        rel = self._raster_name(name)
        with CogWriter(self.path / rel, grid, count, dtype, units=units, description=description, **cog_kwargs) as w:
            yield w
        self._register_raster(rel, self.path / rel, grid, units, description)

    def _raster_name(self, name: str) -> str:
        self._require_open()
        if not _NAME_RE.match(name):
            raise ValueError(f"Invalid raster name {name!r} (letters, digits, _ . - only).")
        rel = f"{name}.tif"
        self._check_new(rel)
        return rel

    def _register_raster(self, rel: str, path: Path, grid: Grid, units: str, description: str) -> None:
        import rasterio

        if self._grid is None:
            self._grid = grid
        with rasterio.open(path) as src:
            entry: dict[str, Any] = {
                "path": rel,
                "kind": "raster",
                "units": units,
                "description": description,
                "dtype": src.dtypes[0],
                "bands": src.count,
                "nodata": src.nodata,
                "band_names": list(src.descriptions) if any(src.descriptions) else None,
                "width": src.width,
                "height": src.height,
            }
        if grid != self._grid:
            entry["grid"] = grid.to_dict()
        self._register(entry)
        qml_path, aux_path = sidecar_paths(path)
        if qml_path.exists():
            self._register({"path": qml_path.name, "kind": "file", "file_kind": "qgis-style",
                            "units": None, "description": f"QGIS style for {rel}", "sidecar_of": rel})
        if aux_path.exists():
            self._register({"path": aux_path.name, "kind": "file", "file_kind": "gdal-pam",
                            "units": None, "description": f"GDAL auxiliary metadata (category names) for {rel}",
                            "sidecar_of": rel})

    def write_vector(
        self,
        layer: str,
        gdf: Any,
        *,
        units: str | None,
        description: str,
        qml: str | None = None,
    ) -> Path:
        """Write ``gdf`` as layer ``layer`` of the run's GeoPackage, with ``qml`` as its default
        QGIS style. Returns the GeoPackage path."""
        import pyogrio

        self._require_open()
        self._check_new(self.gpkg_name, layer)
        _gpkg.write_layer(self.gpkg, layer, gdf, qml=qml, description=description)
        info = pyogrio.read_info(self.gpkg, layer=layer)
        self._register({
            "path": self.gpkg_name,
            "layer": layer,
            "kind": "vector",
            "units": units,
            "description": description,
            "feature_count": int(info["features"]),
            "geometry_type": info["geometry_type"],
            "crs": info["crs"],
            "fields": [str(f) for f in info["fields"]],
            "styled": qml is not None,
        })
        return self.gpkg

    def write_table(self, name: str, df: Any, *, description: str, units: str | None = None) -> Path:
        """Write ``df`` as non-spatial table ``name`` of the run's GeoPackage."""
        self._require_open()
        self._check_new(self.gpkg_name, name)
        _gpkg.write_table(self.gpkg, name, df, description=description)
        self._register({
            "path": self.gpkg_name,
            "layer": name,
            "kind": "table",
            "units": units,
            "description": description,
            "row_count": len(df),
            "columns": [str(c) for c in df.columns],
        })
        return self.gpkg

    def write_file(self, relpath: str, data: bytes | str, *, kind: str, description: str,
                   units: str | None = None) -> Path:
        """Write a side output (CSV, JSON, text report...) at ``relpath`` inside the run folder.
        ``kind`` says what it is (e.g. ``"csv"``, ``"json"``, ``"report"``)."""
        self._require_open()
        rel = PurePosixPath(str(relpath).replace("\\", "/"))
        if rel.is_absolute() or not rel.parts or any(not _NAME_RE.match(p) for p in rel.parts):
            raise ValueError(f"Invalid output file path {relpath!r} (relative, letters, digits, _ . - /).")
        if str(rel) in {MANIFEST_NAME, self.gpkg_name}:
            raise ValueError(f"{rel} is reserved in the run folder.")
        self._check_new(str(rel))
        target = self.path.joinpath(*rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            target.write_text(data, encoding="utf-8")
        else:
            target.write_bytes(bytes(data))
        self._register({"path": str(rel), "kind": "file", "file_kind": kind, "units": units,
                        "description": description})
        return target

    # -- commit --------------------------------------------------------------------------------

    def _finalise_outputs(self) -> list[dict[str, Any]]:
        from . import sha256_file

        hashes: dict[str, tuple[str, int]] = {}
        for o in self._outputs:
            p = self.path / o["path"]
            if not p.is_file():
                raise BiostressError(f"Output {o['path']} was registered but is missing from the run folder.")
            if o["path"] not in hashes:
                hashes[o["path"]] = (sha256_file(p), p.stat().st_size)
        # files written into run.path by hand are listed too, so the manifest covers everything
        for p in sorted(self.path.rglob("*")):
            rel = p.relative_to(self.path).as_posix()
            if p.is_file() and rel != MANIFEST_NAME and rel not in hashes:
                hashes[rel] = (sha256_file(p), p.stat().st_size)
                self._outputs.append({"path": rel, "kind": "file", "file_kind": "unregistered",
                                      "units": None, "description": ""})
                self._warnings.append(f"Output file {rel} was written without being registered.")
        for o in self._outputs:
            o["sha256"], o["bytes"] = hashes[o["path"]]
        return self._outputs

    def _build_manifest(self) -> dict[str, Any]:
        outputs = self._finalise_outputs()
        timings = dict(self._timings)
        timings["total"] = time.perf_counter() - self._t0
        return _jsonable({
            "schema": MANIFEST_SCHEMA,
            "biostress_version": _biostress_version(),
            "run_id": self._run_id,
            "started": self._started,
            "created": _utc_now(),
            "grid": self._grid.to_dict() if self._grid is not None else None,
            "parameters": self._params,
            "inputs": self._inputs,
            "outputs": outputs,
            "warnings": self._warnings,
            "info": self._info,
            "timings": {k: round(v, 3) for k, v in timings.items()},
            "software": software_versions(),
        })

    def _commit(self) -> None:
        manifest = self._build_manifest()
        (self.path / MANIFEST_NAME).write_text(
            json.dumps(manifest, indent=2, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8"
        )
        _fsync_tree(self.path)
        self._swap()
        self.manifest = manifest
        self._state = "closed"

    def _swap(self) -> None:
        """Move the staging folder to ``out_dir`` (see the module docstring for the crash window)."""
        out, parent = self.out_dir, self.out_dir.parent
        old: Path | None = None
        if out.exists() or out.is_symlink():
            # re-check: another process may have created out_dir while this run was working
            self._check_out_dir()
            old = parent / f".{out.name}.old-{self._token}"
            os.rename(out, old)
            _fsync_dir(parent)
        try:
            os.rename(self.path, out)
        except BaseException:
            if old is not None and not out.exists():
                os.rename(old, out)  # put the previous result back
                _fsync_dir(parent)
            raise
        _fsync_dir(parent)
        if old is not None:
            _rmtree(old)
