"""Image files built byte by byte for the decoding tests: real bombs, hand-made PNGs, ICC profiles.

Every bomb here holds a compressed stream that really expands to the whole image
its header declares (zeros through deflate, LZW runs, a VP8L image coded in zero
bits per pixel, RLE runs, 2 Huffman bits per JPEG block), so a decoder that does
not refuse it first does all the work. Each builder runs in time proportional to
its output, not to the pixels it declares. The same builders make small,
within-limit files that the tests decode, which proves the streams are valid.
"""
from __future__ import annotations

import struct
import zlib

import numpy as np

# --- deflate ------------------------------------------------------------------------------

_BLOCK = 1 << 20


def zlib_zeros(count: int) -> bytes:
    """A zlib stream of `count` zero bytes, built from one flushed deflate block repeated.

    After Z_FULL_FLUSH a deflate stream does not refer back, so identical input
    blocks compress to identical bytes; Adler-32 of n zeros is (n mod 65521) << 16 | 1.
    """
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = deflate.compress(bytes(_BLOCK)) + deflate.flush(zlib.Z_FULL_FLUSH)
    whole, rest = divmod(count, _BLOCK)
    tail = deflate.compress(bytes(rest)) + deflate.flush(zlib.Z_FINISH)
    return b"\x78\xda" + block * whole + tail + struct.pack(">I", ((count % 65521) << 16) | 1)


# --- PNG -----------------------------------------------------------------------------------


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_file(width: int, height: int, bit_depth: int, colour_type: int, idat: bytes,
             before_idat: list[tuple[bytes, bytes]] = ()) -> bytes:
    """A PNG from its parts: IHDR, the given chunks, one IDAT holding `idat` (a zlib stream), IEND."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    chunks = b"".join(png_chunk(kind, body) for kind, body in before_idat)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + chunks + png_chunk(b"IDAT", idat)
            + png_chunk(b"IEND", b""))


_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def png_row_bytes(width: int, bit_depth: int, colour_type: int) -> int:
    return (width * _CHANNELS[colour_type] * bit_depth + 7) // 8


def png_bomb(width: int, height: int, bit_depth: int = 1, colour_type: int = 0,
             animated: bool = False) -> bytes:
    """A PNG (or APNG, one frame) of all-zero rows: filter byte 0 and zero samples."""
    raw = height * (1 + png_row_bytes(width, bit_depth, colour_type))
    extra = []
    if colour_type == 3:
        extra.append((b"PLTE", b"\x00\x00\x00\xff\xff\xff"))
    if animated:
        extra.append((b"acTL", struct.pack(">II", 1, 0)))
        extra.append((b"fcTL", struct.pack(">IIIIIHHBB", 0, width, height, 0, 0, 1, 10, 0, 0)))
    return png_file(width, height, bit_depth, colour_type, zlib_zeros(raw), extra)


def png_text_bomb(total: int = 14_000_000, chunks: int | None = None) -> bytes:
    """A 4x4 grey PNG after `total` bytes of zTXt chunks that each inflate to 1 MB (or `chunks` of them)."""
    text = png_chunk(b"zTXt", b"k\x00\x00" + zlib.compress(b"a" * (1 << 20), 9))
    small = png_file(4, 4, 8, 0, png_pack(np.zeros((4, 4)), 8))
    count = chunks if chunks is not None else total // len(text)
    return small[:33] + text * count + small[33:]  # 33: signature and IHDR


def png_pack(samples: np.ndarray, bit_depth: int) -> bytes:
    """Rows of samples (HxW*channels ints) packed at `bit_depth`, each row led by filter byte 0."""
    height = samples.shape[0]
    if bit_depth == 16:
        rows = samples.astype(">u2").reshape(height, -1).view(np.uint8)
    elif bit_depth == 8:
        rows = samples.astype(np.uint8).reshape(height, -1)
    else:
        per_byte = 8 // bit_depth
        flat = samples.reshape(height, -1).astype(np.uint8)
        width = flat.shape[1]
        padded = np.zeros((height, -(-width // per_byte) * per_byte), dtype=np.uint8)
        padded[:, :width] = flat
        groups = padded.reshape(height, -1, per_byte)
        shifts = (8 - bit_depth * (np.arange(per_byte) + 1)).astype(np.uint8)
        rows = np.bitwise_or.reduce(groups << shifts, axis=2).astype(np.uint8)
    out = np.zeros((height, rows.shape[1] + 1), dtype=np.uint8)
    out[:, 1:] = rows
    return zlib.compress(out.tobytes())


# --- GIF: LZW ---------------------------------------------------------------------------------


class _Bits:
    """LSB-first bit writer (GIF LZW and WebP VP8L order)."""

    def __init__(self) -> None:
        self.value, self.count, self.out = 0, 0, bytearray()

    def put(self, value: int, width: int) -> None:
        self.value |= value << self.count
        self.count += width
        while self.count >= 8:
            self.out.append(self.value & 0xFF)
            self.value >>= 8
            self.count -= 8

    def bytes(self) -> bytes:
        return bytes(self.out) + (bytes([self.value]) if self.count else b"")


def gif_lzw_runs(pixels: int, value: int = 0, min_size: int = 2) -> bytes:
    """LZW codes (GIF flavour, LSB first) for `pixels` of index `value`: runs of 1, 2, ... 4091.

    Each code emitted is the one being defined (prev + its own first pixel), so
    the runs grow by one; a clear code restarts the table when it is full.
    """
    clear, end = 1 << min_size, (1 << min_size) + 1
    bits = _Bits()
    lengths: dict[int, int] = {}
    size, nxt, prev_len = min_size + 1, end + 1, 0
    bits.put(clear, size)
    left = pixels
    while left:
        if prev_len == 0:
            code, run = value, 1
        else:
            run = prev_len + 1
            code = nxt
            if run > left:  # the tail: the longest run already in the table that fits
                code = max((c for c, n in lengths.items() if n <= left), default=value,
                           key=lambda c: lengths[c])
                run = lengths.get(code, 1)
        bits.put(code, size)
        if prev_len:
            lengths[nxt] = prev_len + 1
            nxt += 1
            if nxt == 1 << size and size < 12:
                size += 1
        prev_len = run
        left -= run
        if nxt == 4096:
            bits.put(clear, size)
            size, nxt, prev_len, lengths = min_size + 1, end + 1, 0, {}
    bits.put(end, size)
    return bits.bytes()


def gif_bomb(width: int, height: int, screen: tuple[int, int] | None = None, value: int = 0) -> bytes:
    """A GIF whose one frame is width x height pixels of palette index `value` (0 black, 1 white).

    `screen` may claim a smaller canvas than the frame (Pillow then grows the image).
    """
    screen_w, screen_h = screen or (width, height)
    head = b"GIF89a" + struct.pack("<HHBBB", screen_w, screen_h, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    descriptor = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
    lzw = gif_lzw_runs(width * height, value)
    blocks = b"".join(bytes([len(lzw[i:i + 255])]) + lzw[i:i + 255] for i in range(0, len(lzw), 255))
    return head + descriptor + b"\x02" + blocks + b"\x00" + b"\x3b"


# --- TIFF -------------------------------------------------------------------------------------


def tiff_bomb(width: int, height: int, compression: str = "deflate", value: int = 0) -> bytes:
    """An 8-bit greyscale TIFF, one strip of `value` bytes: Adobe Deflate (8) or LZW (5)."""
    if compression == "lzw":
        strip, code = tiff_lzw_runs(width * height, value), 5
    else:
        strip, code = zlib_zeros(width * height), 8
    entries = [  # tag, type (3 SHORT, 4 LONG), value
        (256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, code), (262, 3, 1),
        (273, 4, 0), (277, 3, 1), (278, 4, height), (279, 4, len(strip)),
    ]
    ifd_size = 2 + 12 * len(entries) + 4
    data_offset = 8 + ifd_size
    ifd = struct.pack("<H", len(entries))
    for tag, kind, number in entries:
        number = data_offset if tag == 273 else number
        ifd += struct.pack("<HHI", tag, kind, 1) + (struct.pack("<HH", number, 0) if kind == 3
                                                    else struct.pack("<I", number))
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + strip


def tiff_lzw_runs(pixels: int, value: int = 0) -> bytes:
    """TIFF-flavoured LZW (TIFF 6.0 section 13: MSB first, 9-12 bit codes widened one code
    early) for `pixels` bytes of `value`: runs of 1, 2, 3, ... with a clear before the table fills."""
    clear, end = 256, 257
    out, acc, count = bytearray(), 0, 0

    def put(code: int, width: int) -> None:
        nonlocal acc, count
        acc = (acc << width) | code
        count += width
        while count >= 8:
            count -= 8
            out.append((acc >> count) & 0xFF)
        acc &= (1 << count) - 1

    size, nxt, prev_len, left = 9, 258, 0, pixels
    put(clear, size)
    while left:
        run = 1 if prev_len == 0 else prev_len + 1
        if run > left or nxt >= 4093:  # the tail, or the table is nearly full: start again
            put(clear, size)
            size, nxt, prev_len = 9, 258, 0
            continue
        put(value if prev_len == 0 else nxt, size)
        if prev_len:
            nxt += 1
            if nxt == (1 << size) - 1 and size < 12:
                size += 1
        prev_len, left = run, left - run
    put(end, size)
    if count:
        out.append((acc << (8 - count)) & 0xFF)
    return bytes(out)


# --- WebP: VP8L -------------------------------------------------------------------------------


def webp_bomb(width: int, height: int) -> bytes:
    """A lossless WebP whose five prefix codes each have one symbol: zero bits per pixel.

    VP8L bitstream (the WebP Lossless Bitstream Specification, RFC 9649): header,
    no transform, no colour cache, one prefix-code group of "simple" codes.
    """
    bits = _Bits()
    bits.put(0x2F, 8)
    bits.put(width - 1, 14)
    bits.put(height - 1, 14)
    bits.put(0, 1)  # alpha_is_used
    bits.put(0, 3)  # version
    bits.put(0, 1)  # no transform
    bits.put(0, 1)  # no colour cache
    bits.put(0, 1)  # no meta prefix codes
    for symbol in (0, 0, 0, 255, 0):  # green, red, blue, alpha, distance
        bits.put(1, 1)  # simple code
        bits.put(0, 1)  # one symbol
        if symbol < 2:
            bits.put(0, 1)
            bits.put(symbol, 1)
        else:
            bits.put(1, 1)
            bits.put(symbol, 8)
    payload = bits.bytes()
    if len(payload) % 2:
        payload += b"\x00"
    chunk = b"VP8L" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


# --- BMP: RLE8 --------------------------------------------------------------------------------


def bmp_bomb(width: int, height: int) -> bytes:
    """An 8-bit RLE BMP: every row is runs of 255 pixels of index 0, then end-of-line."""
    full, rest = divmod(width, 255)
    row = b"\xff\x00" * full + (bytes([rest, 0]) if rest else b"") + b"\x00\x00"
    pixels = row * height + b"\x00\x01"
    palette = b"\x00\x00\x00\x00\xff\xff\xff\x00"
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(pixels), 2835, 2835, 2, 0)
    head = b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset)
    return head + info + palette + pixels


# --- JPEG -------------------------------------------------------------------------------------


def _segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def jpeg_bomb(width: int, height: int) -> bytes:
    """A baseline greyscale JPEG in 2 bits per 8x8 block: one-code Huffman tables (DC 0, EOB)."""
    dqt = _segment(0xDB, b"\x00" + b"\x01" * 64)
    sof = _segment(0xC0, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00")
    one_code = b"\x01" + b"\x00" * 15 + b"\x00"  # one code of length 1, for symbol 0
    dht = _segment(0xC4, b"\x00" + one_code + b"\x10" + one_code)
    sos = _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
    blocks = -(-width // 8) * -(-height // 8)
    full, rest = divmod(blocks * 2, 8)
    scan = bytes(full) + (bytes([0xFF >> rest]) if rest else b"")  # pad the last byte with 1 bits
    return b"\xff\xd8" + dqt + sof + dht + sos + scan + b"\xff\xd9"


def progressive(size: int = 2000) -> bytes:
    """A real progressive JPEG of smooth gradients (about 35 KB), 10 scans (libjpeg's script)."""
    import io

    from PIL import Image

    y, x = np.mgrid[0:size, 0:size]
    pixels = np.stack([x * 200 // size, y * 200 // size, (x + y) * 100 // size], axis=2)
    out = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(out, "JPEG", quality=75, progressive=True)
    return out.getvalue()


def with_last_scan_repeated(data: bytes, times: int) -> bytes:
    """The file with its last scan (SOS header + entropy-coded data) repeated `times` more times."""
    last_sos = data.rindex(b"\xff\xda")
    end = data.rindex(b"\xff\xd9")
    return data[:end] + data[last_sos:end] * times + data[end:]


# --- ICC profiles (ICC.1:2001-04, version 2 matrix/TRC) -----------------------------------------

STORED = (20, 160, 60)  # a colour as stored in an Adobe RGB (1998) file ...
ADOBE_IN_SRGB = (0, 161, 47)  # ... and the same colour in sRGB (issue 11's right value, +-2)


def assert_near(actual, expected, tolerance: int = 2) -> None:
    assert np.abs(np.asarray(actual, dtype=int) - np.asarray(expected, dtype=int)).max() <= tolerance, \
        (actual, expected)


D50 = (0.9642, 1.0, 0.8249)
D65_XY = (0.3127, 0.3290)
_BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])


def _xyz(xy: tuple[float, float]) -> np.ndarray:
    x, y = xy
    return np.array([x / y, 1.0, (1 - x - y) / y])


def colorants_d50(primaries: tuple[tuple[float, float], ...], white_xy: tuple[float, float]) -> np.ndarray:
    """Columns = the red, green and blue colorants (XYZ), chromatically adapted to D50 (Bradford)."""
    xyz = np.stack([_xyz(p) for p in primaries], axis=1)
    white = _xyz(white_xy)
    m = xyz * np.linalg.solve(xyz, white)  # scale the primaries so that R=G=B=1 is the white
    cone_src, cone_dst = _BRADFORD @ white, _BRADFORD @ np.array(D50)
    adapt = np.linalg.inv(_BRADFORD) @ np.diag(cone_dst / cone_src) @ _BRADFORD
    return adapt @ m


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz_tag(xyz) -> bytes:
    return b"XYZ \x00\x00\x00\x00" + b"".join(_s15(v) for v in xyz)


def _desc_tag(text: str) -> bytes:
    ascii_ = text.encode() + b"\x00"
    return (b"desc\x00\x00\x00\x00" + struct.pack(">I", len(ascii_)) + ascii_
            + b"\x00" * 8 + b"\x00" * 3 + b"\x00" * 67)


def icc_profile(klass: bytes, space: bytes, pcs: bytes, tags: list[tuple[bytes, bytes]],
                version: bytes = b"\x02\x10\x00\x00") -> bytes:
    """ICC bytes: the 128-byte header (ICC.1 section 7.2), the tag table, the tags (4-byte aligned)."""
    offset, directory, body = 128 + 4 + 12 * len(tags), b"", b""
    for sig, data in tags:
        data += b"\x00" * (-len(data) % 4)
        directory += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    header = (struct.pack(">I", offset + len(body)) + b"lcms" + version + klass + space + pcs
              + b"\x00" * 12 + b"acsp" + b"\x00" * 24 + b"\x00" * 4
              + b"".join(_s15(v) for v in D50) + b"\x00" * 48)
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + directory + body


_COPYRIGHT = (b"cprt", b"text\x00\x00\x00\x00" + b"No copyright, test data\x00")


def icc_rgb_profile(description: str, primaries, white_xy=D65_XY, *, gamma: float | None = None,
                    srgb_curve: bool = False) -> bytes:
    """An RGB display profile (v2): colorants from xy primaries, a gamma or the sRGB curve per channel."""
    m = colorants_d50(primaries, white_xy)
    if srgb_curve:  # parametricCurveType, function 3 (IEC 61966-2.1's piecewise curve); a v4 type
        trc = (b"para\x00\x00\x00\x00" + struct.pack(">HH", 3, 0)
               + b"".join(_s15(v) for v in (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)))
    else:
        trc = b"curv\x00\x00\x00\x00" + struct.pack(">IH", 1, round(gamma * 256)) + b"\x00\x00"
    tags = [
        (b"desc", _desc_tag(description)),
        (b"wtpt", _xyz_tag(D50)),
        (b"rXYZ", _xyz_tag(m[:, 0])), (b"gXYZ", _xyz_tag(m[:, 1])), (b"bXYZ", _xyz_tag(m[:, 2])),
        (b"rTRC", trc), (b"gTRC", trc), (b"bTRC", trc), _COPYRIGHT,
    ]
    version = b"\x04\x20\x00\x00" if srgb_curve else b"\x02\x10\x00\x00"
    return icc_profile(b"mntr", b"RGB ", b"XYZ ", tags, version)


def grey_profile(gamma: float) -> bytes:
    """A v2 grey display profile: D50 white and one gamma curve (kTRC)."""
    trc = b"curv\x00\x00\x00\x00" + struct.pack(">IH", 1, round(gamma * 256)) + b"\x00\x00"
    tags = [(b"desc", _desc_tag("grey test")), (b"wtpt", _xyz_tag(D50)), (b"kTRC", trc)]
    return icc_profile(b"mntr", b"GRAY", b"XYZ ", tags)


def adobe_rgb_profile() -> bytes:
    """Adobe RGB (1998): primaries and gamma 563/256 from Adobe's published specification."""
    return icc_rgb_profile("Adobe RGB (1998) test", ((0.64, 0.33), (0.21, 0.71), (0.15, 0.06)),
                           gamma=563 / 256)


def display_p3_profile() -> bytes:
    """Display P3: DCI-P3 primaries, D65 white, the sRGB curve (Apple's published definition)."""
    return icc_rgb_profile("Display P3 test", ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)),
                           srgb_curve=True)


def _lab_d50(rgb) -> np.ndarray:
    """CIELAB (D50, the ICC PCS) of an sRGB colour, by IEC 61966-2.1 and CIE 15 formulas."""
    v = np.asarray(rgb, dtype=float) / 255
    linear = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    xyz = colorants_d50(((0.64, 0.33), (0.30, 0.60), (0.15, 0.06)), D65_XY) @ linear
    t = xyz / np.array(D50)
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


INKS = {"C": (0, 160, 220), "M": (220, 0, 120), "Y": (255, 230, 0), "K": (30, 30, 30)}


def ink_rgb(c: int, m: int, y: int, k: int) -> np.ndarray:
    """The sRGB colour of paper (white) under the given full inks: reflectances multiply."""
    out = np.ones(3)
    for on, ink in zip((c, m, y, k), "CMYK"):
        if on:
            out *= np.array(INKS[ink]) / 255
    return out * 255


def cmyk_profile() -> bytes:
    """A v2 CMYK output profile whose A2B0 (lut16, 2x2x2x2 grid) maps each ink combination
    to `ink_rgb`'s colour in Lab: inks unlike Pillow's naive CMYK->RGB (cyan is (0,160,220))."""
    grid = []
    for c in (0, 1):  # the first input channel varies slowest (ICC.1 lut16Type)
        for m in (0, 1):
            for y in (0, 1):
                for k in (0, 1):
                    lab = _lab_d50(ink_rgb(c, m, y, k))
                    grid += [round(lab[0] * 652.80), round((lab[1] + 128) * 256), round((lab[2] + 128) * 256)]
    identity = b"".join(_s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    lut = (b"mft2\x00\x00\x00\x00" + bytes([4, 3, 2, 0]) + identity + struct.pack(">HH", 2, 2)
           + struct.pack(">8H", *[0, 65535] * 4) + struct.pack(f">{len(grid)}H", *grid)
           + struct.pack(">6H", *[0, 65535] * 3))
    tags = [(b"desc", _desc_tag("CMYK inks test")), (b"wtpt", _xyz_tag(D50)), (b"A2B0", lut), _COPYRIGHT]
    return icc_profile(b"prtr", b"CMYK", b"Lab ", tags)
