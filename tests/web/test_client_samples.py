"""The code samples in remove.bg's and Azure's documentation, run unchanged against a real server.

Only the placeholders the samples ask the reader to fill in are filled in (the
endpoint, the API key, the file path or image URL); everything else is the
sample's own text, run by the real curl, Python `requests` and Node 20 against
uvicorn serving the app on 127.0.0.1.
"""
from __future__ import annotations

import io
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import uvicorn
from PIL import Image

from cutout.web import create_app
from local_http import Route
from photos import assert_subject_found


@pytest.fixture(scope="module")
def server(base_settings, segmenter, tmp_path_factory):
    """The app behind a real uvicorn server, with API keys required as when deployed."""
    cfg = replace(base_settings, table="", data_dir=str(tmp_path_factory.mktemp("samples")),
                  allow_anonymous=False, fetch_allow_hosts=("127.0.0.1",))
    app = create_app(cfg, segmenter)
    key = app.state.services.accounts.create_key("mega", owner="samples",
                                                      mp_per_minute=100_000, monthly_credits=100_000)[0]
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield SimpleNamespace(url=f"http://127.0.0.1:{port}", key=key)
    uv.should_exit = True
    thread.join(10)
    sock.close()


@pytest.fixture
def workdir(tmp_path, coffee_jpeg, web_server):
    """A folder holding the photo as file.jpg; the same photo is also served at an image URL."""
    (tmp_path / "file.jpg").write_bytes(coffee_jpeg)
    web_server.routes["/example.jpg"] = Route(body=coffee_jpeg, headers={"Content-Type": "image/jpeg"})
    return SimpleNamespace(path=tmp_path, image_url=web_server.url("/example.jpg"))


def fill(sample: str, server, workdir) -> str:
    return (sample.replace("https://api.remove.bg", server.url)
            .replace("https://<endpoint>/", server.url + "/")
            .replace("INSERT_YOUR_API_KEY_HERE", server.key)
            .replace("<subscriptionKey>", server.key)
            .replace("/path/to/file.jpg", str(workdir.path / "file.jpg"))
            .replace("https://www.remove.bg/example.jpg", workdir.image_url)
            .replace("https://learn.microsoft.com/azure/ai-services/computer-vision/media/quickstarts/"
                     "presentation.png", workdir.image_url))


def run(command: list[str], workdir, stdin: str | None = None) -> None:
    done = subprocess.run(command, cwd=workdir.path, input=stdin, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{command[0]} failed:\n{done.stdout}\n{done.stderr}"


def check_cut_out(path, mode: str = "RGBA") -> None:
    img = Image.open(io.BytesIO(path.read_bytes()))
    assert (img.format, img.mode, img.size) == ("PNG", mode, (600, 400))
    alpha = np.asarray(img) if mode == "L" else np.asarray(img)[:, :, 3]
    assert_subject_found(alpha, "coffee")


# --- remove.bg ------------------------------------------------------------------------------------

REMOVEBG_CURL_FILE = """\
curl -H 'X-API-Key: INSERT_YOUR_API_KEY_HERE'           \\
     -F 'image_file=@/path/to/file.jpg'                 \\
     -F 'size=auto'                                     \\
     -f https://api.remove.bg/v1.0/removebg -o no-bg.png
"""

REMOVEBG_CURL_URL = """\
curl -H 'X-API-Key: INSERT_YOUR_API_KEY_HERE'           \\
     -F 'image_url=https://www.remove.bg/example.jpg'   \\
     -F 'size=auto'                                     \\
     -f https://api.remove.bg/v1.0/removebg -o no-bg.png
"""

REMOVEBG_PYTHON_FILE = """\
# Requires "requests" to be installed (see python-requests.org)
import requests

response = requests.post(
    'https://api.remove.bg/v1.0/removebg',
    files={'image_file': open('/path/to/file.jpg', 'rb')},
    data={'size': 'auto'},
    headers={'X-Api-Key': 'INSERT_YOUR_API_KEY_HERE'},
)
if response.status_code == requests.codes.ok:
    with open('no-bg.png', 'wb') as out:
        out.write(response.content)
else:
    print("Error:", response.status_code, response.text)
"""

REMOVEBG_PYTHON_URL = """\
# Requires "requests" to be installed (see python-requests.org)
import requests

response = requests.post(
    'https://api.remove.bg/v1.0/removebg',
    data={
        'image_url': 'https://www.remove.bg/example.jpg',
        'size': 'auto'
    },
    headers={'X-Api-Key': 'INSERT_YOUR_API_KEY_HERE'},
)
if response.status_code == requests.codes.ok:
    with open('no-bg.png', 'wb') as out:
        out.write(response.content)
else:
    print("Error:", response.status_code, response.text)
"""

REMOVEBG_NODE_FILE = """\
// Requires Node.js 20 or later
import fs from "node:fs";

async function removeBg(blob) {
  const formData = new FormData();
  formData.append("size", "auto");
  formData.append("image_file", blob);

  const response = await fetch("https://api.remove.bg/v1.0/removebg", {
    method: "POST",
    headers: { "X-Api-Key": "INSERT_YOUR_API_KEY_HERE" },
    body: formData,
  });

  if (response.ok) {
    return await response.arrayBuffer();
  } else {
    throw new Error(`${response.status}: ${response.statusText}`);
  }
}

const inputPath = "/path/to/file.jpg";
const fileBlob = await fs.openAsBlob(inputPath)
const rbgResultData = await removeBg(fileBlob);
fs.writeFileSync("no-bg.png", Buffer.from(rbgResultData));
"""

REMOVEBG_NODE_URL = """\
// Requires Node.js 20 or later
import fs from "node:fs";

async function removeBg(imageURL) {
  const formData = new FormData();
  formData.append("size", "auto");
  formData.append("image_url", imageURL);

  const response = await fetch("https://api.remove.bg/v1.0/removebg", {
    method: "POST",
    headers: { "X-Api-Key": "INSERT_YOUR_API_KEY_HERE" },
    body: formData,
  });

  if (response.ok) {
    return await response.arrayBuffer();
  } else {
    throw new Error(`${response.status}: ${response.statusText}`);
  }
}

const rbgResultData = await removeBg("https://www.remove.bg/example.jpg");
fs.writeFileSync("no-bg.png", Buffer.from(rbgResultData));
"""


def need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")


@pytest.mark.parametrize("sample", [REMOVEBG_CURL_FILE, REMOVEBG_CURL_URL], ids=["file", "url"])
def test_remove_bg_curl(server, workdir, sample):
    need("curl")
    run(["bash", "-c", fill(sample, server, workdir)], workdir)
    check_cut_out(workdir.path / "no-bg.png")


@pytest.mark.parametrize("sample", [REMOVEBG_PYTHON_FILE, REMOVEBG_PYTHON_URL], ids=["file", "url"])
def test_remove_bg_python(server, workdir, sample):
    run([sys.executable, "-"], workdir, stdin=fill(sample, server, workdir))
    check_cut_out(workdir.path / "no-bg.png")


@pytest.mark.parametrize("sample", [REMOVEBG_NODE_FILE, REMOVEBG_NODE_URL], ids=["file", "url"])
def test_remove_bg_node(server, workdir, sample):
    need("node")
    (workdir.path / "sample.mjs").write_text(fill(sample, server, workdir))
    run(["node", "sample.mjs"], workdir)
    check_cut_out(workdir.path / "no-bg.png")


def test_remove_bg_curl_error_is_remove_bg_shaped(server, workdir):
    need("curl")
    sample = REMOVEBG_CURL_FILE.replace("INSERT_YOUR_API_KEY_HERE", "a-wrong-key").replace(" -f ", " ")
    run(["bash", "-c", fill(sample, server, workdir)], workdir)
    body = (workdir.path / "no-bg.png").read_text()
    assert '"errors"' in body and '"auth_failed"' in body and '"API Key invalid"' in body


# --- Azure Image Analysis 4.0 -----------------------------------------------------------------------

# The how-to's REST call (the quickstart's curl with the segment URL): note the single-quoted body.
AZURE_CURL_URL = """\
curl -H "Ocp-Apim-Subscription-Key: <subscriptionKey>" -H "Content-Type: application/json" \
"https://<endpoint>/computervision/imageanalysis:segment?api-version=2023-02-01-preview&mode=backgroundRemoval" \
-d "{'url':'https://learn.microsoft.com/azure/ai-services/computer-vision/media/quickstarts/presentation.png'}" \
-o output.png
"""

# "To analyze a local image, put the binary image data in the HTTP request body."
AZURE_CURL_FILE = """\
curl -H "Ocp-Apim-Subscription-Key: <subscriptionKey>" -H "Content-Type: application/octet-stream" \
"https://<endpoint>/computervision/imageanalysis:segment?api-version=2023-02-01-preview&mode=foregroundMatting" \
--data-binary "@/path/to/file.jpg" -o output.png
"""

# Microsoft Learn's Python lab for background removal (requests, JSON body with a URL).
AZURE_PYTHON = """\
import requests

def BackgroundForeground(endpoint, key):
    print('\\nRemoving background from image...')

    # Define the API version and mode
    api_version = "2023-02-01-preview"
    mode="backgroundRemoval" # Can be "foregroundMatting" or "backgroundRemoval"

    # Remove the background from the image or generate a foreground matte
    url = "{}computervision/imageanalysis:segment?api-version={}&mode={}".format(endpoint, api_version, mode)

    headers= {
        "Ocp-Apim-Subscription-Key": key,
        "Content-Type": "application/json"
    }
    body = {
        "url": "https://www.remove.bg/example.jpg",
    }

    response = requests.post(url, headers=headers, json=body)

    image=response.content
    with open("backgroundForeground.png", "wb") as file:
        file.write(image)
    print('  Results saved in backgroundForeground.png \\n')

BackgroundForeground("https://<endpoint>/", "<subscriptionKey>")
"""

# A fetch call in the shape the REST reference describes (binary body, application/octet-stream).
AZURE_NODE = """\
import fs from "node:fs";

const url = "https://<endpoint>/computervision/imageanalysis:segment?api-version=2023-04-01-preview&mode=backgroundRemoval";
const response = await fetch(url, {
  method: "POST",
  headers: {
    "Content-Type": "application/octet-stream",
    "Ocp-Apim-Subscription-Key": "<subscriptionKey>",
  },
  body: fs.readFileSync("/path/to/file.jpg"),
});
if (!response.ok) {
  const error = await response.json();
  throw new Error(`${error.error.code}: ${error.error.message}`);
}
fs.writeFileSync("output.png", Buffer.from(await response.arrayBuffer()));
"""


def test_azure_curl_with_an_image_url(server, workdir):
    need("curl")
    run(["bash", "-c", fill(AZURE_CURL_URL, server, workdir)], workdir)
    check_cut_out(workdir.path / "output.png")


def test_azure_curl_with_a_local_file(server, workdir):
    need("curl")
    run(["bash", "-c", fill(AZURE_CURL_FILE, server, workdir)], workdir)
    check_cut_out(workdir.path / "output.png", mode="L")


def test_azure_python(server, workdir):
    run([sys.executable, "-"], workdir, stdin=fill(AZURE_PYTHON, server, workdir))
    check_cut_out(workdir.path / "backgroundForeground.png")


def test_azure_node(server, workdir):
    need("node")
    (workdir.path / "sample.mjs").write_text(fill(AZURE_NODE, server, workdir))
    run(["node", "sample.mjs"], workdir)
    check_cut_out(workdir.path / "output.png")
