"""The size a PNG or JPEG declares in its header, read without decoding, and the one size
guard every decode path applies before decoding (files of the data loaders, compressed
payloads of bags and nodes): a 629-byte JPEG can declare 24000 x 24000 pixels and cost
gigabytes when decoded.
"""

from __future__ import annotations

import struct

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
#: Decoding refuses an image whose header declares more pixels than this, or a side longer
#: than MAX_DECODE_SIDE, before any pixel is decoded. 4096 x 4096 holds every camera frame.
MAX_DECODE_PIXELS = 4096 * 4096
MAX_DECODE_SIDE = 8192
#: JPEG start-of-frame markers (they carry the image size): C0-CF but DHT, JPG and DAC.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


class ImageHeaderError(ValueError):
    """The bytes are not a PNG or JPEG whose size can be read."""


class ImageTooLargeError(ImageHeaderError):
    """An image declares a size beyond the decoding limits."""


def declared_size(data: bytes, what: str) -> tuple[int, int]:
    """(height, width) a PNG (IHDR) or JPEG (start of frame) declares, read from its header
    without decoding anything."""
    if data.startswith(PNG_SIGNATURE):
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise ImageHeaderError(f"{what}: expected a PNG IHDR chunk after the signature, "
                                   f"found {data[8:16].hex() or 'nothing'}")
        width, height = struct.unpack(">II", data[16:24])
        return int(height), int(width)
    if data.startswith(b"\xff\xd8"):
        i = 2
        while i + 4 <= len(data):
            if data[i] != 0xFF:
                break
            marker = data[i + 1]
            if marker == 0xFF:  # fill byte
                i += 1
                continue
            if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
                i += 2
                continue
            if marker in _JPEG_SOF and i + 9 <= len(data):
                height, width = struct.unpack(">HH", data[i + 5:i + 9])
                return int(height), int(width)
            if marker in (0xD9, 0xDA):  # end of image / start of scan before a frame
                break
            i += 2 + struct.unpack(">H", data[i + 2:i + 4])[0]
        raise ImageHeaderError(f"{what}: expected a JPEG with a frame header, found "
                               f"{len(data)} bytes without one")
    raise ImageHeaderError(f"{what}: expected a PNG or JPEG file, found {len(data)} bytes "
                           f"starting {data[:8].hex()}")


def check_size(height: int, width: int, what: str, max_pixels: int = MAX_DECODE_PIXELS,
               max_side: int = MAX_DECODE_SIDE) -> None:
    """Refuse a ``height`` x ``width`` image beyond the limits (one line naming all)."""
    if height < 1 or width < 1:
        raise ImageHeaderError(f"{what}: expected a size of at least 1x1, found "
                               f"{width}x{height}")
    if height * width > max_pixels or max(height, width) > max_side:
        raise ImageTooLargeError(f"{what}: {width}x{height} ({height * width} pixels) is "
                                 f"larger than the decoding limit of {max_pixels} pixels and "
                                 f"{max_side} a side; not decoded")


def check_declared(data: bytes, what: str, max_pixels: int = MAX_DECODE_PIXELS,
                   max_side: int = MAX_DECODE_SIDE) -> tuple[int, int]:
    """:func:`declared_size` then :func:`check_size`; returns (height, width)."""
    height, width = declared_size(data, what)
    check_size(height, width, what, max_pixels, max_side)
    return height, width
