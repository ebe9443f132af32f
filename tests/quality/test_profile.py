"""Quality profiles: templates, overrides, validation at the field, differences."""

from __future__ import annotations

from typing import Any

import pytest

from ilvb.errors import InvalidArgument
from ilvb.quality.profile import TEMPLATES, build_profile, difference


def test_a_template_with_overrides_and_its_difference() -> None:
    template, profile = build_profile("web", {"template": "online_class", "video": {"fps": 20}})
    assert template == "online_class"
    assert (profile.video.width, profile.video.height, profile.video.fps) == (640, 360, 20)
    assert difference(template, profile) == {"video.fps": 20}
    assert difference("online_class", TEMPLATES["online_class"]) == {}


def test_every_template_is_valid_on_every_platform() -> None:
    for name in TEMPLATES:
        for platform in ("web", "python", "android", "ios", "pc"):
            assert build_profile(platform, {"template": name})[1] == TEMPLATES[name]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"video": {"fps": 0}}, "video.fps"),
        ({"video": {"width": 99999}}, "video.width"),
        ({"video": {"min_qp": 50, "max_qp": 10}}, "video"),
        ({"video": {"codec": "AV1"}}, "video.codec"),
        ({"audio": {"sample_rate": 44100}}, "audio.sample_rate"),
        ({"audio": {"bitrate_kbps": "64"}}, "audio.bitrate_kbps"),  # strict: no strings
        ({"network": {"degradation": "fast"}}, "network.degradation"),
        ({"colour": {}}, "colour"),
        ({"video": {"sharpen_strength": 2.0}}, "video.sharpen_strength"),
    ],
)
def test_bad_values_name_their_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        build_profile("web", body)
    assert info.value.code == "invalid_quality_profile"
    assert info.value.details["field"] == field
    assert info.value.message.startswith(field)


def test_unknown_templates_and_platforms_are_refused() -> None:
    with pytest.raises(InvalidArgument) as info:
        build_profile("web", {"template": "cinema"})
    assert info.value.code == "unknown_template"
    with pytest.raises(InvalidArgument) as info:
        build_profile("symbian", {})
    assert info.value.code == "invalid_argument"
