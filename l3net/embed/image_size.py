"""An image file's pixel size read from its header, without decoding a pixel.

Why: the embedding tools must refuse an image too large to decode (a 20,000 x 20,000 px PNG is
1.2 GB of RGB) before anything allocates it, and FFmpeg cannot say: opening a file probes it by
decoding the first picture (so a large image is decoded before its size is known), and above
about 268 Mpx it reports no size at all. The formats are recognised by their content, never by
the file's extension: PNG, JPEG, GIF, BMP and WebP. Other formats give None (the caller falls
back on FFmpeg's size after opening). Only the first 64 KiB are read.
"""

from __future__ import annotations

import struct
from typing import Optional, Tuple

_HEAD_BYTES = 1 << 16
# JPEG start-of-frame markers (SOF0-SOF15 except DHT, JPG and DAC).
_SOF = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def header_size(path: str) -> Optional[Tuple[int, int]]:
    """(width, height) from the header of a PNG, JPEG, GIF, BMP or WebP file; None otherwise.

    OSError propagates (the caller reports unreadable files).
    """
    with open(path, "rb") as f:
        head = f.read(_HEAD_BYTES)
    try:
        if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
            return struct.unpack(">II", head[16:24])
        if head.startswith(b"\xff\xd8"):
            return _jpeg(head)
        if head[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack("<HH", head[6:10])
        if head.startswith(b"BM"):
            return _bmp(head)
        if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
            return _webp(head)
    except struct.error:  # a header cut short: let the decoder report the file
        return None
    return None


def _jpeg(head: bytes) -> Optional[Tuple[int, int]]:
    pos = 2
    while pos + 4 <= len(head):
        if head[pos] != 0xFF:
            return None
        marker = head[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            pos += 2
            continue
        (length,) = struct.unpack(">H", head[pos + 2:pos + 4])
        if marker in _SOF:
            height, width = struct.unpack(">HH", head[pos + 5:pos + 9])
            return width, height
        pos += 2 + length
    return None


def _bmp(head: bytes) -> Tuple[int, int]:
    (dib,) = struct.unpack("<I", head[14:18])
    if dib == 12:  # OS/2 BITMAPCOREHEADER
        return struct.unpack("<HH", head[18:22])
    width, height = struct.unpack("<ii", head[18:26])
    return abs(width), abs(height)  # negative height = rows stored top-down


def _webp(head: bytes) -> Optional[Tuple[int, int]]:
    chunk = head[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(head[24:27], "little") + 1
        height = int.from_bytes(head[27:30], "little") + 1
        return width, height
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":
        (bits,) = struct.unpack("<I", head[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None
