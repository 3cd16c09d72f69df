"""gluon_convattn.cuda_libs: it tells the CUDA build from the CPU one by libmxnet.so's linked
libraries (its ELF reader agrees with readelf), and with the CPU build it loads nothing."""
import shutil
import subprocess

import pytest

from gluon_convattn import cuda_libs


def test_the_build_is_told_without_importing_mxnet():
    import mxnet as mx
    assert cuda_libs.mxnet_needs_cuda() == mx.runtime.Features().is_enabled('CUDA')


def test_with_the_cpu_mxnet_nothing_is_loaded(monkeypatch):
    monkeypatch.setattr(cuda_libs, '_done', False)
    monkeypatch.setattr(cuda_libs, 'mxnet_needs_cuda', lambda: False)

    def refuse(path):
        raise AssertionError('preload loaded %s with the CPU MXNet' % path)
    monkeypatch.setattr(cuda_libs, '_load', refuse)
    cuda_libs.preload()
    assert cuda_libs._done


def test_needed_libraries_agree_with_readelf():
    if shutil.which('readelf') is None:
        pytest.skip('readelf (binutils) is not installed')
    path = cuda_libs._mxnet_library()
    out = subprocess.run(['readelf', '-d', path], stdout=subprocess.PIPE, text=True,
                         check=True).stdout
    expected = [line.split('[')[1].rstrip(']') for line in out.splitlines() if '(NEEDED)' in line]
    assert cuda_libs.needed_libraries(path) == expected and 'libc.so.6' in expected


def test_a_file_that_is_not_elf_needs_nothing(tmp_path):
    path = tmp_path / 'not_elf.so'
    path.write_bytes(b'#!/bin/sh\n' * 10)
    assert cuda_libs.needed_libraries(str(path)) == []


def test_a_library_missing_from_path_and_wheels_is_reported(monkeypatch):
    monkeypatch.setattr(cuda_libs, 'wheel_library_dirs', lambda name: [])
    assert cuda_libs.preload_wheel_libraries([('none', 'libgluon_convattn_absent.so.7')]) == [
        'libgluon_convattn_absent.so.7']
