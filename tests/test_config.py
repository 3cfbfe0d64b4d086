"""Settings: declared once (default, variable, group), read in one loop, bad values named."""
from __future__ import annotations

from dataclasses import fields

import pytest

from cutout.config import GROUPS, MIB, Settings, SettingError, from_environment, settings

# Every variable the service has ever read, with a value that is not its default.
SAMPLES = {
    "CUTOUT_MODEL": ("model_name", "u2netp"),
    "CUTOUT_MODEL_PATH": ("model_path", "/opt/models/x.onnx"),
    "CUTOUT_MODEL_DIR": ("model_dir", "/opt/models"),
    "CUTOUT_QUALITY_MODEL": ("quality_model", "u2netp"),
    "CUTOUT_THREADS": ("threads", 2),
    "CUTOUT_MAX_MEGAPIXELS": ("max_megapixels", 12.5),
    "CUTOUT_MAX_BYTES": ("max_bytes", 1000),
    "CUTOUT_MAX_REQUEST_BYTES": ("max_request_bytes", 2000),
    "CUTOUT_PNG_COMPRESS_LEVEL": ("png_compress_level", 6),
    "CUTOUT_FETCH_TIMEOUT": ("fetch_timeout", 2.5),
    "CUTOUT_FETCH_MAX_REDIRECTS": ("fetch_max_redirects", 0),
    "CUTOUT_FETCH_ALLOW_HOSTS": ("fetch_allow_hosts", ("example.com", "127.0.0.1")),
    "CUTOUT_FETCH_DOWNLOADS_PER_KEY": ("fetch_downloads_per_key", 2),
    "CUTOUT_LOG_LEVEL": ("log_level", "DEBUG"),
    "CUTOUT_HEADERS_TIMEOUT_SECONDS": ("headers_timeout_seconds", 3.5),
    "CUTOUT_REQUEST_TIMEOUT_SECONDS": ("request_timeout_seconds", 20.0),
    "CUTOUT_MAX_CONCURRENT_CUTS": ("max_concurrent_cuts", 4),
    "CUTOUT_TRIM_IDLE_SECONDS": ("trim_idle_seconds", -1.0),
    "CUTOUT_MAX_QUEUE_SECONDS": ("max_queue_seconds", 4.5),
    "CUTOUT_BACKEND_DEADLINE_SECONDS": ("backend_deadline_seconds", 12.0),
    "CUTOUT_TABLE": ("table", "cutout-prod"),
    "CUTOUT_DATA_DIR": ("data_dir", "/tmp/cutout"),
    "CUTOUT_ALLOW_ANONYMOUS": ("allow_anonymous", True),
    "CUTOUT_ANONYMOUS_PLAN": ("anonymous_plan", "basic"),
    "CUTOUT_RAPIDAPI_PROXY_SECRET": ("rapidapi_proxy_secret", "s3cr3t"),
    "CUTOUT_RAPIDAPI_PROXY_SECRET_ID": ("rapidapi_proxy_secret_id", "cutout/rapidapi"),
    "CUTOUT_LIMITER_FAIL_OPEN": ("limiter_fail_open", True),
    "CUTOUT_PLANS_FILE": ("plans_file", "/etc/plans.json"),
    "CUTOUT_KEY_CACHE_SECONDS": ("key_cache_seconds", 5.0),
    "CUTOUT_STORE_TIMEOUT": ("store_timeout", 0.5),
    "CUTOUT_RECONCILE_SECONDS": ("reconcile_seconds", 30.0),
    "CUTOUT_BUCKET": ("bucket", "cutout-results"),
    "CUTOUT_RESULT_URL_TTL": ("result_url_ttl", 60),
    "CUTOUT_MAX_RESPONSE_BYTES": ("max_response_bytes", 6 * MIB),
    "CUTOUT_BLOB_SECRET": ("blob_secret", "sign-here"),
    "CUTOUT_S3_ACCOUNT": ("s3_account", "uploads"),
    "CUTOUT_S3_PLAN": ("s3_plan", "pro"),
    "CUTOUT_IMAGE_TTL_DAYS": ("image_ttl_days", 30),
    "CUTOUT_IMAGE_SOURCE_HOSTS": ("image_source_hosts", ("*.s3.amazonaws.com", "example.com")),
    "CUTOUT_SANDBOX_MP_PER_MINUTE": ("sandbox_mp_per_minute", 5),
    "CUTOUT_JOB_QUEUE_URL": ("job_queue_url", "https://sqs.us-east-1.amazonaws.com/1/jobs"),
    "CUTOUT_JOB_WORKERS": ("job_workers", 2),
    "CUTOUT_JOB_QUEUE_CAPACITY": ("job_queue_capacity", 16),
    "CUTOUT_JOB_TTL_SECONDS": ("job_ttl_seconds", 3600),
    "CUTOUT_JOB_LEASE_SECONDS": ("job_lease_seconds", 360),
    "CUTOUT_JOB_MAX_ATTEMPTS": ("job_max_attempts", 5),
    "CUTOUT_WEBHOOK_SECRET": ("webhook_secret", "whsec"),
    "CUTOUT_WEBHOOK_QUEUE_URL": ("webhook_queue_url", "https://sqs.us-east-1.amazonaws.com/1/webhooks"),
    "CUTOUT_WEBHOOK_WORKERS": ("webhook_workers", 3),
    "CUTOUT_WEBHOOK_ATTEMPTS": ("webhook_attempts", 2),
    "CUTOUT_WEBHOOK_BACKOFF": ("webhook_backoff", 0.5),
    "CUTOUT_CORS_ORIGINS": ("cors_origins", ("https://shop.example", "https://admin.example")),
    "CUTOUT_PUBLIC_BASE_URL": ("public_base_url", "https://api.example.com/prod"),
    "CUTOUT_ALLOWED_HOSTS": ("allowed_hosts", ("api.example.com", "*.example.net")),
    "CUTOUT_TRUSTED_PROXIES": ("trusted_proxies", ("10.0.0.0/8", "127.0.0.1")),
}
RAW = {"CUTOUT_FETCH_ALLOW_HOSTS": " Example.com, 127.0.0.1 ,",
       "CUTOUT_IMAGE_SOURCE_HOSTS": "*.s3.amazonaws.com,Example.com", "CUTOUT_LOG_LEVEL": "debug",
       "CUTOUT_ALLOW_ANONYMOUS": "yes", "CUTOUT_LIMITER_FAIL_OPEN": "1",
       "CUTOUT_CORS_ORIGINS": "https://shop.example,https://admin.example",
       "CUTOUT_ALLOWED_HOSTS": "API.example.com, *.example.net",
       "CUTOUT_TRUSTED_PROXIES": "10.0.0.0/8,127.0.0.1"}


def test_each_setting_is_declared_once_with_its_variable_and_group() -> None:
    declared = {spec.metadata["env"]: spec.name for spec in fields(Settings)}
    assert declared == {env: name for env, (name, _) in SAMPLES.items()}
    assert {spec.metadata["group"] for spec in fields(Settings)} <= set(GROUPS)
    assert from_environment({}) == Settings()  # the defaults are the declared ones


def test_every_variable_is_read_into_its_field() -> None:
    environ = {env: RAW.get(env, str(value)) for env, (_, value) in SAMPLES.items()}
    cfg = from_environment(environ)
    assert {name: getattr(cfg, name) for name, _ in SAMPLES.values()} == dict(SAMPLES.values())


def test_the_request_limit_follows_the_image_limit_unless_set() -> None:
    assert from_environment({"CUTOUT_MAX_BYTES": str(3 * MIB)}).max_request_bytes == 3 * MIB * 4 // 3 + MIB
    assert from_environment({"CUTOUT_MAX_BYTES": str(3 * MIB),
                             "CUTOUT_MAX_REQUEST_BYTES": "5"}).max_request_bytes == 5


def test_empty_values_keep_the_default_except_for_text() -> None:
    cfg = from_environment({"CUTOUT_THREADS": "", "CUTOUT_ALLOW_ANONYMOUS": "", "CUTOUT_DATA_DIR": ""})
    assert (cfg.threads, cfg.allow_anonymous, cfg.data_dir) == (0, False, "")


@pytest.mark.parametrize("env, raw", [("CUTOUT_MAX_BYTES", "16MB"), ("CUTOUT_THREADS", "2.5"),
                                      ("CUTOUT_FETCH_TIMEOUT", "ten"), ("CUTOUT_ALLOW_ANONYMOUS", "maybe"),
                                      ("CUTOUT_MAX_BYTES", "١٠٠٠"), ("CUTOUT_FETCH_TIMEOUT", "５")])
def test_a_bad_value_fails_at_start_naming_the_variable(env: str, raw: str, monkeypatch) -> None:
    monkeypatch.setenv(env, raw)
    settings.cache_clear()
    with pytest.raises(SettingError, match=rf"^{env}='{raw}' is not a valid "):
        settings()


@pytest.mark.parametrize("env, raw, least", [
    ("CUTOUT_MAX_MEGAPIXELS", "-1", "0.01"), ("CUTOUT_MAX_MEGAPIXELS", "0", "0.01"),
    ("CUTOUT_FETCH_TIMEOUT", "-5", "0.1"), ("CUTOUT_PNG_COMPRESS_LEVEL", "-1", "0"),
    ("CUTOUT_MAX_CONCURRENT_CUTS", "0", "1"), ("CUTOUT_JOB_MAX_ATTEMPTS", "0", "1"),
])
def test_a_value_below_its_range_fails_at_start(env: str, raw: str, least: str, monkeypatch) -> None:
    """CUTOUT_MAX_MEGAPIXELS=-1 started, then refused every image ("exceeds -1 megapixels")."""
    monkeypatch.setenv(env, raw)
    settings.cache_clear()
    with pytest.raises(SettingError, match=rf"^{env}='{raw}' is out of range: at least {least} "):
        settings()


def test_the_smallest_value_in_range_is_taken(monkeypatch) -> None:
    monkeypatch.setenv("CUTOUT_MAX_MEGAPIXELS", "0.01")
    monkeypatch.setenv("CUTOUT_FETCH_MAX_REDIRECTS", "0")
    settings.cache_clear()
    assert (settings().max_megapixels, settings().fetch_max_redirects) == (0.01, 0)
