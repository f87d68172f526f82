"""gen_images.py — the test image set for strata's decoder and preprocessing, drawn with PIL:
every kind of file the pixels tests need (sizes and aspect ratios, 4:2:0 / 4:2:2 / 4:4:4 with
restart markers, grayscale, CMYK, progressive,
EXIF orientations 2-8, PNG with alpha / palette / 16-bit / 1-bit / interlace / eXIf, a PNG named
.jpg). Deterministic for a given PIL version. (The bad files are made by test_image_inputs.c.)
Used by make_fixtures.py (committed small set) and test_pixels.py (larger set, made live)."""
import io
import os
import struct
import zlib

import numpy as np
from PIL import Image, ImageDraw


def picture(w, h, seed):
    """A natural-ish RGB picture: gradients, shapes, fine texture (so resampling is exercised)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 127 + 120 * np.sin(x / max(w, 1) * 6.3 + seed)
    g = 127 + 120 * np.cos(y / max(h, 1) * 4.1)
    b = 255 * (x + y) / max(w + h, 1)
    a = np.stack([r, g, b], -1) + rng.normal(0, 18, (h, w, 3))
    im = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(im)
    for _ in range(6):
        x0, y0 = int(rng.integers(0, max(w - 1, 1))), int(rng.integers(0, max(h - 1, 1)))
        x1, y1 = x0 + int(rng.integers(1, max(w // 2, 2))), y0 + int(rng.integers(1, max(h // 2, 2)))
        col = tuple(int(c) for c in rng.integers(0, 256, 3))
        (d.ellipse if rng.random() < 0.5 else d.rectangle)([x0, y0, x1, y1], fill=col)
    for k in range(0, w, 7):  # thin lines: high frequencies
        d.line([(k, 0), (k, h // 5)], fill=(255, 255, 255) if k % 2 else (0, 0, 0))
    return im


def exif_with_orientation(o):
    ex = Image.Exif()
    ex[0x0112] = o
    return ex.tobytes()


def write_adam7_png(path, im):
    """An interlaced (Adam7) 8-bit RGB PNG, written by hand from the PNG specification: PIL reads
    interlaced PNGs but cannot write them. Filter type 0 on every row."""
    a = np.asarray(im.convert("RGB"))
    h, w = a.shape[:2]
    raw = b""
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4),
                           (1, 0, 2, 2), (0, 1, 1, 2)):
        sub = a[y0::dy, x0::dx]
        if sub.size:
            raw += b"".join(b"\0" + row.tobytes() for row in sub)

    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body +
                struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) +
                chunk(b"IEND", b""))


def make_set(out, s=1.0):
    """Writes the good images into `out`, sizes scaled by s. Returns their file names."""
    os.makedirs(out, exist_ok=True)
    n = lambda v: max(1, int(round(v * s)))
    names = []

    def save(im, name, **kw):
        im.save(os.path.join(out, name), **kw)
        names.append(name)

    save(picture(n(160), n(120), 1), "rgb_420.jpg", quality=90)
    save(picture(n(90), n(141), 2), "portrait_444.jpg", quality=95, subsampling=0)
    save(picture(n(77), n(53), 6), "rgb_422_restart.jpg", quality=80, subsampling=1, restart_marker_rows=1)
    save(picture(n(125), n(94), 3), "progressive.jpg", quality=85, progressive=True)
    save(picture(n(100), n(67), 4).convert("L"), "gray.jpg", quality=90)
    save(picture(n(64), n(48), 5).convert("CMYK"), "cmyk.jpg", quality=90)
    for o in range(2, 9):
        save(picture(n(60), n(40), 10 + o), f"exif{o}.jpg", quality=90, exif=exif_with_orientation(o))
    # a big-endian ("MM") EXIF block written by hand: IFD0 with one entry, Orientation = 6
    be = b"Exif\0\0MM\0*\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0"
    save(picture(n(50), n(30), 19), "exif6_bigendian.jpg", quality=90, exif=be)
    base = picture(n(80), n(60), 20)
    rgba = base.copy()
    rgba.putalpha(Image.fromarray((np.arange(n(80) * n(60)) % 256).astype(np.uint8).reshape(n(60), n(80))))
    save(rgba, "rgba.png")
    la = base.convert("L")
    la.putalpha(128)
    save(la, "la.png")
    pal = base.convert("P", palette=Image.Palette.ADAPTIVE, colors=50)
    save(pal, "palette_trns.png", transparency=3)
    arr16 = (np.asarray(base).astype(np.uint16) * 257 + np.arange(n(80))[None, :, None]).astype(">u2")
    save(Image.frombytes("RGB", base.size, arr16.tobytes(), "raw", "RGB;16B"), "rgb16.png")
    g16 = (np.asarray(base.convert("L")).astype(np.uint16) * 3).astype(np.uint16)  # 0..765: some > 255
    save(Image.fromarray(g16), "gray16.png")
    save(base.convert("1"), "bilevel.png")
    save(base, "exif6.png", exif=exif_with_orientation(6))
    write_adam7_png(os.path.join(out, "interlaced.png"), picture(n(37), n(29), 21))
    names.append("interlaced.png")
    save(picture(n(30), n(300), 30), "tall_thin.png")
    save(picture(n(7), n(5), 31), "tiny.png")
    save(picture(n(300), n(16), 32), "wide_thin.jpg", quality=90)
    buf = io.BytesIO()
    picture(n(50), n(40), 33).save(buf, "PNG")
    with open(os.path.join(out, "png_named.jpg"), "wb") as f:
        f.write(buf.getvalue())
    names.append("png_named.jpg")
    return names
