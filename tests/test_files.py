"""files.read_file: the whole file, whatever its size says."""

from __future__ import annotations

import os

import pytest

from publisher.files import read_file


@pytest.mark.parametrize("size", [0, 1, 4096, 3 * (1 << 20) + 7])
def test_read_file_reads_the_whole_file(tmp_path, size):
    path = tmp_path / "f"
    data = os.urandom(size)
    path.write_bytes(data)
    assert read_file(path) == data
    assert read_file(str(path)) == data


def test_read_file_reads_past_a_size_of_zero():
    # /proc files say they are empty and are not.
    assert b"VmRSS" in read_file("/proc/self/status")


def test_read_file_raises_for_what_it_cannot_read(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_file(tmp_path / "missing")
    with pytest.raises(IsADirectoryError):
        read_file(tmp_path)
