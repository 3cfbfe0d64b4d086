"""Write the sample Lambda events in events/: HTTP API v2.0 requests and S3 notifications.

The events are shaped exactly like the ones API Gateway (HTTP API, payload
format 2.0) and S3 deliver, and they carry real photographs (scikit-image's
bundled samples, re-encoded as JPEG into events/photos/): a multipart upload
is base64 in `body` with `isBase64Encoded: true`, as API Gateway sends it; an
S3 record names a key, size and ETag that match the photo file, so a test that
uploads the file and replays the event sees what S3 would show it.

    .venv/bin/python events/make_events.py      # rewrites events/*.json and events/photos/
    .venv/bin/python events/make_events.py --sized 1 4 12 --out /tmp/sized   # timing events

Used by `sam local invoke -e events/<name>.json`, events/invoke.py and the tests.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path
from urllib.parse import quote_plus, urlencode

HERE = Path(__file__).resolve().parent
PHOTOS = HERE / "photos"
API_ID = "a1b2c3d4e5"
REGION = "us-east-1"
HOST = f"{API_ID}.execute-api.{REGION}.amazonaws.com"
BUCKET = "cutout-example-bucket"
BOUNDARY = "------------------------5f1c2a9e7d3b4c60"
TIME_EPOCH = 1795244400000  # 2026-11-21T07:00:00Z, fixed so regenerating changes nothing
SOURCE_IP = "203.0.113.7"  # documentation range
NOT_AN_IMAGE = b"%PDF-1.7\n% not an image: a bad upload for the S3 trigger\n"


def photo(name: str, megapixels: float = 0.0) -> bytes:
    """A real photo as JPEG bytes (astronaut: 512x512 portrait; coffee: 600x400 cup),
    optionally resized to about `megapixels` (4:3) for timing runs."""
    from PIL import Image
    from skimage import data as samples

    image = Image.fromarray({"astronaut": samples.astronaut, "coffee": samples.coffee}[name]())
    if megapixels:
        width = round((megapixels * 1e6 * 4 / 3) ** 0.5)
        image = image.resize((width, round(width * 3 / 4)), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def http_event(method: str, path: str, *, query: dict[str, str] | None = None,
               body: bytes | None = None, content_type: str = "",
               base64_body: bool = False, request_id: str = "") -> dict:
    """One HTTP API (payload 2.0) event, as API Gateway hands it to Lambda."""
    headers = {
        "accept": "*/*",
        "host": HOST,
        "user-agent": "curl/8.5.0",
        "x-amzn-trace-id": "Root=1-673ed9f0-0123456789abcdef01234567",
        "x-forwarded-for": SOURCE_IP,
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    if body is not None:
        headers["content-length"] = str(len(body))
        headers["content-type"] = content_type
    event: dict = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": headers,
    }
    if query:
        event["queryStringParameters"] = dict(query)
    event["requestContext"] = {
        "accountId": "123456789012",
        "apiId": API_ID,
        "domainName": HOST,
        "domainPrefix": API_ID,
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                 "sourceIp": SOURCE_IP, "userAgent": "curl/8.5.0"},
        "requestId": request_id or "Bq1Zjg7qIAMEVXw=",
        "routeKey": "$default",
        "stage": "$default",
        "time": "21/Nov/2026:07:00:00 +0000",
        "timeEpoch": TIME_EPOCH,
    }
    if body is not None:
        event["body"] = base64.b64encode(body).decode() if base64_body else body.decode()
    event["isBase64Encoded"] = base64_body
    return event


def multipart(field: str, filename: str, data: bytes, content_type: str,
              **fields: str) -> bytes:
    """A multipart/form-data body as curl -F sends it: plain fields, then the file."""
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    return b"".join([
        *parts,
        f"--{BOUNDARY}\r\n".encode(),
        f'Content-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'.encode(),
        f"Content-Type: {content_type}\r\n\r\n".encode(),
        data,
        f"\r\n--{BOUNDARY}--\r\n".encode(),
    ])


def s3_record(key: str, data: bytes, *, bucket: str = BUCKET, sequencer: int = 1) -> dict:
    """One S3 ObjectCreated:Put record; the key is URL-encoded as S3 encodes it."""
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": REGION,
        "eventTime": "2026-11-21T07:00:00.000Z",
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AIDAJDPLRKLG7UEXAMPLE"},
        "requestParameters": {"sourceIPAddress": SOURCE_IP},
        "responseElements": {
            "x-amz-request-id": f"C3D13FE58DE4C8{sequencer:02d}",
            "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "cutout-uploads",
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                       "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": quote_plus(key, safe="/"), "size": len(data),
                       "eTag": hashlib.md5(data).hexdigest(),
                       "sequencer": f"0065A1B2C3D4E5F6{sequencer:02X}"},
        },
    }


def sqs_job_event(job_id: str, message_id: str, *, receive_count: int = 1) -> dict:
    """An SQS event of one job message, as Lambda's SQS event source delivers it."""
    body = json.dumps({"jobId": job_id})
    return {"Records": [{
        "messageId": message_id,
        "receiptHandle": f"AQEB{hashlib.sha256(message_id.encode()).hexdigest()}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": str(TIME_EPOCH),
            "SenderId": "AROAEXAMPLE:cutout-api",
            "ApproximateFirstReceiveTimestamp": str(TIME_EPOCH + 20),
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:cutout-JobQueue",
        "awsRegion": REGION,
    }]}


def schedule_event(rule: str) -> dict:
    """An EventBridge scheduled event, as a Schedule event source invokes a function with it."""
    return {
        "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event", "source": "aws.events", "account": "123456789012",
        "time": "2026-11-21T07:00:00Z", "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:123456789012:rule/{rule}"], "detail": {},
    }


# The stored-images (IMG Processing) events name a key and an image that must exist where they
# are replayed: replace these two placeholders (tests/test_imgproc_lambda.py does).
API_KEY_PLACEHOLDER = "live_REPLACE_WITH_YOUR_KEY"
IMAGE_PLACEHOLDER = "image_REPLACE_WITH_AN_IMAGE_ID"
IMGPROC_OPERATIONS = {
    "remove-background": {},
    "convert": {"format": "webp", "quality": 80},
    "resize": {"width": 256, "height": 128, "fit": "contain", "letterbox_color": "white"},
    "crop": {"x1": 100, "y1": 50, "x2": 400, "y2": 300},
    "rotate": {"angle": 90},
    "mirror": {"mode": "horizontal"},
    "blur": {"sigma": 3},
    "modulate": {"brightness": 1.2, "saturation": 0.5, "hue": 30},
    "watermark": {"watermarks": [{"id": IMAGE_PLACEHOLDER, "left": 10, "top": 10}]},
}


def imgproc_events(astronaut: bytes) -> dict[str, dict]:
    """One event per /v1/images endpoint, each with the x-api-key placeholder."""
    image = f"/v1/images/{IMAGE_PLACEHOLDER}"
    found = {
        "imgproc-upload.json": http_event(
            "POST", "/v1/images/upload",
            body=multipart("image", "astronaut.jpg", astronaut, "image/jpeg", name="astronaut"),
            content_type=f"multipart/form-data; boundary={BOUNDARY}", base64_body=True),
        "imgproc-create-from-url.json": http_event(
            "POST", "/v1/images", content_type="application/json", body=json.dumps(
                {"name": "coffee", "url": "https://images.example.com/photos/coffee.jpg"}).encode()),
        "imgproc-list.json": http_event("GET", "/v1/images", query={"take": "2"}),
        "imgproc-get.json": http_event("GET", image),
        "imgproc-download.json": http_event("GET", f"{image}/download"),
        "imgproc-publish.json": http_event("POST", f"{image}/publish"),
        "imgproc-unpublish.json": http_event("POST", f"{image}/unpublish"),
        "imgproc-delete.json": http_event("DELETE", image),
    }
    for name, body in IMGPROC_OPERATIONS.items():
        found[f"imgproc-{name}.json"] = http_event(
            "POST", f"{image}/{name}", body=json.dumps(body).encode(),
            content_type="application/json")
    for n, event in enumerate(found.values()):
        event["headers"]["x-api-key"] = API_KEY_PLACEHOLDER
        event["requestContext"]["requestId"] = f"Im9Zjg7qIAMEV{n:02d}="
    return found


def events() -> tuple[dict[str, dict], dict[str, bytes]]:
    """Every sample event by file name, and the photo files they refer to."""
    astronaut, coffee = photo("astronaut"), photo("coffee")
    files = {"astronaut.jpg": astronaut, "coffee.jpg": coffee, "not-an-image.jpg": NOT_AN_IMAGE}
    api = {
        "api-multipart-upload.json": http_event(
            "POST", "/v1/results", query={"mode": "fg-image"},
            body=multipart("image", "astronaut.jpg", astronaut, "image/jpeg"),
            content_type=f"multipart/form-data; boundary={BOUNDARY}", base64_body=True,
            request_id="Bq1Zjg7qIAMEVX1="),
        "api-json-base64.json": http_event(
            "POST", "/v1/results", query={"mode": "fg-mask"},
            body=json.dumps({"image": base64.b64encode(coffee).decode()}).encode(),
            content_type="application/json", request_id="Bq1Zjg7qIAMEVX2="),
        # The URL is a placeholder: point it at a photo your function can reach.
        "api-json-url.json": http_event(
            "POST", "/v1/results", query={"mode": "fg-image-shadow"},
            body=json.dumps({"url": "https://images.example.com/photos/coffee.jpg"}).encode(),
            content_type="application/json", request_id="Bq1Zjg7qIAMEVX3="),
        "api-get-modes.json": http_event("GET", "/v1/modes", request_id="Bq1Zjg7qIAMEVX4="),
        # The page for people, and the readiness probe a load balancer calls.
        "api-get-page.json": http_event("GET", "/", request_id="Bq1Zjg7qIAMEVX8="),
        "api-get-ready.json": http_event("GET", "/ready", request_id="Bq1Zjg7qIAMEVX9="),
        # remove.bg dialect: the answer is the image itself, so binary (isBase64Encoded).
        "api-removebg-alpha.json": http_event(
            "POST", "/v1.0/removebg",
            body=multipart("image_file", "coffee.jpg", coffee, "image/jpeg",
                           size="preview", channels="alpha"),
            content_type=f"multipart/form-data; boundary={BOUNDARY}", base64_body=True,
            request_id="Bq1Zjg7qIAMEVX6="),
        "api-removebg-rgba.json": http_event(
            "POST", "/v1.0/removebg",
            body=multipart("image_file", "astronaut.jpg", astronaut, "image/jpeg", size="preview"),
            content_type=f"multipart/form-data; boundary={BOUNDARY}", base64_body=True,
            request_id="Bq1Zjg7qIAMEVX7="),
        "api-bad-request.json": http_event(
            "POST", "/v1/results", body=b'{"image": "iVBORw0KGgo', content_type="application/json",
            request_id="Bq1Zjg7qIAMEVX5="),
    }
    s3 = {
        "s3-put.json": {"Records": [s3_record("uploads/products/astronaut.jpg", astronaut)]},
        "s3-put-unicode-key.json": {"Records": [
            s3_record("uploads/my photos/café crème.jpg", coffee, sequencer=2)]},
        "s3-put-batch.json": {"Records": [
            s3_record("uploads/batch/astronaut.jpg", astronaut, sequencer=3),
            s3_record("uploads/batch/not-an-image.jpg", NOT_AN_IMAGE, sequencer=4),
            s3_record("uploads/batch/coffee.jpg", coffee, sequencer=5),
        ]},
    }
    jobs = {
        # The jobs function's input: replace jobId with one that POST /v2/remove-background gave.
        "sqs-job.json": sqs_job_event("6f1d0c9e-8a53-4b7e-9a51-3f0e2d7c4b10",
                                      "059f36b4-87a3-44ab-83d2-661975830a7d"),
        # The reconcile function's input, every five minutes.
        "schedule-reconcile.json": schedule_event("cutout-ReconcileFunctionEveryFiveMinutes"),
        "api-adobe-remove-background.json": http_event(
            "POST", "/v2/remove-background",
            body=multipart("image", "coffee.jpg", coffee, "image/jpeg",
                           options=json.dumps({"mode": "cutout",
                                               "output": {"mediaType": "image/png"}})),
            content_type=f"multipart/form-data; boundary={BOUNDARY}", base64_body=True,
            request_id="Bq1Zjg7qIAMEVX8="),
    }
    return {**api, **s3, **jobs, **imgproc_events(astronaut)}, files


def sized_events(sizes: list[float], out: Path) -> None:
    """POST /v1/results events with a raw JPEG body of each size, for timing and cost runs."""
    out.mkdir(parents=True, exist_ok=True)
    for megapixels in sizes:
        data = photo("astronaut", megapixels)
        event = http_event("POST", "/v1/results", query={"mode": "fg-image"}, body=data,
                           content_type="image/jpeg", base64_body=True)
        path = out / f"api-raw-{megapixels:g}mp.json"
        path.write_text(json.dumps(event))
        print(path, f"({len(data)} bytes of JPEG)")


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sized", nargs="+", type=float, metavar="MP",
                        help="instead: write raw-JPEG events of these megapixel sizes")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    if args.sized:
        sized_events(args.sized, args.out)
        return
    found, files = events()
    PHOTOS.mkdir(exist_ok=True)
    for name, data in files.items():
        (PHOTOS / name).write_bytes(data)
    for name, event in found.items():
        (HERE / name).write_text(json.dumps(event, indent=2, ensure_ascii=False) + "\n")
        print(HERE / name)


if __name__ == "__main__":
    main()
