"""A minimal PNG encoder (8-bit RGB), so runners can write images with the standard library."""

import struct
import zlib


def _chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def encode_rgb(pixels, width, height):
    """Encodes `height` rows of `width` RGB bytes (`pixels`, row-major, 3 bytes per pixel)."""
    if len(pixels) != width * height * 3:
        raise ValueError("expected %d bytes, got %d" % (width * height * 3, len(pixels)))
    stride = width * 3
    raw = bytearray()
    for y in range(height):
        raw.append(0)  # filter type 0 (none) per row
        raw += pixels[y * stride:(y + 1) * stride]
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(bytes(raw), 6)) + _chunk(b"IEND", b"")
