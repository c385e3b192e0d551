"""Output folders and manifests: atomic new folders, atomic regeneration of the entries
of an existing folder, file hashes, package versions, netCDF-ready datasets."""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import tempfile
from importlib.metadata import PackageNotFoundError, version
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Iterable

import xarray as xr

import kbalance
from kbalance.errors import InvalidValueError
from kbalance.paths import calibration_dir, model_dir, model_file


def file_hash(paths: Iterable[Path]) -> str:
    """SHA-256 over the bytes of the given files, in sorted order of their names."""
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def model_hash() -> str:
    """Hash of the model file, its inputs and the lever histories."""
    folder = model_dir()
    return file_hash([model_file(), folder / "levers.toml", *sorted((folder / "inputs").glob("*.csv"))])


def data_hash() -> str:
    """Hash of the observation set (calibration/observations, sources and breaks)."""
    root = calibration_dir()
    return file_hash([root / "sources.csv", root / "breaks.csv", *sorted((root / "observations").glob("*.csv"))])


def netcdf_ready(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with netCDF-safe names (no spaces in dimensions and variables) and text
    instead of Python objects."""
    ds = ds.rename({d: d.replace(" ", "_") for d in ds.dims if " " in d})
    ds = ds.rename({v: v.replace(" ", "_") for v in ds.data_vars})
    for name in ds.variables:
        if ds[name].dtype == object:
            ds[name] = ds[name].astype(str)
    return ds


def package_versions(*extra: str) -> dict[str, str]:
    """Versions of Python, kbalance and the packages a result depends on (plus ``extra``)."""
    out = {"python": platform.python_version(), "kbalance": kbalance.__version__}
    for package in ("pysd", "numpy", "pandas", "xarray", "scipy", *extra):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "not installed"
    return out


def check_new_folder(out: Path) -> Path:
    """``out`` as a Path; raises InvalidValueError when it exists and is not an empty folder
    (output folders are never overwritten)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InvalidValueError(out, "--out", "folder exists and is not empty",
                                "a folder that does not exist yet or is empty (runs are never overwritten)")
    return out


def write_new_folder(out: Path, write: Callable[[Path], None]) -> Path:
    """Create the output folder ``out`` atomically: ``write(tmp)`` fills a temporary
    sibling, which is renamed to ``out`` at the end; on any failure it is removed, so
    nothing half-written is left. Refuses an existing non-empty ``out``."""
    out = check_new_folder(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    try:
        write(tmp)
        check_new_folder(out)
        if out.exists():
            out.rmdir()
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def replace_entries(folder: Path, entries: Sequence[str], write: Callable[[Path], None]) -> list[Path]:
    """Regenerate the entries ``entries`` (files or subfolders) of ``folder`` all at once.

    ``write(tmp)`` creates exactly ``entries`` in a temporary sibling ``tmp`` of
    ``folder``. Then each old entry is renamed aside and the new one renamed into its
    place; if ``write`` or any rename fails, the entries already swapped are put back,
    so ``folder`` holds either every old entry or every new one. A subfolder is
    replaced as a whole (files the new one lacks are gone); other entries of
    ``folder`` are not touched. ``folder`` is created if missing. Returns the paths
    ``folder / entry``. Raises ValueError when ``write`` creates other entries.
    """
    folder = Path(folder)
    created = not folder.exists()
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.new-"))
    aside = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.old-"))
    moved: list[str] = []  # old entries renamed aside
    placed: list[str] = []  # new entries renamed into place
    try:
        write(tmp)
        made = sorted(p.name for p in tmp.iterdir())
        if made != sorted(entries):
            raise ValueError(f"{folder}: wrote {made}, expected the entries {sorted(entries)}")
        folder.mkdir(exist_ok=True)
        for name in entries:
            if os.path.lexists(folder / name):
                os.rename(folder / name, aside / name)
                moved.append(name)
            os.rename(tmp / name, folder / name)
            placed.append(name)
    except BaseException:
        for name in reversed(placed):
            os.rename(folder / name, tmp / name)
        for name in reversed(moved):
            os.rename(aside / name, folder / name)
        if created and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(aside, ignore_errors=True)
    return [folder / name for name in entries]


def replace_file(path: Path, write: Callable[[Path], None]) -> Path:
    """Write the file ``path`` atomically: ``write(tmp)`` writes a temporary sibling,
    which then replaces ``path`` (an existing file is replaced whole, never half-written);
    on any failure the temporary file is removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")  # opened by write(), so the umask's permissions
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
