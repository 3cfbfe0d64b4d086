"""`cutout remove`, run as a user runs it: the installed command in a real process."""
from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import encode
from cutout.engine import foreground
from photos import assert_subject_found, disc_scene

CUTOUT = str(Path(sys.executable).parent / "cutout")  # the console script `make install` puts there


def run(*args: str, stdin: bytes | None = None, cwd: Path | None = None, **env: str):
    """`cutout ARGS` -> CompletedProcess with bytes stdout and text stderr."""
    done = subprocess.run([CUTOUT, *args], input=stdin if stdin is not None else b"",
                          capture_output=True, timeout=300, cwd=cwd, env={**os.environ, **env})
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout, done.stderr.decode())


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def members(data: bytes) -> dict[str, bytes]:
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def removebg(client, data: bytes, **fields: str) -> bytes:
    answer = client.post("/v1.0/removebg", files={"image_file": ("a.jpg", data, "image/jpeg")},
                         data={"size": "full", "format": "png", **fields})
    assert answer.status_code == 200, answer.text
    return answer.content


# --- one image -----------------------------------------------------------------------------


@pytest.mark.parametrize("cli, fields", [
    ((), {}),
    (("--background-color", "white", "--format", "jpg"), {"bg_color": "white", "format": "jpg"}),
    (("--mode", "fg-mask"), {"channels": "alpha"}),
    (("--mode", "fg-image-shadow", "--shadow-opacity", "0.8"), {"shadow_type": "drop", "shadow_opacity": "80"}),
    (("--crop", "--crop-margin", "10% 20px"), {"crop": "true", "crop_margin": "10% 20px"}),
    (("--scale", "60%", "--position", "center", "--background-color", "81d4fa"),
     {"scale": "60%", "bg_color": "81d4fa"}),
    (("--roi", "0 0 70% 100%", "--format", "webp"), {"roi": "0 0 70% 100%", "format": "webp"}),
    (("--max-megapixels", "0.25", "-f", "zip"), {"size": "preview", "format": "zip"}),
    (("-m", "quality"), {"model": "quality"}),
    (("--model", "fast-tta", "--format", "auto"), {"model": "fast-tta", "format": "auto"}),
])
def test_stdin_to_stdout_gives_the_http_answer_s_bytes(client, astronaut_jpeg, cli, fields) -> None:
    """`cat a.jpg | cutout remove - -o - > b.png`: byte for byte what remove.bg's dialect answers."""
    done = run("remove", "-", "-o", "-", *cli, stdin=astronaut_jpeg)
    assert done.returncode == 0, done.stderr
    expected = removebg(client, astronaut_jpeg, **fields)
    if fields.get("format") == "zip":  # the same members (a ZIP's headers carry the time of writing)
        assert members(done.stdout) == members(expected) and len(members(expected)) == 2
    else:
        assert done.stdout == expected
    assert done.stderr == ""


def test_stdin_alone_writes_to_stdout_and_a_file_input_can_too(client, coffee_jpeg, tmp_path) -> None:
    done = run("remove", "-", stdin=coffee_jpeg)
    assert done.returncode == 0 and done.stdout == removebg(client, coffee_jpeg)
    (tmp_path / "c.jpg").write_bytes(coffee_jpeg)
    done = run("remove", str(tmp_path / "c.jpg"), "-o", "-", "--mode", "fg-mask")
    assert done.returncode == 0 and done.stdout == removebg(client, coffee_jpeg, channels="alpha")
    done = run("remove", "-", "-o", str(tmp_path / "from-stdin.webp"), stdin=coffee_jpeg)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "from-stdin.webp").read_bytes() == removebg(client, coffee_jpeg, format="webp")


def test_a_file_to_a_named_file_whose_extension_picks_the_format(tmp_path, coffee_jpeg) -> None:
    source = tmp_path / "coffee.jpg"
    source.write_bytes(coffee_jpeg)
    for name, fmt, mode in (("single.png", "PNG", "RGBA"), ("single.webp", "WEBP", "RGBA"),
                            ("shot.JPEG", "JPEG", "RGB"), ("nested/new/cut.png", "PNG", "RGBA")):
        done = run("remove", str(source), "-o", str(tmp_path / name))
        assert done.returncode == 0, done.stderr
        assert done.stdout.decode().strip() == str(tmp_path / name)
        result = Image.open(tmp_path / name)
        assert (result.format, result.mode, result.size) == (fmt, mode, (600, 400))
    assert not (tmp_path / "single.png").is_dir()  # the old CLI made a folder of that name
    # --format wins over the extension; an extension that names no format needs it
    done = run("remove", str(source), "-o", str(tmp_path / "cut.bin"), "--format", "jpg")
    assert done.returncode == 0 and Image.open(tmp_path / "cut.bin").format == "JPEG"
    done = run("remove", str(source), "-o", str(tmp_path / "cut.tga"))
    assert done.returncode == 2 and "cannot tell the format from '.tga'" in done.stderr
    assert not (tmp_path / "cut.tga").exists()
    done = run("remove", str(source), "-o", str(source))
    assert done.returncode == 2 and "would overwrite its input" in done.stderr


def test_remove_one_file_writes_beside_it(tmp_path: Path, astronaut_jpeg: bytes) -> None:
    source = tmp_path / "astronaut.jpg"
    source.write_bytes(astronaut_jpeg)
    done = run("remove", str(source))
    assert done.returncode == 0, done.stderr
    result = tmp_path / "astronaut.cutout.png"
    assert done.stdout.decode().strip() == str(result)
    img = Image.open(result)
    assert img.mode == "RGBA" and img.size == (512, 512)
    assert_subject_found(np.asarray(img.getchannel("A")), "astronaut")


def test_remove_corrects_the_edge_colour_and_decontaminate_0_keeps_the_photo_s(tmp_path: Path) -> None:
    """The CLI's cut-out: every visible pixel is the subject's estimated colour for its alpha."""
    composite, _alpha, _fg = disc_scene()
    source = tmp_path / "disc.png"
    source.write_bytes(encode(composite, "PNG"))
    done = run("remove", str(source))
    assert done.returncode == 0, done.stderr
    rgba = np.asarray(Image.open(tmp_path / "disc.cutout.png"))
    alpha, visible = rgba[:, :, 3], rgba[:, :, 3] > 0
    assert ((alpha > 0) & (alpha < 255)).sum() > 1000
    assert np.array_equal(rgba[:, :, :3][visible], foreground.decontaminate(composite, alpha)[visible])
    done = run("remove", str(source), "-o", str(tmp_path / "plain.png"), "--decontaminate", "0")
    assert done.returncode == 0, done.stderr
    plain = np.asarray(Image.open(tmp_path / "plain.png"))
    assert np.array_equal(plain[:, :, :3][visible], composite[visible])


def test_options_without_a_remove_bg_name_reach_the_engine(tmp_path, segmenter, coffee_jpeg) -> None:
    """A background image, edge refinement, the PNG level, require-foreground: the engine's
    bytes for the same Options."""
    from cutout.engine import images, pipeline

    source, backdrop = tmp_path / "c.jpg", tmp_path / "backdrop.png"
    source.write_bytes(coffee_jpeg)
    backdrop.write_bytes(encode(np.full((40, 90, 3), (10, 200, 30), np.uint8), "PNG"))
    for cli, options in (
            (("--background-image", str(backdrop)), {"background_image": backdrop.read_bytes()}),
            (("--refine-edges", "--png-level", "3"), {"refine_edges": True, "png_level": 3}),
            (("--require-foreground", "--decontaminate", "0.5"), {"require_foreground": True,
                                                                  "decontaminate": 0.5})):
        done = run("remove", str(source), "-o", "-", *cli)
        assert done.returncode == 0, done.stderr
        expected = pipeline.cut(coffee_jpeg, pipeline.Options(**options), segmenter=segmenter,
                                limits=images.Limits())
        assert done.stdout == expected.data, cli
    blank = tmp_path / "blank.png"
    blank.write_bytes(encode(np.full((200, 300, 3), 128, np.uint8), "PNG"))
    done = run("remove", str(blank), "-o", str(tmp_path / "none.png"), "--require-foreground")
    assert done.returncode == 1 and "blank.png: " in done.stderr and not (tmp_path / "none.png").exists()


def test_bad_values_are_refused_in_the_engine_s_words_before_any_work(tmp_path, coffee_jpeg) -> None:
    source = tmp_path / "c.jpg"
    source.write_bytes(coffee_jpeg)
    for cli, message in ((("--background-color", "bluish"), "Invalid colour 'bluish'"),
                         (("--scale", "5%"), "expected a percentage from 10% to 100%"),
                         (("--crop-margin", "900px", "--crop"), "at most 500px on each side"),
                         (("--decontaminate", "2"), "between 0 and 1"),
                         (("--roi", "1 2 3"), "give four values"),
                         (("-m", "u2net"), "invalid choice: 'u2net'"),
                         (("--background-image", str(tmp_path / "missing.png")), "missing.png: No such file")):
        done = run("remove", str(source), *cli)
        assert done.returncode == 2, (cli, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not list(tmp_path.glob("*.cutout.*"))
    done = run("remove", "-", "-o", "-", stdin=b"not an image")
    assert done.returncode == 1 and "cutout: stdin: Can not load image." in done.stderr and done.stdout == b""


def test_standard_output_on_a_terminal_is_refused(coffee_jpeg, tmp_path) -> None:
    (tmp_path / "c.jpg").write_bytes(coffee_jpeg)
    leader, follower = pty.openpty()
    try:
        done = subprocess.run([CUTOUT, "remove", str(tmp_path / "c.jpg"), "-o", "-"], stdout=follower,
                              stderr=subprocess.PIPE, timeout=120, text=True)
    finally:
        os.close(follower)
        os.close(leader)
    assert done.returncode == 2 and "standard output is a terminal" in done.stderr


# --- folders, globs, names -------------------------------------------------------------------


def test_a_folder_to_a_folder_keeps_subfolders_and_prints_a_summary(tmp_path: Path, coffee: np.ndarray) -> None:
    inputs = tmp_path / "in"
    (inputs / "nested").mkdir(parents=True)
    for index in range(4):
        (inputs / ("nested" if index % 2 else "") / f"cup{index}.png").write_bytes(encode(coffee, "PNG"))
    (inputs / "notes.txt").write_text("not an image, not picked up")
    out = tmp_path / "out"
    done = run("remove", str(inputs), "-o", str(out), "--mode", "fg-mask")
    assert done.returncode == 0, done.stderr
    made = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert made == ["cup0.mask.png", "cup2.mask.png", "nested/cup1.mask.png", "nested/cup3.mask.png"]
    assert sorted(done.stdout.decode().split()) == sorted(str(out / name) for name in made)
    assert "cutout: 4 images in " in done.stderr and "images/s)" in done.stderr
    assert "%|" not in done.stderr  # no progress bar when stderr is not a terminal
    mask = Image.open(out / "cup0.mask.png")
    assert mask.mode == "L"
    assert_subject_found(np.asarray(mask), "coffee")


def on_a_terminal(*args: str) -> tuple[int, str]:
    """`cutout ARGS` with stderr on an 80x24 pseudo-terminal: (exit status, what it showed)."""
    import fcntl
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    try:
        process = subprocess.Popen([CUTOUT, *args], stderr=follower, stdout=subprocess.DEVNULL)
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the other end closed
                break
            if not chunk:
                break
            seen += chunk
        return process.wait(timeout=300), seen.decode(errors="replace")
    finally:
        os.close(leader)


def test_a_progress_bar_with_rate_and_eta_on_a_terminal(tmp_path: Path, coffee_jpeg: bytes) -> None:
    for index in range(4):
        (tmp_path / f"p{index}.jpg").write_bytes(coffee_jpeg)
    status, shown = on_a_terminal("remove", str(tmp_path), "-o", str(tmp_path / "o"))
    assert status == 0
    assert "100%|" in shown and "4/4 [" in shown and "image/s]" in shown  # count, elapsed<ETA, rate
    assert "cutout: 4 images in" in shown
    status, shown = on_a_terminal("remove", str(tmp_path), "-q", "-o", str(tmp_path / "q"))
    assert status == 0 and shown == ""  # -q: nothing at all
    assert len(list((tmp_path / "q").iterdir())) == 4


def test_results_never_collide_and_are_never_cut_out_again(tmp_path: Path, coffee: np.ndarray,
                                                          astronaut_jpeg: bytes) -> None:
    """photo.jpg beside photo.png (a camera's JPEG beside its export) get a result each; a
    second run, in another mode, on the folder finds the first run's results and skips them."""
    shots = tmp_path / "shots"
    shots.mkdir()
    (shots / "photo.jpg").write_bytes(astronaut_jpeg)
    (shots / "photo.png").write_bytes(encode(coffee, "PNG"))
    (shots / "other.png").write_bytes(encode(coffee, "PNG"))
    done = run("remove", str(shots))
    assert done.returncode == 0, done.stderr
    first = sorted(p.name for p in shots.iterdir())
    assert first == ["other.cutout.png", "other.png", "photo.jpg", "photo.jpg.cutout.png",
                     "photo.png", "photo.png.cutout.png"]
    assert Image.open(shots / "photo.jpg.cutout.png").size == (512, 512)
    for mode, suffix in (("fg-image-shadow", "shadow"), ("fg-mask", "mask"), ("fg-image", "cutout")):
        done = run("remove", str(shots), "--mode", mode, "--format", "auto")
        assert done.returncode == 0, done.stderr
        assert "3 images" in done.stderr  # the photos, never the results
    names = sorted(p.name for p in shots.iterdir())
    assert not [n for n in names if n.count(".cutout") + n.count(".mask") + n.count(".shadow") > 1]
    assert {"other.shadow.png", "photo.jpg.shadow.png", "other.mask.png", "photo.png.mask.png"} <= set(names)
    # an output folder inside the input folder is not read either
    done = run("remove", str(tmp_path), "-o", str(shots / "out"))
    assert done.returncode == 0 and "3 images" in done.stderr, done.stderr
    done = run("remove", str(tmp_path), "-o", str(shots / "out"))
    assert "3 images" in done.stderr


def test_globs_are_expanded_when_the_shell_does_not(tmp_path: Path, coffee_jpeg: bytes) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.jpg").write_bytes(coffee_jpeg)
    (tmp_path / "a" / "one.cutout.png").write_bytes(b"an earlier result")
    (tmp_path / "two.jpg").write_bytes(coffee_jpeg)
    (tmp_path / "skip.png").write_bytes(coffee_jpeg)
    out = tmp_path / "out"
    done = run("remove", "**/*.jpg", "-o", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["one.cutout.png", "two.cutout.png"]
    done = run("remove", "nothing*.jpg", cwd=tmp_path)
    assert done.returncode == 2 and "nothing*.jpg: no file matches" in done.stderr


def test_bad_files_are_reported_the_others_done_and_the_exit_status_is_1(tmp_path: Path,
                                                                         coffee_jpeg: bytes) -> None:
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    (tmp_path / "good.jpg").write_bytes(coffee_jpeg)
    (tmp_path / "album.jpg").mkdir()  # a folder named like a photo: its photos are taken
    (tmp_path / "album.jpg" / "inner.jpg").write_bytes(coffee_jpeg)
    locked = tmp_path / "a.jpg"
    locked.symlink_to(tmp_path / "gone.jpg")  # a dangling link: reading it fails like a locked file
    done = run("remove", str(tmp_path))
    assert done.returncode == 1
    assert f"{tmp_path / 'broken.jpg'}: Can not load image." in done.stderr
    assert f"{locked}: No such file or directory" in done.stderr and "Traceback" not in done.stderr
    assert "2 images in" in done.stderr and ", 2 failed" in done.stderr
    assert (tmp_path / "good.cutout.png").exists()
    assert (tmp_path / "album.jpg" / "inner.cutout.png").exists()


def test_remove_missing_path(tmp_path: Path) -> None:
    done = run("remove", str(tmp_path / "nope.jpg"))
    assert done.returncode == 2 and "nope.jpg: no such file or folder" in done.stderr


def test_stdin_goes_alone(tmp_path, coffee_jpeg) -> None:
    (tmp_path / "c.jpg").write_bytes(coffee_jpeg)
    done = run("remove", "-", str(tmp_path / "c.jpg"), stdin=coffee_jpeg)
    assert done.returncode == 2 and "- (standard input) is one image" in done.stderr


# --- the command itself ----------------------------------------------------------------------


def test_version_and_help_for_every_argument() -> None:
    from cutout import __version__

    done = run("--version")
    assert done.returncode == 0 and done.stdout.decode().strip() == f"cutout {__version__}"
    for command, examples in (("remove", "cat in.jpg | cutout remove - -o - > out.png"),
                              ("serve", "cutout serve --workers 4")):
        done = run(command, "--help")
        assert done.returncode == 0
        text = done.stdout.decode()
        assert "examples:" in text and examples in text
        from cutout.cli.main import parser

        sub = next(a for a in parser()._subparsers._group_actions[0].choices.items() if a[0] == command)[1]
        for action in sub._actions:
            assert action.help, f"cutout {command}: {action.dest} has no help"
    root = run("--help").stdout.decode()
    assert "examples:" in root and "--version" in root


def test_help_states_each_default_once_and_never_none() -> None:
    import re

    for command in ("remove", "serve"):
        text = run(command, "--help").stdout.decode()
        options = text.split("examples:")[0]
        assert "(default: None)" not in options and "(default: False)" not in options, options
        for block in re.split(r"\n  (?=-)", options)[1:]:
            said = " ".join(block.split())
            assert said.count("default") <= 1, f"cutout {command} --help: {said}"
    remove = " ".join(run("remove", "--help").stdout.decode().split())
    assert "(default: 1.0)" in remove and "(default: fast)" in remove  # real defaults still shown


def test_a_missing_model_is_one_clear_line_not_a_traceback(tmp_path) -> None:
    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(photo)
    empty = tmp_path / "no-models"
    empty.mkdir()
    for args in (("remove", str(photo)), ("serve", "--port", "65531")):  # serve: before it binds
        done = run(*args, CUTOUT_MODEL_DIR=str(empty))
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr, done.stderr
        assert (f"cutout {args[0]}: model u2netp-int8.onnx not found in {empty}; "
                "run `make model MODEL=u2netp-int8` (or set CUTOUT_MODEL_PATH)") in done.stderr
    assert not (tmp_path / "photo.cutout.png").exists()


def test_a_megapixel_cap_that_is_not_a_positive_number_is_refused_before_any_file(tmp_path) -> None:
    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(photo)
    for cap in ("nan", "0", "-1"):
        done = run("remove", str(photo), "--max-megapixels", cap)
        assert done.returncode == 2, done.stderr
        assert "cutout remove: The megapixel limit must be positive." in done.stderr
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "photo.cutout.png").exists()
