"""The generate stage's files: written atomically, and refused with one line naming the file and the fix
when read back missing, damaged or not what the stage writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.config import Dataset
from pipeline.core.draws import Split, draw_post_stream
from pipeline.errors import DataError
from pipeline.files.data import load_coefficients, load_split, save_coefficients, save_split
from pipeline.files.layout import COEFFICIENTS_FILE, dataset_file
from tests.helpers import small_data

X_SIZE = 3
REGENERATE = "run `dvc repro generate` to write it"
REGENERATE_FORCED = "run `dvc repro --force generate` to write it again"


def dataset_path(data_dir: Path, dataset: Dataset) -> Path:
    return data_dir / dataset_file(dataset)


def coefficients_path(data_dir: Path) -> Path:
    return data_dir / COEFFICIENTS_FILE


def test_split_and_coefficients_round_trip_through_their_files(tmp_path):
    draws = draw_post_stream(small_data(20, 6, seed=1, x_size=4))
    split = draws.splits[Dataset.gamma]
    save_split(dataset_path(tmp_path, Dataset.gamma), split)
    save_coefficients(coefficients_path(tmp_path), draws.coefficients)

    loaded = load_split(dataset_path(tmp_path, Dataset.gamma), 4)
    coefficients = load_coefficients(coefficients_path(tmp_path), 4)

    np.testing.assert_array_equal(loaded.x_train, split.x_train)
    np.testing.assert_array_equal(loaded.x_test, split.x_test)
    np.testing.assert_array_equal(coefficients.slope, draws.coefficients.slope)
    assert coefficients.intercept == draws.coefficients.intercept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["drawn_coefficients.json", "gamma.npz"]


def split_file(directory: Path, **arrays: np.ndarray) -> Path:
    """A gaussian.npz holding exactly `arrays`, as a tampered file would."""
    path = dataset_path(directory, Dataset.gaussian)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    return path


def good_arrays() -> dict[str, np.ndarray]:
    return {"x_train": np.zeros((4, X_SIZE)), "x_test": np.ones((2, X_SIZE))}


def refusal(load, path: Path, *args) -> str:
    """The DataError message `load` raises for `path`, checked to be one line that names the file."""
    with pytest.raises(DataError) as error:
        load(path, *args)
    message = str(error.value)
    assert message.startswith(f"{path} ") and "\n" not in message
    return message


def test_missing_split_file_says_how_to_write_it(tmp_path):
    path = dataset_path(tmp_path, Dataset.gaussian)

    assert refusal(load_split, path, X_SIZE) == f"{path} is missing: {REGENERATE}"


def test_truncated_split_file_says_how_to_write_it_again(tmp_path):
    path = split_file(tmp_path, **good_arrays())
    path.write_bytes(path.read_bytes()[:200])

    message = refusal(load_split, path, X_SIZE)

    assert "is truncated or damaged" in message and message.endswith(REGENERATE_FORCED)


def test_empty_split_file_is_refused(tmp_path):
    path = dataset_path(tmp_path, Dataset.gaussian)
    path.write_bytes(b"")

    assert refusal(load_split, path, X_SIZE) == f"{path} is empty: {REGENERATE_FORCED}"


@pytest.mark.parametrize("content", [b"x_train,x_test\n1,2\n", None], ids=["text", "npy"])
def test_file_that_is_not_an_npz_archive_is_refused(tmp_path, content):
    path = dataset_path(tmp_path, Dataset.gaussian)
    if content is None:
        with open(path, "wb") as handle:
            np.save(handle, np.zeros((4, X_SIZE)))
    else:
        path.write_bytes(content)

    assert refusal(load_split, path, X_SIZE) == f"{path} is not an .npz archive: {REGENERATE_FORCED}"


def test_split_file_without_an_array_names_the_missing_one(tmp_path):
    path = split_file(tmp_path, x_train=np.zeros((4, X_SIZE)))

    message = refusal(load_split, path, X_SIZE)

    assert message == f"{path} has no array x_test (it holds: x_train): {REGENERATE_FORCED}"


@pytest.mark.parametrize(
    "x_test, problem",
    [
        (np.zeros((2, X_SIZE + 1)), "has x_test of shape (2, 4), not (rows, 3) as data.x_size=3 needs"),
        (np.zeros(X_SIZE), "has x_test of shape (3,), not (rows, 3) as data.x_size=3 needs"),
        (np.zeros((2, X_SIZE), dtype=np.int64), "has x_test of dtype int64, not floats"),
        (np.zeros((0, X_SIZE)), "has an empty x_test (0 rows)"),
    ],
    ids=["columns", "one-dimensional", "integers", "no-rows"],
)
def test_split_array_of_the_wrong_shape_or_dtype_is_refused(tmp_path, x_test, problem):
    path = split_file(tmp_path, x_train=np.zeros((4, X_SIZE)), x_test=x_test)

    assert refusal(load_split, path, X_SIZE) == f"{path} {problem}: {REGENERATE_FORCED}"


def test_split_columns_must_match_the_configured_x_size(tmp_path):
    path = split_file(tmp_path, **good_arrays())

    message = refusal(load_split, path, X_SIZE + 2)

    assert "has x_train of shape (4, 3), not (rows, 5) as data.x_size=5 needs" in message


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_split_with_non_finite_values_is_refused(tmp_path, bad_value):
    arrays = good_arrays()
    arrays["x_train"][1, 2] = bad_value
    path = split_file(tmp_path, **arrays)

    message = refusal(load_split, path, X_SIZE)

    assert message == f"{path} has NaN or infinite values in x_train (1 of 12): {REGENERATE_FORCED}"


def test_split_with_pickled_objects_is_refused_without_unpickling(tmp_path):
    path = split_file(tmp_path, x_train=np.array([{"evil": 1}], dtype=object), x_test=np.zeros((1, X_SIZE)))

    message = refusal(load_split, path, X_SIZE)

    assert "has an unreadable array x_train (Object arrays cannot be loaded when allow_pickle=False)" in message


def test_archive_whose_arrays_are_flagged_encrypted_is_refused_as_damaged(tmp_path):
    path = split_file(tmp_path, **good_arrays())
    content = bytearray(path.read_bytes())
    entry = content.index(b"PK\x01\x02")  # the central directory's first entry: x_train's
    content[entry + 8] |= 1  # its general purpose flags: bit 0, encrypted
    path.write_bytes(bytes(content))

    message = refusal(load_split, path, X_SIZE)

    assert "has an unreadable array x_train (File 'x_train.npy' is encrypted" in message
    assert message.endswith(REGENERATE_FORCED)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_truncation_or_overwritten_byte_gives_the_same_split_or_a_data_error(tmp_path, data):
    arrays = good_arrays()
    path = dataset_path(tmp_path, Dataset.gaussian)
    save_split(path, Split(**arrays))
    content = bytearray(path.read_bytes())
    if data.draw(st.booleans(), label="truncate"):
        content = content[: data.draw(st.integers(0, len(content) - 1), label="length")]
    else:
        content[data.draw(st.integers(0, len(content) - 1), label="at")] = data.draw(st.integers(0, 255), label="byte")
    path.write_bytes(bytes(content))

    try:
        split = load_split(path, X_SIZE)
    except DataError as error:
        assert str(error).startswith(f"{path} ") and str(error).endswith(REGENERATE_FORCED)
    else:  # the byte was one the archive does not check (a timestamp, say): the content is unchanged
        np.testing.assert_array_equal(split.x_train, arrays["x_train"])
        np.testing.assert_array_equal(split.x_test, arrays["x_test"])


def test_missing_coefficients_file_says_how_to_write_it(tmp_path):
    path = coefficients_path(tmp_path)

    assert refusal(load_coefficients, path, X_SIZE) == f"{path} is missing: {REGENERATE}"


@pytest.mark.parametrize(
    "content, problem",
    [
        ('{"slope": [1.0, 2.0', "is not valid JSON (Expecting ',' delimiter: line 1 column 20 (char 19))"),
        ("[1.0, 2.0, 3.0]", "is not a JSON object with the keys slope and intercept"),
        ('{"slope": [1.0, 2.0, 3.0]}', "lacks the key intercept"),
        ('{"slope": [1.0, 2.0], "intercept": 0.5}', "has a slope of 2 numbers, not 3 as data.x_size=3 needs"),
        (
            '{"slope": [1.0, "2", 3.0], "intercept": 0.5}',
            "has a slope that is not a list of numbers or an intercept that is not a number",
        ),
        ('{"slope": [1.0, NaN, 3.0], "intercept": 0.5}', "has a NaN or infinite slope or intercept"),
        ('{"slope": [1.0, 2.0, 3.0], "intercept": -Infinity}', "has a NaN or infinite slope or intercept"),
        ('{"slope": [1.0, 2.0, 1' + "0" * 400 + '], "intercept": 0.5}', "has a NaN or infinite slope or intercept"),
    ],
    ids=["not-json", "not-an-object", "missing-key", "wrong-length", "not-numbers", "nan", "infinite", "beyond-float64"],
)
def test_bad_coefficients_file_is_refused(tmp_path, content, problem):
    path = coefficients_path(tmp_path)
    path.write_text(content, encoding="utf-8")

    assert refusal(load_coefficients, path, X_SIZE) == f"{path} {problem}: {REGENERATE_FORCED}"
