"""`dataset-builder info [--verify]` and open_dataset refuse a dataset that does not mean what its
manifest says, in one line naming the file: exit status 2, never a traceback, never a score.

Every damage below rewrites the sha256s to match (as a user covering a hand edit would), and each
test first shows that the recorded sha256s still hold: the damage is caught by the check of what
the arrays mean, not by the hashes.
"""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from dataset_builder.cli import main
from dataset_builder.store import MANIFEST, Dataset
from support.damaged_dataset import edit_array, edit_bytes, edit_manifest, leak_training_rows_into_test
from support.posters import coloured_raw

COUNT = 60


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def genres_of(i: int) -> list[str]:
    """Drama or Comedy for every title, Horror for every third: each genre reaches every split."""
    return [("Drama", "Comedy")[i % 2]] + (["Horror"] if i % 3 == 0 else [])


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("checks")
    coloured_raw(root / "raw", COUNT, genres_of)
    assert main(["build", str(root / "raw"), str(root / "ds"), "--genres", "Drama,Comedy,Horror", "--ratios", "30"]) == 0
    return root / "ds"


# The damages, each a hand edit of one file with the sha256s rewritten to match.

def set_label_to_seven(ds):
    edit_array(ds, "labels.npy", lambda labels: labels.__setitem__((0, 0), 7))


def clear_a_rows_labels(ds):
    edit_array(ds, "labels.npy", lambda labels: labels.__setitem__(5, 0))


def point_a_split_past_the_end(ds):
    edit_array(ds, "split_val.npy", lambda rows: rows.__setitem__(0, COUNT + 100))


def point_a_split_below_zero(ds):
    edit_array(ds, "split_val.npy", lambda rows: rows.__setitem__(0, -1))


def repeat_a_row_in_a_split(ds):
    edit_array(ds, "split_val.npy", lambda rows: rows.__setitem__(1, rows[0]))


def drop_test_rows_and_their_count(ds):
    """Two test rows gone from split_test.npy and from manifest's count: they are in no split."""
    edit_manifest(ds, lambda m: m["splits"].__setitem__("test", m["splits"]["test"] - 2))
    edit_array(ds, "split_test.npy", lambda rows: rows[:-2])


def miscount_a_split_in_the_manifest(ds):
    edit_manifest(ds, lambda m: m["splits"].__setitem__("test", m["splits"]["test"] + 1))


def duplicate_an_id(ds):
    edit_array(ds, "ids.npy", lambda ids: ids.__setitem__(4, ids[3]))


def empty_an_id(ds):
    edit_array(ds, "ids.npy", lambda ids: ids.__setitem__(2, ""))


def list_a_genre_twice(ds):
    edit_manifest(ds, lambda m: m["genres"].__setitem__(1, m["genres"][0]))


def truncate_images(ds):
    edit_bytes(ds, "images_r30.npy", lambda data: data[:-1000])


def append_to_images(ds):
    edit_bytes(ds, "images_r30.npy", lambda data: data + b"\0" * 16)


def scribble_on_the_header(ds):
    edit_bytes(ds, "images_r30.npy", lambda data: data[:10] + b"garbage!!!" + data[20:])


def scribble_on_the_magic(ds):
    edit_bytes(ds, "labels.npy", lambda data: b"NOTNPY" + data[6:])


def store_labels_as_int64(ds):
    edit_array(ds, "labels.npy", lambda labels: labels.astype(np.int64))


def store_a_split_as_float(ds):
    edit_array(ds, "split_train.npy", lambda rows: rows.astype(np.float64))


def store_ids_as_numbers(ds):
    edit_array(ds, "ids.npy", lambda ids: np.arange(len(ids)))


# damage, the file the one line names ("" for the dataset folder), what it must say (a regex).
DAMAGES = [
    (leak_training_rows_into_test, "split_test.npy",
     r"(\d+) of its \1 rows are also in split_train\.npy; the splits must be disjoint \(rebuild with dataset-builder build\)$"),
    (set_label_to_seven, "labels.npy", r"1 values other than 0 or 1 \(e\.g\. 7 at row 0, tt\d+, Drama\); labels are multi-hot 0/1"),
    (clear_a_rows_labels, "labels.npy", r"1 rows have no genre \(e\.g\. row 5, tt\d+\)"),
    (point_a_split_past_the_end, "split_val.npy", rf"1 of its \d+ row indices are outside 0\.\.{COUNT - 1} \(e\.g\. {COUNT + 100}\)"),
    (point_a_split_below_zero, "split_val.npy", rf"1 of its \d+ row indices are outside 0\.\.{COUNT - 1} \(e\.g\. -1\)"),
    (repeat_a_row_in_a_split, "split_val.npy", r"1 rows are listed more than once \(e\.g\. rows \d+\); a split holds each row once"),
    (drop_test_rows_and_their_count, "", rf"2 of its {COUNT} rows are in no split \(e\.g\. rows \d+, \d+; splits split_train\.npy"),
    (miscount_a_split_in_the_manifest, "split_test.npy", r"shape \((\d+),\), manifest\.json says \(\d+,\)$"),
    (duplicate_an_id, "ids.npy", r"1 ids appear more than once \(e\.g\. 'tt\d+' at rows 3, 4\)"),
    (empty_an_id, "ids.npy", r"1 empty ids \(e\.g\. row 2\)"),
    (list_a_genre_twice, MANIFEST, r"genre 'Drama' is listed more than once"),
    (truncate_images, "images_r30.npy", r"truncated: (\d+) bytes, its header describes (\d+)"),
    (append_to_images, "images_r30.npy", r"16 bytes past the end of the array its header describes"),
    (scribble_on_the_header, "images_r30.npy", r"not a readable \.npy array \(.+\); the file is damaged"),
    (scribble_on_the_magic, "labels.npy", r"not a readable \.npy array \(the magic string is not correct.*\); the file is damaged"),
    (store_labels_as_int64, "labels.npy", r"dtype int64, this format stores uint8 here"),
    (store_a_split_as_float, "split_train.npy", r"dtype float64, this format stores integer here"),
    (store_ids_as_numbers, "ids.npy", r"dtype int64, this format stores unicode here"),
]


def damaged_copy(built, tmp_path, damage):
    copy = tmp_path / "ds"
    shutil.copytree(built, copy)
    damage(copy)
    return copy


def assert_hashes_hold(ds):
    """The recorded sha256s match the damaged files: a byte check alone would pass this dataset."""
    Dataset(ds, json.loads((ds / MANIFEST).read_text())).verify()


@pytest.mark.parametrize("damage, file, complaint", DAMAGES, ids=[d[0].__name__ for d in DAMAGES])
@pytest.mark.parametrize("verify", [False, True], ids=["info", "info --verify"])
def test_info_refuses_a_damaged_dataset_in_one_line_naming_the_file(built, tmp_path, capsys, damage, file, complaint, verify):
    ds = damaged_copy(built, tmp_path, damage)
    assert_hashes_hold(ds)
    code, out, err = run(capsys, "info", ds, *(["--verify"] if verify else []))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1, err
    prefix = f"dataset-builder: error: {ds / file if file else ds}: "
    assert err.startswith(prefix), err
    assert re.search(complaint, err[len(prefix):].rstrip("\n")), err


def test_an_undamaged_dataset_passes_and_info_says_what_it_checked(built, capsys):
    code, out, err = run(capsys, "info", built)
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == (
        "checked: every array readable with its recorded shape and dtype; splits disjoint and complete, "
        "labels 0/1, ids unique (--verify also recomputes every array's sha256)"
    )
    code, out, err = run(capsys, "info", built, "--verify")
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == (
        "verified: every array matches its sha256 in manifest.json; every array readable with its recorded "
        "shape and dtype; splits disjoint and complete, labels 0/1, ids unique"
    )


def test_a_changed_byte_is_caught_by_verify_alone(built, tmp_path, capsys):
    """A pixel changed, sha256 not rewritten: the dataset still means what it says, so plain
    info opens it (it reads no pixels); --verify recomputes the hash and refuses it."""
    ds = damaged_copy(built, tmp_path, lambda ds: None)
    images = np.load(ds / "images_r30.npy", mmap_mode="r+")
    images[7, 3, 3, 0] ^= 0xFF
    images.flush()
    del images
    assert run(capsys, "info", ds)[0] == 0
    code, out, err = run(capsys, "info", ds, "--verify")
    assert (code, out) == (2, "")
    assert err == f"dataset-builder: error: {ds / 'images_r30.npy'}: sha256 differs from manifest.json; the file is corrupt\n"


def test_verify_refuses_an_array_without_a_sha256(built, tmp_path, capsys):
    ds = damaged_copy(built, tmp_path, lambda ds: edit_manifest(ds, lambda m: m["sha256"].pop("split_test.npy")))
    assert run(capsys, "info", ds)[0] == 0
    code, _, err = run(capsys, "info", ds, "--verify")
    assert code == 2
    assert err == (f"dataset-builder: error: {ds / MANIFEST}: no sha256 for split_test.npy; it cannot be verified "
                   "(rebuild with dataset-builder build)\n")


def test_the_real_leak_is_refused(shared_posters, tmp_path, capsys):
    """The hostile test on the real posters: 120 of the 349 test rows replaced by training rows."""
    assert run(capsys, "import", tmp_path / "raw", "--format", "authors", "--csv", shared_posters / "484da.csv",
               "--images", shared_posters / "posters-58")[0] == 0
    assert run(capsys, "build", tmp_path / "raw", tmp_path / "ds", "--genres", "Horror,Romance,Action,Documentary",
               "--ratios", "30")[0] == 0
    leak_training_rows_into_test(tmp_path / "ds", count=120)
    code, _, err = run(capsys, "info", tmp_path / "ds", "--verify")
    assert code == 2
    assert err.endswith("split_test.npy: 120 of its 349 rows are also in split_train.npy; the splits must be disjoint "
                        "(rebuild with dataset-builder build)\n")
