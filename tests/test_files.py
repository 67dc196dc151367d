"""files.read_file: the whole file, whatever its size says; files.write_all: all the bytes,
however many writes they take."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from publisher.files import read_file, write_all


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


def test_write_all_writes_everything_when_signals_cut_writes_short():
    # A write to a full pipe that a signal interrupts returns what it wrote so far: with a
    # signal every millisecond and a slow reader, one os.write of 4 MiB is cut short.
    data = os.urandom(4 << 20)
    read, write = os.pipe()
    received = bytearray()

    def drain() -> None:
        while chunk := os.read(read, 1 << 16):
            received.extend(chunk)
            time.sleep(0.0002)

    reader = threading.Thread(target=drain)
    reader.start()
    previous = signal.signal(signal.SIGALRM, lambda *_: None)
    signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
    try:
        write_all(write, data)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        os.close(write)
        reader.join()
        os.close(read)
    assert received == data
