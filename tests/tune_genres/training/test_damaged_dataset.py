"""A trial's data from a damaged dataset: BadInput from open_dataset, before any array is indexed.

A split index past the end (sha256s rewritten to match) once reached the trial as an IndexError
out of ResidentSplit; the sweep driver opens the dataset the same way before any work.
"""

from __future__ import annotations

import pytest

from dataset_builder.errors import BadInput
from dataset_builder.store import open_dataset
from support.damaged_dataset import edit_array, leak_training_rows_into_test
from tune_genres.training.data import ResidentSplit, trial_arrays


def test_a_split_index_out_of_range_is_bad_input_not_an_index_error(tiny_dataset):
    dataset = tiny_dataset(count=20)
    edit_array(dataset, "split_test.npy", lambda rows: rows.__setitem__(0, 20))
    with pytest.raises(BadInput, match=r"split_test\.npy: 1 of its 4 row indices are outside 0\.\.19"):
        ResidentSplit.from_arrays(trial_arrays(open_dataset(dataset), 30), "test", "cpu")


def test_test_rows_that_are_training_rows_never_reach_a_trial(tiny_dataset):
    dataset = tiny_dataset(count=20)
    leak_training_rows_into_test(dataset)
    with pytest.raises(BadInput, match=r"split_test\.npy: 4 of its 4 rows are also in split_train\.npy"):
        trial_arrays(open_dataset(dataset), 30)
