"""A trial's resident data: arrays out of the store, batches by index, aligned labels, no copied pixels."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from dataset_builder.store import open_dataset
from tune_genres.training.data import ResidentSplit, copy_rows, trial_arrays


@pytest.fixture
def arrays(tiny_dataset):
    return trial_arrays(open_dataset(tiny_dataset(count=50, ratios=(30, 44))), 30)


def test_trial_arrays_are_one_ratio_as_plain_arrays_the_images_a_view_of_the_file(arrays, tiny_dataset):
    dataset = open_dataset(tiny_dataset("again", count=50, ratios=(30, 44)))
    assert arrays["images"].shape == (50, 80, 55, 3) and arrays["images"].dtype == np.uint8
    # A plain ndarray (ray.put sends it out-of-band, no bytes copy), over the memory map (no copy here either).
    assert type(arrays["images"]) is np.ndarray and not isinstance(arrays["images"], np.memmap)
    assert not arrays["images"].flags.owndata
    assert arrays["labels"].shape == (50, 3) and arrays["labels"].dtype == np.uint8
    assert arrays["genres"] == ["Horror", "Romance", "Action"]
    np.testing.assert_array_equal(arrays["images"], dataset.images(30))
    for name in ("train", "val", "test"):
        np.testing.assert_array_equal(arrays[name], dataset.split(name))
    assert sorted(np.concatenate([arrays[n] for n in ("train", "val", "test")]).tolist()) == list(range(50))


def rows_of(x: torch.Tensor) -> list[int]:
    """The dataset row each image came from: pixel (0,0) of channel 0 holds row % 256."""
    return torch.round(x[:, 0, 0, 0] * 255).long().tolist()


def test_an_epoch_covers_every_row_once_shuffled_reproducibly(arrays):
    split = ResidentSplit.from_arrays(arrays, "train", "cpu")
    assert len(split) == len(arrays["train"]) == 30

    def epoch(generator):
        return [row for x, _ in split.batches(8, generator) for row in rows_of(x)]

    first = epoch(torch.Generator().manual_seed(7))
    assert sorted(first) == sorted(arrays["train"].tolist())  # every row exactly once
    assert first != sorted(first)  # shuffled
    assert epoch(torch.Generator().manual_seed(7)) == first  # reproducible from the seed
    assert epoch(torch.Generator().manual_seed(8)) != first
    generator = torch.Generator().manual_seed(7)
    assert epoch(generator) == first and epoch(generator) != first  # the next epoch reshuffles
    assert epoch(None) == arrays["train"].tolist()  # no generator: in row order


def test_batches_are_channels_last_floats_equal_to_uint8_over_255_with_aligned_labels(arrays):
    split = ResidentSplit.from_arrays(arrays, "val", "cpu")
    batches = list(split.batches(4, torch.Generator().manual_seed(0)))
    assert [len(x) for x, _ in batches] == [4, 4, 2]  # 10 rows: the last batch is partial
    for x, y in batches:
        assert x.dtype == torch.float32 and x.shape[1:] == (3, 80, 55)
        assert x.is_contiguous(memory_format=torch.channels_last)
        assert 0.0 <= x.min() and x.max() <= 1.0
        rows = rows_of(x)
        expected = arrays["images"][rows].transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255)
        np.testing.assert_array_equal(x.numpy(), expected)
        assert y.dtype == torch.float32
        np.testing.assert_array_equal(y.numpy(), arrays["labels"][rows].astype(np.float32))


def test_from_indices_reads_rows_of_the_memory_map(tiny_dataset):
    dataset = open_dataset(tiny_dataset(count=20))
    rows = np.array([3, 17, 5])
    split = ResidentSplit.from_indices(dataset.images(30), dataset.labels, rows, "cpu")
    (x, y), = split.batches(10)
    assert rows_of(x) == [3, 17, 5]
    np.testing.assert_array_equal(y.numpy(), dataset.labels[rows])


def within(tensor: torch.Tensor, array: np.ndarray) -> bool:
    """Whether the tensor's storage lies inside the array's own buffer (no copy of it)."""
    start = array.__array_interface__["data"][0]
    storage = tensor.untyped_storage()
    return start <= storage.data_ptr() and storage.data_ptr() + storage.nbytes() <= start + array.nbytes


def test_a_cpu_split_indexes_the_read_only_array_it_was_handed_without_copying_pixels(arrays):
    arrays["images"].setflags(write=False)  # as Ray's object store hands it to a trial
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's not-writable warning is expected and silenced
        split = ResidentSplit.from_arrays(arrays, "train", "cpu")
    assert within(split.images, arrays["images"])
    assert np.shares_memory(split.images.numpy(), arrays["images"])
    assert split.rows.tolist() == arrays["train"].tolist()
    (x, _), = split.batches(len(split))
    assert rows_of(x) == arrays["train"].tolist()


def test_copy_rows_gathers_the_rows_in_bounded_pieces(arrays):
    rows = np.array([7, 3, 41, 0, 12, 29, 5])
    row_bytes = arrays["images"][0].nbytes
    for piece_rows in (1, 2, 3, 7, 100):  # pieces that divide the rows, that do not, and one for all
        copied = copy_rows(arrays["images"], rows, "cpu", piece_bytes=piece_rows * row_bytes)
        np.testing.assert_array_equal(copied.numpy(), arrays["images"][rows])
        assert not np.shares_memory(copied.numpy(), arrays["images"])


def test_a_split_on_another_device_holds_its_own_rows(arrays):
    # "meta" stands in for a GPU here: any device but the CPU takes the copying path.
    split = ResidentSplit.from_arrays(arrays, "val", "meta")
    assert split.rows is None and split.device.type == "meta"
    assert split.images.shape == (len(arrays["val"]), 80, 55, 3) and len(split) == len(arrays["val"])
