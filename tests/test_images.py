"""styletransfer.images: every awkward upload becomes upright RGB or a clear ImageError."""

from __future__ import annotations

import io
import struct
import sys
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from styletransfer.errors import ImageError, InvalidOptionError
from styletransfer.images import fit_max_side, image_info, open_image
from styletransfer.presets import preset_path


def _encode(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_header_only(width: int, height: int) -> bytes:
    """A 1-bit grayscale PNG that declares width×height but carries a few bytes of
    pixel data: decoding it would fail as truncated, so refusing it with a
    "too large" message proves the refusal happened before decoding."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def _quadrants(w: int = 40, h: int = 20) -> Image.Image:
    """Left half red, right half blue: orientation is visible in the pixels."""
    arr = np.zeros((h, w, 3), np.uint8)
    arr[:, : w // 2] = (255, 0, 0)
    arr[:, w // 2 :] = (0, 0, 255)
    return Image.fromarray(arr, "RGB")


def test_exif_orientation_6_comes_out_upright():
    img = _quadrants(40, 20)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored image must be rotated 90° clockwise for display
    data = _encode(img, "JPEG", exif=exif, quality=95)
    out = open_image(data)
    assert out.mode == "RGB"
    assert out.size == (20, 40)
    # Rotating 90° clockwise puts the stored left (red) half on top.
    top = np.asarray(out)[2, 10]
    bottom = np.asarray(out)[-3, 10]
    assert top[0] > 200 and top[2] < 60, top
    assert bottom[2] > 200 and bottom[0] < 60, bottom
    assert "exif" not in out.info
    assert image_info(data) == (20, 40, "JPEG")


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [("CMYK", "JPEG"), ("CMYK", "TIFF"), ("RGBA", "PNG"), ("LA", "PNG"), ("P", "PNG"), ("L", "PNG"), ("1", "PNG")],
)
def test_modes_become_rgb(mode: str, fmt: str):
    src = _quadrants().convert(mode)
    out = open_image(_encode(src, fmt))
    assert out.mode == "RGB"
    assert out.size == (40, 20)


def test_cmyk_colours_survive():
    out = open_image(_encode(_quadrants().convert("CMYK"), "TIFF"))
    left, right = np.asarray(out)[10, 5], np.asarray(out)[10, 35]
    assert left[0] > 200 and left[2] < 60
    assert right[2] > 200 and right[0] < 60


def test_16_bit_grayscale_is_scaled_not_clipped():
    arr = np.full((20, 30), 32768, np.uint16)  # mid grey in 16 bit
    arr[:, :10] = 65535
    src = Image.fromarray(arr)
    assert src.mode == "I;16"
    out = open_image(_encode(src, "PNG"))
    assert out.mode == "RGB" and out.size == (30, 20)
    px = np.asarray(out)
    assert tuple(px[5, 0]) == (255, 255, 255)
    assert abs(int(px[5, 20, 0]) - 128) <= 1


def test_alpha_is_composited_on_white():
    arr = np.zeros((20, 20, 4), np.uint8)
    arr[..., 0] = 255  # red, fully transparent on the left half
    arr[:, 10:, 3] = 255
    out = open_image(_encode(Image.fromarray(arr, "RGBA")))
    px = np.asarray(out)
    assert tuple(px[5, 2]) == (255, 255, 255)
    assert tuple(px[5, 15]) == (255, 0, 0)


def test_palette_with_transparency():
    img = Image.new("P", (20, 20), 1)
    img.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    img.info["transparency"] = 1
    out = open_image(_encode(img, "PNG", transparency=1))
    assert tuple(np.asarray(out)[3, 3]) == (255, 255, 255)


def test_path_and_file_object_sources(tmp_path: Path):
    path = tmp_path / "photo.png"
    _quadrants().save(path)
    assert open_image(path).size == (40, 20)
    assert open_image(str(path)).size == (40, 20)
    with path.open("rb") as fh:
        assert open_image(fh).size == (40, 20)


def test_non_image_bytes():
    with pytest.raises(ImageError, match="not an image"):
        open_image(b"%PDF-1.4 this is clearly not a picture" * 10)


def test_text_file_named_jpg(tmp_path: Path):
    path = tmp_path / "holiday.jpg"
    path.write_text("hello")
    with pytest.raises(ImageError, match="'holiday.jpg' is not an image"):
        open_image(path)


def test_zero_byte_file(tmp_path: Path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        open_image(path)
    with pytest.raises(ImageError, match="empty"):
        image_info(path)


def test_missing_file(tmp_path: Path):
    with pytest.raises(ImageError, match="not found"):
        open_image(tmp_path / "nope.jpg")


def test_truncated_jpeg():
    rng = np.random.default_rng(0)
    noisy = Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), "RGB")
    data = _encode(noisy, "JPEG", quality=90)
    with pytest.raises(ImageError, match="truncated"):
        open_image(data[: len(data) // 2])


def test_decompression_bomb_refused_before_decoding():
    bomb = _png_header_only(20000, 20000)  # 400 Mpx declared, ~100 bytes on disk
    with pytest.raises(ImageError, match="too large"):
        open_image(bomb)
    with pytest.raises(ImageError, match="too large"):
        image_info(bomb)


def test_own_pixel_limit_checked_before_decoding():
    big = _png_header_only(8000, 6000)  # 48 Mpx: below Pillow's guard, above our 40 Mpx default
    with pytest.raises(ImageError, match=r"8000×6000 = 48\.0 megapixels"):
        open_image(big)
    assert image_info(big) == (8000, 6000, "PNG")
    with pytest.raises(ImageError, match="truncated|corrupt"):
        open_image(big, max_pixels=50_000_000)  # now it is decoded, and the data is missing


def test_decompression_bomb_warning_does_not_leak():
    code = (
        "import warnings, sys; sys.path.insert(0, '.');"
        "warnings.simplefilter('error');"
        "from tests.test_images import _png_header_only;"
        "from styletransfer.images import image_info;"
        "print(image_info(_png_header_only(12000, 9000)))"
    )
    repo = Path(__file__).resolve().parents[1]
    res = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "(12000, 9000, 'PNG')" in res.stdout


def test_too_small():
    with pytest.raises(ImageError, match="too small: 8×40"):
        open_image(_encode(Image.new("RGB", (8, 40))))
    assert open_image(_encode(Image.new("RGB", (8, 40))), min_side=4).size == (8, 40)


def test_fit_max_side():
    img = Image.new("RGB", (1000, 500))
    assert fit_max_side(img, 200).size == (200, 100)
    assert fit_max_side(img, 2000) is img  # never upscales
    assert fit_max_side(Image.new("RGB", (300, 1200)), 400).size == (100, 400)
    assert fit_max_side(Image.new("RGB", (1000, 1)), 10).size == (10, 1)
    with pytest.raises(InvalidOptionError):
        fit_max_side(img, 0)


def test_real_photo(tubingen: Path):
    img = open_image(tubingen)
    assert img.mode == "RGB" and img.size == (1024, 768)
    assert image_info(tubingen) == (1024, 768, "JPEG")


def test_module_is_torch_free():
    code = "import sys; import styletransfer.images, styletransfer.presets; print('torch' in sys.modules)"
    repo = Path(__file__).resolve().parents[1]
    res = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "False"


def test_an_iphone_heic_photo_opens_without_registering_heif_first(tmp_path: Path):
    """pillow-heif is imported only when a file needs it (an ISO media "ftyp" box), so a
    fresh process reads a HEIC upload through open_image alone, and a JPEG never imports it."""
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()  # this process writes one
    heic = tmp_path / "photo.heic"
    Image.new("RGB", (96, 64), (200, 40, 40)).save(heic, format="HEIF")
    jpeg = tmp_path / "photo.jpg"
    Image.new("RGB", (96, 64), (200, 40, 40)).save(jpeg)
    code = (
        "import sys\nfrom styletransfer.images import open_image\n"
        "jpg = open_image(sys.argv[2]); before = 'pillow_heif' in sys.modules\n"
        "img = open_image(sys.argv[1]); print(img.mode, img.size, img.getpixel((40, 30)), before)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(heic), str(jpeg)], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[1]).stdout.split()
    mode, w, h, r, g, b, before = out[0], *(int(v.strip("(),")) for v in out[1:6]), out[6]
    assert (mode, w, h) == ("RGB", 96, 64)
    assert abs(r - 200) < 12 and g < 60 and b < 60
    assert before == "False"


def test_a_big_jpeg_decodes_at_a_reduced_scale_for_the_size_it_will_be_painted_at():
    """max_side: a JPEG >= 2x that size decodes at 1/2, 1/4 or 1/8 scale (never below it);
    shrunk to max_side it matches the full decode's picture; EXIF orientation, CMYK and the
    size checks (on the full size) are unchanged; other formats and small JPEGs decode whole."""
    sample = Path(__file__).resolve().parents[1] / "styletransfer" / "samples" / "tubingen.jpg"
    photo = open_image(sample).resize((2400, 1800), Image.LANCZOS)
    data = _encode(photo, "JPEG", quality=92)
    full, small = open_image(data), open_image(data, max_side=1000)
    assert full.size == (2400, 1800) and small.size == (1200, 900)
    a, b = fit_max_side(full, 1000), fit_max_side(small, 1000)
    assert a.size == b.size == (1000, 750)
    assert np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean() < 1.0
    assert open_image(data, max_side=300).size == (300, 225)  # 1/8
    assert open_image(data, max_side=1300).size == (2400, 1800)  # not 2x larger: whole
    assert open_image(_encode(photo, "PNG"), max_side=300).size == (2400, 1800)
    exif = Image.Exif()
    exif[0x0112] = 6
    turned = open_image(_encode(photo, "JPEG", exif=exif, quality=92), max_side=1000)
    assert turned.size == (900, 1200)
    cmyk = open_image(_encode(photo.convert("CMYK"), "JPEG", quality=92), max_side=600)
    assert cmyk.mode == "RGB" and cmyk.size == (600, 450)
    with pytest.raises(ImageError, match="too large"):
        open_image(data, max_side=600, max_pixels=4_000_000)
    with pytest.raises(ImageError, match="truncated"):  # as the bot stores uploads
        open_image(data[: len(data) // 2], max_side=600)


def test_a_big_jpeg_style_decodes_at_the_side_its_method_reads_styles_at(tmp_path):
    """AdaIN reads styles at ``style_side``, Gatys (and ``auto``, which may become it) at the
    content's ``max_side``: a big JPEG style decodes at a reduced scale no smaller than that;
    presets decode whole (their statistics are cached by name)."""
    from styletransfer.inputs import StyleOptions, resolve_styles, style_read_side

    sample = Path(__file__).resolve().parents[1] / "styletransfer" / "samples" / "tubingen.jpg"
    path = tmp_path / "style.jpg"
    path.write_bytes(_encode(open_image(sample).resize((2400, 1800), Image.LANCZOS), "JPEG", quality=92))
    options = StyleOptions(max_side=1024, style_side=512)
    assert style_read_side("adain", options) == 512
    assert style_read_side("gatys", options) == style_read_side("auto", options) == 1024
    (adain,) = resolve_styles(str(path), max_side=style_read_side("adain", options))
    (gatys,) = resolve_styles(str(path), max_side=style_read_side("gatys", options))
    assert adain.image.size == (600, 450) and gatys.image.size == (1200, 900)
    (preset,) = resolve_styles("starry_night", max_side=300)
    assert preset.image.size == open_image(preset_path("starry_night")).size
