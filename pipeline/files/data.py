"""The data files of the generate stage: one .npz per dataset and the drawn m and c, checked when read
back, so a damaged file stops a stage with one line naming the file and the fix."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.draws import DrawnCoefficients, Split
from pipeline.errors import DataError
from pipeline.files.atomic import atomic_path, read_json, write_json

SPLIT_ARRAYS = ("x_train", "x_test")
ZIP_MAGIC = b"PK\x03\x04"  # how every zip archive, and so every .npz, begins
WRITE_IT = "run `dvc repro generate` to write it"
# DVC skips a stage whose outputs match dvc.lock, which a bad file does once dvc.lock recorded it; --force
# always reruns the stage.
WRITE_IT_AGAIN = "run `dvc repro --force generate` to write it again"


def save_split(path: Path, split: Split) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, x_train=split.x_train, x_test=split.x_test)


def _missing(path: Path) -> DataError:
    return DataError(f"{path} is missing: {WRITE_IT}")


def _corrupt(path: Path, problem: str) -> DataError:
    return DataError(f"{path} {problem}: {WRITE_IT_AGAIN}")


def _check_split_array(path: Path, name: str, array: np.ndarray, x_size: int) -> None:
    """An array of a split as the generate stage writes it: float rows of `x_size` finite values."""
    if not np.issubdtype(array.dtype, np.floating):
        raise _corrupt(path, f"has {name} of dtype {array.dtype}, not floats")
    if array.ndim != 2 or array.shape[1] != x_size:
        raise _corrupt(path, f"has {name} of shape {array.shape}, not (rows, {x_size}) as data.x_size={x_size} needs")
    if len(array) == 0:
        raise _corrupt(path, f"has an empty {name} (0 rows)")
    bad = np.count_nonzero(~np.isfinite(array))
    if bad:
        raise _corrupt(path, f"has NaN or infinite values in {name} ({bad} of {array.size})")


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """The split's arrays, or a DataError that says why the file is not a readable .npz of them."""
    with open(path, "rb") as handle:
        start = handle.read(len(ZIP_MAGIC))
    if start != ZIP_MAGIC:
        raise _corrupt(path, "is not an .npz archive" if start else "is empty")
    # Damaged zip bytes raise almost anything while read (BadZipFile; RuntimeError for a set "encrypted" flag;
    # zlib, bz2 or lzma errors for a changed compression method; MemoryError for a huge declared shape), and
    # all of them mean the same: the file is damaged. With allow_pickle=False none of its content runs.
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as error:
        raise _corrupt(path, f"is truncated or damaged ({error})") from None
    with archive:
        missing = [name for name in SPLIT_ARRAYS if name not in archive.files]
        if missing:
            raise _corrupt(path, f"has no array {', '.join(missing)} (it holds: {', '.join(archive.files) or 'nothing'})")
        arrays = {}
        for name in SPLIT_ARRAYS:
            try:
                arrays[name] = archive[name]
            except Exception as error:
                raise _corrupt(path, f"has an unreadable array {name} ({error})") from None
    return arrays


def load_split(path: Path, x_size: int) -> Split:
    """The split the generate stage wrote, checked, so a damaged file stops the stage with one line."""
    path = Path(path)
    if not path.is_file():
        raise _missing(path)
    arrays = _read_arrays(path)
    for name, array in arrays.items():
        _check_split_array(path, name, array, x_size)
    return Split(**arrays)


def save_coefficients(path: Path, coefficients: DrawnCoefficients) -> None:
    write_json(path, {"slope": coefficients.slope.tolist(), "intercept": coefficients.intercept})


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_finite(number: int | float) -> bool:
    """False for NaN, the infinities and ints beyond float64 (which math.isfinite cannot even convert)."""
    return abs(number) <= sys.float_info.max


def _check_coefficients(path: Path, payload: Any, x_size: int) -> DrawnCoefficients:
    """The drawn m and c as the generate stage writes them: `x_size` finite slopes and a finite intercept."""
    if not isinstance(payload, dict):
        raise _corrupt(path, "is not a JSON object with the keys slope and intercept")
    missing = sorted({"slope", "intercept"} - payload.keys())
    if missing:
        raise _corrupt(path, f"lacks the key {' and '.join(missing)}")
    slope, intercept = payload["slope"], payload["intercept"]
    if not isinstance(slope, list) or not all(_is_number(v) for v in slope) or not _is_number(intercept):
        raise _corrupt(path, "has a slope that is not a list of numbers or an intercept that is not a number")
    if len(slope) != x_size:
        raise _corrupt(path, f"has a slope of {len(slope)} numbers, not {x_size} as data.x_size={x_size} needs")
    if not all(_is_finite(v) for v in [*slope, intercept]):
        raise _corrupt(path, "has a NaN or infinite slope or intercept")
    return DrawnCoefficients(slope=np.asarray(slope, dtype=np.float64), intercept=float(intercept))


def load_coefficients(path: Path, x_size: int) -> DrawnCoefficients:
    """The drawn m and c the generate stage wrote, checked like the splits."""
    path = Path(path)
    if not path.is_file():
        raise _missing(path)
    try:
        payload = read_json(path)
    except ValueError as error:  # not JSON, or not UTF-8
        raise _corrupt(path, f"is not valid JSON ({error})") from None
    return _check_coefficients(path, payload, x_size)
