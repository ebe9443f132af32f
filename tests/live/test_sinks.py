import pytest

from ilvb.live.sinks import rtmp_url_problem


@pytest.mark.parametrize(
    "url",
    ["rtmp://127.0.0.1:1935/live/key", "rtmps://live.example.com/app/stream?token=abc",
     "rtmp://[::1]/live"],
)  # fmt: skip
def test_rtmp_urls_that_are_accepted(url: str) -> None:
    assert rtmp_url_problem(url) is None


@pytest.mark.parametrize(
    "url",
    ["", "http://example.com/live/key", "file:///etc/passwd", "rtmp://", "rtmp://host",
     "rtmp://host/", "rtmp://host/live/key live=1", "rtmp://host:99999/live",
     "rtmp://host:0/live", "rtmp://ho\u00e9st/live", "rtmp://host/" + "a" * 1100, "-i",
     "rtmp://host/live\n", 42, None],
)  # fmt: skip
def test_rtmp_urls_that_are_refused(url: object) -> None:
    assert rtmp_url_problem(url) is not None
