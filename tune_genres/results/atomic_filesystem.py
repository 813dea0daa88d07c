"""The local filesystem for pyarrow (and so for Ray Tune's `storage_filesystem`), written as the rest
of the project writes (dataset_builder/atomic.py): each file to a temporary name in its folder, then
renamed over the old one.

Tune overwrites its experiment state and each trial's result.json in place at every sync. On a
disk that filled up mid-sweep that left a truncated experiment state behind, and `--resume`
could no longer read it. Through this filesystem a write that fails leaves the previous file
whole. Object stores (s3://, gs://) replace whole objects already and are used as they are.

Here, on the results floor, so that an ExperimentLocation (results/location.py) hands it out to
the driver and the readers alike.
"""

from __future__ import annotations

import os

import pyarrow
import pyarrow.fs as pafs

from dataset_builder.atomic import AtomicFile, fsync_file, temporary_name

TYPE_NAME = "local-atomic"


class AtomicWrites(pafs.FileSystemHandler):
    """The local filesystem, but each new file's content appears whole or not at all."""

    def __init__(self):
        self.fs = pafs.LocalFileSystem()

    def __eq__(self, other) -> bool:
        return isinstance(other, AtomicWrites)

    def get_type_name(self) -> str:
        return TYPE_NAME

    def equals(self, other) -> bool:
        return isinstance(other, AtomicWrites)

    def normalize_path(self, path):
        return self.fs.normalize_path(path)

    def get_file_info(self, paths):
        return self.fs.get_file_info(paths)

    def get_file_info_selector(self, selector):
        return self.fs.get_file_info(selector)

    def create_dir(self, path, recursive):
        self.fs.create_dir(path, recursive=recursive)

    def delete_dir(self, path):
        self.fs.delete_dir(path)

    def delete_dir_contents(self, path, missing_dir_ok=False):
        self.fs.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self):
        raise OSError("refusing to delete the contents of /")

    def delete_file(self, path):
        self.fs.delete_file(path)

    def move(self, src, dest):
        self.fs.move(src, dest)

    def copy_file(self, src, dest):
        tmp = str(temporary_name(dest))
        try:
            self.fs.copy_file(src, tmp)
            fsync_file(tmp)
            os.replace(tmp, dest)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def open_input_stream(self, path):
        return self.fs.open_input_stream(path)

    def open_input_file(self, path):
        return self.fs.open_input_file(path)

    def open_output_stream(self, path, metadata):
        return pyarrow.PythonFile(AtomicFile(path), mode="w")

    def open_append_stream(self, path, metadata):
        return self.fs.open_append_stream(path, metadata=metadata)
