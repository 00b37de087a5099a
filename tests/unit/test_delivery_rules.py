from pipecat_roark.client import is_retryable_status, parse_retry_after, redact
from pipecat_roark.retry import backoff_delay
from pipecat_roark.models import UploadUrl


def test_retry_rules():
    assert all(is_retryable_status(s) for s in (408, 429, 500, 502, 503, 504))
    assert not any(is_retryable_status(s) for s in (400, 401, 403, 404, 422))


def test_backoff_grows_with_jitter_and_honours_retry_after():
    assert backoff_delay(0, retry_after=2.5) == 2.5
    for attempt in range(8):
        assert 0 <= backoff_delay(attempt) <= min(8.0, 0.25 * 2**attempt)
    assert parse_retry_after("3") == 3.0 and parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None


def test_redact_drops_paths_and_signatures():
    msg = "failed PUT https://bucket.s3.amazonaws.com/calls/1/0.pcm?X-Amz-Signature=abc123&X-Amz-Credential=k"
    out = redact(msg)
    assert "abc123" not in out and "calls/1" not in out and "https://bucket.s3.amazonaws.com" in out


def test_upload_url_bare_or_wrapped():
    bare = {"uploadUrl": "http://x/u", "chunkIndex": 3, "expiresInSeconds": 900}
    assert UploadUrl.from_response(bare).upload_url == "http://x/u"
    assert UploadUrl.from_response({"data": bare}).chunk_index == 3
