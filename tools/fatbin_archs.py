#!/usr/bin/env python
"""Which GPU code a CUDA shared library carries: SASS (ELF cubins) per sm_XX and PTX per
compute_XX, read from its ``.nv_fatbin`` section (no CUDA toolkit needed, unlike cuobjdump).

Usage::

    python tools/fatbin_archs.py .venv-gpu/lib/python3.11/site-packages/mxnet/libmxnet.so

prints one line per (kind, architecture) with how many fatbin containers hold it.
"""
import collections
import struct
import sys

FATBIN_MAGIC = 0xBA55ED50
KINDS = {1: 'PTX', 2: 'SASS'}


def _section(path, name):
    """(file offset, size) of ELF64 section ``name``."""
    with open(path, 'rb') as f:
        head = f.read(64)
        shoff, = struct.unpack_from('<Q', head, 40)
        shentsize, shnum, shstrndx = struct.unpack_from('<HHH', head, 58)
        f.seek(shoff)
        table = f.read(shentsize * shnum)
        headers = [struct.unpack_from('<IIQQQQIIQQ', table, i * shentsize) for i in range(shnum)]
        f.seek(headers[shstrndx][4])
        names = f.read(headers[shstrndx][5])
    for h in headers:
        if names[h[0]:].split(b'\0', 1)[0].decode() == name:
            return h[4], h[5]
    raise SystemExit('%s has no %s section: no CUDA device code' % (path, name))


def fatbin_entries(path):
    """Counter of (kind, architecture) over the fatbin containers of ``path``."""
    offset, size = _section(path, '.nv_fatbin')
    with open(path, 'rb') as f:
        f.seek(offset)
        data = f.read(size)
    counts, pos = collections.Counter(), 0
    while pos + 16 <= len(data):
        magic, _, header_size, fat_size = struct.unpack_from('<IHHQ', data, pos)
        if magic != FATBIN_MAGIC:
            pos += 8    # containers are 8-byte aligned
            continue
        entry, end = pos + header_size, pos + header_size + fat_size
        while entry < end:
            kind, _, entry_header, payload = struct.unpack_from('<HHII', data, entry)
            arch, = struct.unpack_from('<I', data, entry + 28)
            counts[(KINDS.get(kind, str(kind)), arch)] += 1
            entry += entry_header + payload
        pos = end
    return counts


def main(argv):
    if len(argv) != 1:
        raise SystemExit(__doc__)
    for (kind, arch), n in sorted(fatbin_entries(argv[0]).items()):
        print('%-4s %s_%d  in %d containers' % (kind, 'compute' if kind == 'PTX' else 'sm', arch,
                                                n))


if __name__ == '__main__':
    main(sys.argv[1:])
