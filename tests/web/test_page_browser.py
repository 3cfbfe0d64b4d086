"""The page at GET /, in a real headless Chromium against a live server started as `make run` starts it.

Debian's `chromium` package is driven by Playwright through `executable_path`
(Playwright's own browser download is never used). Without /usr/bin/chromium
these tests are skipped on a developer's machine and FAIL in CI (CI=true):
`.ci/run` installs the package first.
"""
from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import numpy as np
import pytest
from PIL import Image

from conftest import encode
from fixtures_aws import free_port
from local_http import Route
from photos import BACKGROUND, SUBJECT, assert_subject_found

CHROMIUM = os.environ.get("CUTOUT_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[2]
NOT_AN_IMAGE = ROOT / "events" / "photos" / "not-an-image.jpg"
RESULT_TIMEOUT_MS = 60_000


def _need_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{CHROMIUM} is missing in CI: .ci/run must `apt-get install -y chromium`")
    pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`cutout serve` with `make run`'s settings (anonymous use on the unlimited plan)."""
    port = free_port()
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port),
           "CUTOUT_ALLOW_ANONYMOUS": "1", "CUTOUT_ANONYMOUS_PLAN": "unlimited",
           "CUTOUT_TABLE": "", "CUTOUT_DATA_DIR": str(tmp_path_factory.mktemp("page-server")),
           "CUTOUT_FETCH_ALLOW_HOSTS": "127.0.0.1", "CUTOUT_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "cutout.cli", "serve"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"cutout serve exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(base + "ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("cutout serve did not become ready in 120 s")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser, server: str):
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.goto(server)
    yield opened
    context.close()


def card(page, name: str):
    return page.locator(".result", has=page.locator(".name", has_text=name))


def wait_done(page, name: str) -> None:
    card(page, name).and_(page.locator("[data-state=done]")).wait_for(timeout=RESULT_TIMEOUT_MS)


# Reads the shown result's pixels in the page: region means of one channel (3: alpha).
REGION_MEANS = """([selector, regions, channel]) => {
  const img = document.querySelector(selector);
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  return regions.map(([top, bottom, left, right]) => {
    const data = ctx.getImageData(left, top, right - left, bottom - top).data;
    let sum = 0;
    for (let i = channel; i < data.length; i += 4) sum += data[i];
    return sum / (data.length / 4);
  });
}"""


def shown_means(page, name: str, regions, channel: int) -> list[float]:
    index = page.locator(".result").evaluate_all(
        "(cards, name) => cards.findIndex(c => c.querySelector('.name').textContent === name)", name)
    selector = f".result:nth-child({index + 1}) img.after"
    return page.evaluate(REGION_MEANS, [selector, regions, channel])


def test_keyboard_and_phone_sized_screen(browser, server: str) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    choosers = []
    # Listening from the start: Playwright turns on file-chooser interception without
    # waiting for Chromium's reply, so a listener added just before the key press races it.
    page.on("filechooser", lambda chooser: choosers.append(chooser))
    try:
        page.goto(server)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0  # nothing wider than a phone's screen
        page.locator("#drop").focus()
        page.keyboard.press("Enter")
        page.wait_for_timeout(500)
        (chooser,) = choosers  # exactly one chooser for one press
        assert chooser.is_multiple()
        # One chooser per press: the input's own click must not bubble back into the drop area.
        assert page.evaluate("document.querySelector('#drop').contains(document.querySelector('#files'))") is False
        # Tab order reaches the key field, the products and the URL field.
        reached = set()
        page.locator("body").focus()
        for _ in range(15):
            page.keyboard.press("Tab")
            reached.add(page.evaluate("document.activeElement.id || document.activeElement.name"))
        assert {"key", "product", "drop", "url"} <= reached
    finally:
        context.close()


def test_upload_two_photos_see_transparent_background_and_download(
    page, server: str, tmp_path: Path, astronaut: np.ndarray, coffee_jpeg: bytes
) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.reload()
    assert page.title().startswith("Cutout")
    page.locator("#account").filter(has_text="unlimited plan").wait_for(timeout=10_000)

    astronaut_file = tmp_path / "astronaut.jpg"
    astronaut_file.write_bytes(encode(astronaut, "JPEG", quality=92))
    coffee_file = tmp_path / "coffee.jpg"
    coffee_file.write_bytes(coffee_jpeg)
    page.set_input_files("#files", [str(astronaut_file), str(coffee_file)])  # several in a row
    wait_done(page, "astronaut.jpg")
    wait_done(page, "coffee.jpg")
    page.locator("#progress-text").filter(has_text="Done: 2 of 2").wait_for()
    assert page.locator("#progress").evaluate("p => [p.value, p.max]") == [2, 2]

    # The displayed result: transparent where the background was, opaque on the subject.
    background = shown_means(page, "astronaut.jpg", BACKGROUND["astronaut"], 3)
    subject = shown_means(page, "astronaut.jpg", SUBJECT["astronaut"], 3)
    assert max(background) < 25 and min(subject) > 230, (background, subject)
    assert max(shown_means(page, "coffee.jpg", BACKGROUND["coffee"], 3)) < 25
    caption = card(page, "astronaut.jpg").locator(".caption").inner_text()
    assert caption.startswith("512 × 512 px, ") and " KB, " in caption and caption.endswith(" s, 1 credit")

    shot = tmp_path / "page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert Image.open(shot).size[0] == 1280
    if os.environ.get("CUTOUT_PAGE_SCREENSHOT"):  # the README's picture: docs/page.jpg
        page.screenshot(path=os.environ["CUTOUT_PAGE_SCREENSHOT"], full_page=True, type="jpeg",
                        quality=80)

    # The before/after slider reveals the original over the result, from the keyboard too.
    slider = card(page, "astronaut.jpg").locator(".slider input")
    slider.focus()
    page.keyboard.press("End")
    reveal = card(page, "astronaut.jpg").locator(".compare").evaluate(
        "c => c.style.getPropertyValue('--reveal')")
    assert reveal == "100%"

    with page.expect_download() as download_info:
        card(page, "astronaut.jpg").locator(".download").click()
    download = download_info.value
    assert download.suggested_filename == "astronaut.cutout.png"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    with Image.open(saved) as image:
        assert image.format == "PNG" and image.mode == "RGBA" and image.size == (512, 512)
        assert_subject_found(np.asarray(image)[:, :, 3], "astronaut")

    # Offline-ready: every request the page made went to this server, nothing to a CDN.
    assert requested and all(url.startswith(server) or url.startswith("blob:") for url in requested), requested


def test_errors_are_shown_as_the_api_words_them(page, server: str) -> None:
    bad = NOT_AN_IMAGE.read_bytes()
    api = httpx.post(server + "v1.0/removebg", files={"image_file": ("x.jpg", bad, "image/jpeg")})
    error = api.json()["errors"][0]
    page.set_input_files("#files", str(NOT_AN_IMAGE))
    shown = card(page, "not-an-image.jpg").locator(".error")
    shown.wait_for(timeout=RESULT_TIMEOUT_MS)
    assert shown.inner_text() == f"{error['title']}: {error['detail']} ({error['code']}, HTTP 400)"
    assert card(page, "not-an-image.jpg").locator(".download").is_hidden()


def test_a_dropped_file_that_is_not_an_image_says_so_and_is_not_sent(page, server: str) -> None:
    posted: list[str] = []
    page.on("request", lambda request: posted.append(request.url) if request.method == "POST" else None)
    page.evaluate("""() => {
      const data = new DataTransfer();
      data.items.add(new File(["shopping list"], "notes.txt", {type: "text/plain"}));
      document.querySelector("#drop").dispatchEvent(new DragEvent("drop", {dataTransfer: data, bubbles: true, cancelable: true}));
    }""")
    shown = card(page, "notes.txt").locator(".error")
    shown.wait_for(timeout=10_000)
    assert shown.inner_text() == "notes.txt is not an image (text/plain); nothing was sent."
    assert card(page, "notes.txt").locator(".before").is_hidden()
    assert card(page, "notes.txt").locator(".download").is_hidden()
    page.wait_for_timeout(300)
    assert posted == []


def test_the_key_is_remembered_and_a_wrong_one_is_refused_in_the_apis_words(page, server: str) -> None:
    page.fill("#key", "ck_not-a-real-key")
    page.click("#key-save")
    page.locator("#account.error").filter(has_text="Invalid API key.").wait_for(timeout=10_000)
    page.reload()
    assert page.input_value("#key") == "ck_not-a-real-key"
    assert page.evaluate("localStorage.getItem('cutout.apiKey')") == "ck_not-a-real-key"
    page.fill("#url", server + "static/page.css")  # any URL: the key is refused first
    page.press("#url", "Enter")
    shown = card(page, "page.css").locator(".error")
    shown.wait_for(timeout=RESULT_TIMEOUT_MS)
    assert shown.inner_text().startswith("API Key invalid: Invalid API key. (auth_failed, HTTP 403)")
    page.fill("#key", "")
    page.click("#key-save")
    page.locator("#account").filter(has_text="unlimited plan").wait_for(timeout=10_000)
    assert page.evaluate("localStorage.getItem('cutout.apiKey')") is None


def test_a_url_a_paste_and_a_drop_with_the_mask_product(page, web_server, coffee_jpeg: bytes) -> None:
    web_server.routes["/cup.jpg"] = Route(body=coffee_jpeg, headers={"Content-Type": "image/jpeg"})
    page.check("input[name=product][value=mask]")
    page.fill("#url", web_server.url("/cup.jpg"))
    page.click("#url-form button")
    wait_done(page, web_server.url("/cup.jpg"))
    # A mask is opaque grey levels: dark (R near 0) on the table, light on the cup.
    assert max(shown_means(page, web_server.url("/cup.jpg"), BACKGROUND["coffee"], 0)) < 25
    assert min(shown_means(page, web_server.url("/cup.jpg"), SUBJECT["coffee"], 0)) > 230

    page.check("input[name=product][value=cutout]")
    payload = base64.b64encode(coffee_jpeg).decode()
    send_file = """([kind, b64]) => {
      const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
      const data = new DataTransfer();
      data.items.add(new File([bytes], kind + ".jpg", {type: "image/jpeg"}));
      if (kind === "pasted") document.dispatchEvent(new ClipboardEvent("paste", {clipboardData: data}));
      else document.querySelector("#drop").dispatchEvent(new DragEvent("drop", {dataTransfer: data, bubbles: true, cancelable: true}));
    }"""
    page.evaluate(send_file, ["pasted", payload])
    page.evaluate(send_file, ["dropped", payload])
    for name in ("pasted.jpg", "dropped.jpg"):
        wait_done(page, name)
        assert max(shown_means(page, name, BACKGROUND["coffee"], 3)) < 25


def test_the_page_works_under_a_stage_path(server: str) -> None:
    """Behind API Gateway the page is at /<stage>/: every URL it uses is relative."""
    html = httpx.get(server).text
    assert 'href="static/page.css"' in html and 'src="static/page.js"' in html
    script = httpx.get(server + "static/page.js").text
    assert 'fetch("v1.0/removebg"' in script and 'fetch("v1/account"' in script
    for text in (html, script, httpx.get(server + "static/page.css").text):
        assert "http://" not in text and "https://" not in text.replace("https://example.com", "")
        assert 'fetch("/' not in text and 'src="/' not in text and 'href="/' not in text


def test_the_page_loads_without_a_failed_request_or_a_console_error(browser, server: str) -> None:
    """Before its icon was given inline, every load logged a 404 for /favicon.ico."""
    context = browser.new_context()
    page = context.new_page()
    failed: list[str] = []
    page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.status} {r.url}"))
    page.on("requestfailed", lambda r: failed.append(f"failed {r.url}"))
    page.on("console", lambda m: m.type == "error" and failed.append(f"console: {m.text}"))
    try:
        page.goto(server, wait_until="networkidle")
        icon = page.evaluate("document.querySelector('link[rel=icon]').href")
        assert icon.startswith("data:image/svg")
        assert page.evaluate("""(src) => new Promise(done => { const image = new Image();
            image.onload = () => done(image.naturalWidth); image.onerror = () => done(-1);
            image.src = src; })""", icon) > 0  # a picture, not a broken image
        assert failed == []
    finally:
        context.close()
