"""A minimal PNG writer for 1-bit images (no Pillow needed).

A spike raster is a binary picture; as a 1-bit palette PNG it costs an
eighth of a byte per pixel before compression, against several bytes per
cell for a float heatmap in the figure JSON.  Format: PNG specification
(ISO/IEC 15948), chunks IHDR, PLTE, optional tRNS, IDAT, IEND; every row uses filter 0.
"""
from __future__ import annotations

import base64
import struct
import zlib

import numpy as np

__all__ = ["png_1bit", "png_data_uri"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_1bit(mask: np.ndarray, off_rgb=(255, 255, 255), on_rgb=(0, 0, 0),
             transparent_off: bool = False) -> bytes:
    """A 1-bit palette PNG of a 2-D boolean ``mask``: index 1 (``on_rgb``) where True.

    Row 0 of ``mask`` is the top row of the image.  ``transparent_off`` makes
    the background see-through (a tRNS chunk), so the page's light or dark
    theme shows between the spikes.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2 or mask.shape[0] < 1 or mask.shape[1] < 1:
        raise ValueError(f"mask must be a non-empty 2-D array, got shape {mask.shape}")
    height, width = mask.shape
    rows = np.packbits(mask, axis=1)  # MSB first, rows padded to whole bytes, as PNG wants
    raw = np.concatenate([np.zeros((height, 1), dtype=np.uint8), rows], axis=1)  # filter 0
    header = struct.pack(">IIBBBBB", width, height, 1, 3, 0, 0, 0)  # 1 bit, palette colour
    palette = bytes(off_rgb) + bytes(on_rgb)
    alpha = _chunk(b"tRNS", bytes([0, 255])) if transparent_off else b""
    return (_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"PLTE", palette) + alpha
            + _chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)) + _chunk(b"IEND", b""))


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
