"""`from cutout import remove`, called as a rembg user calls it: bytes, PIL or NumPy in, the same out."""
from __future__ import annotations

import io
import threading

import numpy as np
import pytest
from PIL import Image

from conftest import encode
from photos import assert_subject_found

import cutout
from cutout import CutoutError, new_session, remove


def http_png(client, data: bytes, **fields: str) -> np.ndarray:
    """The remove.bg dialect's answer for the same image and options, decoded."""
    answer = client.post("/v1.0/removebg", files={"image_file": ("photo", data, "application/octet-stream")},
                         data={"size": "full", "format": "png", **fields})
    assert answer.status_code == 200, answer.text
    return np.asarray(Image.open(io.BytesIO(answer.content)))


def test_bytes_in_bytes_out_equal_to_the_http_answer(client, astronaut_jpeg) -> None:
    out = remove(astronaut_jpeg)
    assert isinstance(out, bytes) and out.startswith(b"\x89PNG\r\n\x1a\n")
    rgba = np.asarray(Image.open(io.BytesIO(out)))
    assert rgba.shape == (512, 512, 4)
    assert np.array_equal(rgba, http_png(client, astronaut_jpeg))
    assert_subject_found(rgba[:, :, 3], "astronaut")


def test_a_pil_image_comes_back_as_a_pil_image_with_the_same_pixels(client, coffee_jpeg) -> None:
    photo = Image.open(io.BytesIO(coffee_jpeg))
    out = remove(photo)
    assert isinstance(out, Image.Image) and out.mode == "RGBA" and out.size == photo.size
    assert np.array_equal(np.asarray(out), http_png(client, coffee_jpeg))
    mask = remove(photo, mode="fg-mask")
    assert mask.mode == "L"
    assert np.array_equal(np.asarray(mask), http_png(client, coffee_jpeg, channels="alpha"))


def test_a_numpy_array_comes_back_as_an_array(client, coffee: np.ndarray) -> None:
    png = encode(coffee, "PNG")
    out = remove(coffee)
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.shape == coffee.shape[:2] + (4,)
    assert np.array_equal(out, http_png(client, png))
    mask = remove(coffee, mode="fg-mask")
    assert mask.shape == coffee.shape[:2]
    assert np.array_equal(mask, http_png(client, png, channels="alpha"))
    # an alpha channel of its own is honoured, as in a PNG with transparency
    rgba = np.dstack([coffee, np.full(coffee.shape[:2], 255, np.uint8)])
    rgba[:, :100, 3] = 0
    clear = remove(rgba)
    assert np.array_equal(clear, http_png(client, encode(rgba, "PNG")))
    assert clear[:, :100, 3].max() == 0


@pytest.mark.parametrize("kwargs, fields", [
    ({"background_color": "white", "format": "jpg"}, {"bg_color": "white", "format": "jpg"}),
    ({"background_color": (129, 212, 250)}, {"bg_color": "81d4fa"}),
    ({"crop": True, "crop_margin": "10%"}, {"crop": "true", "crop_margin": "10%"}),
    ({"mode": "fg-image-shadow", "shadow_opacity": 0.8}, {"shadow_type": "drop", "shadow_opacity": "80"}),
    ({"scale": "50%", "position": "center"}, {"scale": "50%"}),
    ({"roi": "0 0 60% 100%"}, {"roi": "0 0 60% 100%"}),
    ({"max_megapixels": 0.25}, {"size": "preview"}),
    ({"model": "fast-tta"}, {"model": "fast-tta"}),
])
def test_every_option_gives_the_http_answer_s_pixels(client, astronaut_jpeg, kwargs, fields) -> None:
    out = remove(Image.open(io.BytesIO(astronaut_jpeg)), **kwargs)
    answer = client.post("/v1.0/removebg", files={"image_file": ("a.jpg", astronaut_jpeg, "image/jpeg")},
                         data={"size": "full", "format": "png", **fields})
    assert answer.status_code == 200, answer.text
    expected = Image.open(io.BytesIO(answer.content))
    assert out.mode == expected.mode and out.size == expected.size
    assert np.array_equal(np.asarray(out), np.asarray(expected))  # jpg: the same encoder on the same pixels


def test_engine_options_without_a_remove_bg_name_reach_the_engine(segmenter, coffee_jpeg) -> None:
    """decontaminate, refine_edges and a background image: the engine's pixels for those Options."""
    from cutout.engine import images, pipeline

    backdrop = encode(np.full((50, 80, 3), (10, 200, 30), np.uint8), "PNG")
    for kwargs in ({"decontaminate": 0.0}, {"refine_edges": True},
                   {"background_image": backdrop}):
        expected = pipeline.cut(coffee_jpeg, pipeline.Options(**kwargs), segmenter=segmenter,
                                limits=images.Limits()).data
        assert remove(coffee_jpeg, **kwargs) == expected, kwargs
    # a background given as an array is the same background
    same = remove(coffee_jpeg, background_image=np.full((50, 80, 3), (10, 200, 30), np.uint8))
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(same))),
                          np.asarray(Image.open(io.BytesIO(remove(coffee_jpeg, background_image=backdrop)))))


def test_exif_orientation_and_colour_profile_of_a_pil_image_are_applied(client, astronaut) -> None:
    """A JPEG stored sideways with an Adobe RGB profile, opened with PIL: upright and in sRGB,
    as the HTTP answer for the file is."""
    import hostile_images

    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned: shown rotated 90 degrees clockwise
    stored = io.BytesIO()
    Image.fromarray(astronaut[:, :400]).save(stored, "JPEG", quality=92, exif=exif,
                                             icc_profile=hostile_images.adobe_rgb_profile())
    photo = Image.open(io.BytesIO(stored.getvalue()))
    out = remove(photo)
    assert out.size == (512, 400)  # upright: the stored 400x512 turned
    assert np.array_equal(np.asarray(out), http_png(client, stored.getvalue()))
    plain = remove(Image.fromarray(np.asarray(photo)))  # the same numbers without the profile
    assert not np.array_equal(np.asarray(out)[:, :, :3], np.asarray(plain.rotate(-90, expand=True))[:, :, :3])


def test_a_session_chooses_the_tier_and_is_shared_by_threads(client, astronaut_jpeg) -> None:
    session = new_session("quality")
    assert session.meter.quality is not None and session.meter.quality.loaded  # loaded now
    expected = http_png(client, astronaut_jpeg, model="quality")
    results: list[np.ndarray] = []

    def work() -> None:
        results.append(np.asarray(Image.open(io.BytesIO(remove(astronaut_jpeg, session=session)))))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4 and all(np.array_equal(r, expected) for r in results)
    # a call may still name another tier
    fast = remove(astronaut_jpeg, session=session, model="fast")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(fast))), http_png(client, astronaut_jpeg))
    # sessions share the process's one loaded model
    assert new_session().meter is session.meter


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(CutoutError, match="Can not load image"):
        remove(b"not an image")
    with pytest.raises(CutoutError, match="HxW, HxWx3 or HxWx4 uint8"):
        remove(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(CutoutError, match="Invalid colour"):
        remove(np.zeros((10, 10, 3), np.uint8), background_color="no such colour")
    with pytest.raises(CutoutError, match="valid models are fast, fast-tta, quality, quality-tta"):
        new_session("u2net")
    with pytest.raises(CutoutError, match="zip format is for bytes"):
        remove(np.zeros((10, 10, 3), np.uint8), format="zip")
    with pytest.raises(TypeError, match="bytes, a PIL image or a NumPy array"):
        remove("photo.jpg")
    with pytest.raises(TypeError):
        remove(b"", alpha_matting=True)  # rembg's option: not one of the engine's


def test_an_image_in_memory_is_bound_by_pixels_not_bytes(monkeypatch) -> None:
    """A 6 MP array is 18 MB uncompressed, over a 16 MB file limit: it is cut out all the same."""
    from cutout import library

    monkeypatch.setattr(library, "_default", None)
    monkeypatch.setenv("CUTOUT_MAX_BYTES", str(1024 * 1024))
    monkeypatch.setattr(library, "_shared", None)
    big = np.zeros((1000, 1000, 3), np.uint8)
    big[300:700, 300:700] = 220
    out = remove(big, mode="fg-mask")
    assert out.shape == (1000, 1000)
    with pytest.raises(CutoutError, match="too large|larger|exceeds|limit"):
        remove(encode(np.random.default_rng(0).integers(0, 255, (800, 800, 3), np.uint8), "PNG"))


def test_the_package_names_remove_and_new_session() -> None:
    assert cutout.remove is remove and cutout.new_session is new_session
    assert "remove" in cutout.__all__ and "new_session" in cutout.__all__
