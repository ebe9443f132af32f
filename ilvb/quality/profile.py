"""The quality profile model, its validation, and the ready templates."""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from ilvb.errors import InvalidArgument

Platform = Literal["web", "python", "android", "ios", "pc"]
PLATFORMS: tuple[str, ...] = ("web", "python", "android", "ios", "pc")
# Codecs each platform's SDK can send. The SFU forwards Opus, VP8 and H.264.
VIDEO_CODECS: dict[str, tuple[str, ...]] = {p: ("VP8", "H264") for p in PLATFORMS}
AUDIO_CODECS: dict[str, tuple[str, ...]] = {p: ("opus",) for p in PLATFORMS}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class AudioProfile(_Strict):
    """What the microphone path captures and sends."""

    codec: Literal["opus"] = "opus"
    sample_rate: Literal[8000, 16000, 24000, 48000] = 48000
    channels: Literal[1, 2] = 1
    packet_ms: Literal[10, 20, 40, 60] = 20
    bitrate_kbps: int = Field(32, ge=6, le=510)
    agc: bool = True
    ns: bool = True
    aec: bool = True


class VideoProfile(_Strict):
    """What the camera path captures and sends."""

    codec: Literal["VP8", "H264"] = "VP8"
    width: int = Field(640, ge=16, le=3840)
    height: int = Field(480, ge=16, le=2160)
    fps: int = Field(15, ge=1, le=60)
    bitrate_kbps: int = Field(800, ge=30, le=20000)
    min_qp: int = Field(4, ge=0, le=63)
    max_qp: int = Field(48, ge=0, le=63)
    gop: int = Field(60, ge=1, le=1200, description="frames between keyframes")
    sharpen: bool = False
    sharpen_strength: float = Field(0.0, ge=0.0, le=1.0)
    fec: bool = False

    @model_validator(mode="after")
    def _qp_order(self) -> VideoProfile:
        if self.min_qp > self.max_qp:
            raise ValueError("min_qp must not exceed max_qp")
        return self


class ScreenMode(_Strict):
    """One screen-sharing mode."""

    width: int = Field(ge=16, le=3840)
    height: int = Field(ge=16, le=2160)
    fps: int = Field(ge=1, le=60)
    bitrate_kbps: int = Field(ge=30, le=20000)


class ScreenProfile(_Strict):
    """The two screen-sharing modes: "clear" (detail) and "smooth" (motion)."""

    clear: ScreenMode = ScreenMode(width=1920, height=1200, fps=10, bitrate_kbps=2500)
    smooth: ScreenMode = ScreenMode(width=920, height=720, fps=30, bitrate_kbps=1200)


class NetworkProfile(_Strict):
    """Bandwidth caps and what to give up first when the network degrades."""

    max_send_kbps: int = Field(2500, ge=50, le=50000)
    max_recv_kbps: int = Field(8000, ge=50, le=100000)
    degradation: Literal["maintain-framerate", "maintain-resolution", "balanced"] = "balanced"


class QualityProfile(_Strict):
    """A whole profile. Sections left out take the template's values."""

    audio: AudioProfile = AudioProfile()
    video: VideoProfile = VideoProfile()
    screen: ScreenProfile = ScreenProfile()
    network: NetworkProfile = NetworkProfile()

    def to_dict(self) -> dict[str, Any]:
        """The wire form."""
        return self.model_dump()


def _template(**sections: dict[str, Any]) -> QualityProfile:
    return QualityProfile.model_validate(sections)


TEMPLATES: dict[str, QualityProfile] = {
    # Two to a few people talking: low latency, moderate size, all processing on.
    "realtime_call": _template(video={"width": 640, "height": 480, "fps": 15, "bitrate_kbps": 800}),
    # A host to many viewers: larger, smoother picture, more bitrate, music-friendly audio.
    "interactive_live": _template(
        audio={"bitrate_kbps": 64, "channels": 2, "agc": False, "ns": False},
        video={"width": 1280, "height": 720, "fps": 24, "bitrate_kbps": 1500, "gop": 96},
        network={"degradation": "maintain-framerate"},
    ),
    # A teacher and students: clear speech, readable slides, modest video.
    "online_class": _template(
        video={"width": 640, "height": 360, "fps": 15, "bitrate_kbps": 600},
        network={"degradation": "maintain-resolution"},
    ),
    # Mostly a shared screen: detail first.
    "screen_share": _template(
        video={"width": 320, "height": 240, "fps": 10, "bitrate_kbps": 200},
        network={"max_send_kbps": 3000, "degradation": "maintain-resolution"},
    ),
}
DEFAULT_TEMPLATE = "realtime_call"


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def build_profile(platform: str, body: dict[str, Any]) -> tuple[str, QualityProfile]:
    """A validated profile from a REST body: ``{"template": name}`` plus optional section
    overrides (``{"template": "online_class", "video": {"fps": 20}}``). Raises
    ``invalid_quality_profile`` naming the field. Returns (template name, profile)."""
    if platform not in PLATFORMS:
        raise InvalidArgument("invalid_argument", f"platform must be one of {', '.join(PLATFORMS)}")
    if not isinstance(body, dict):
        raise InvalidArgument("invalid_quality_profile", "the body must be an object")
    body = dict(body)
    name = body.pop("template", DEFAULT_TEMPLATE)
    if name not in TEMPLATES:
        raise InvalidArgument(
            "unknown_template", f"no template {name!r} (templates: {', '.join(TEMPLATES)})"
        )
    try:
        profile = QualityProfile.model_validate(_merge(TEMPLATES[name].to_dict(), body))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise InvalidArgument(
            "invalid_quality_profile",
            f"{where}: {first.get('msg', 'invalid')}",
            {"field": where},
        ) from None
    if profile.video.codec not in VIDEO_CODECS[platform]:
        raise InvalidArgument(
            "invalid_quality_profile",
            f"video.codec: {profile.video.codec!r} is not sent by the {platform} SDK "
            f"({', '.join(VIDEO_CODECS[platform])})",
            {"field": "video.codec"},
        )
    if profile.audio.codec not in AUDIO_CODECS[platform]:
        raise InvalidArgument(
            "invalid_quality_profile",
            f"audio.codec: {profile.audio.codec!r} is not sent by the {platform} SDK",
            {"field": "audio.codec"},
        )
    return name, profile


def difference(template: str, profile: QualityProfile) -> dict[str, Any]:
    """Fields (dotted paths) where ``profile`` differs from its template, with its values."""
    base, mine = TEMPLATES[template].to_dict(), profile.to_dict()
    out: dict[str, Any] = {}

    def walk(a: dict[str, Any], b: dict[str, Any], prefix: str) -> None:
        for key, value in b.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict):
                walk(a.get(key, {}), value, path + ".")
            elif a.get(key) != value:
                out[path] = value

    walk(base, mine, "")
    return out


def _bounds(info: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for meta in info.metadata:
        for key in ("ge", "le", "gt", "lt"):
            if getattr(meta, key, None) is not None:
                out[key] = getattr(meta, key)
    return out


def _partial(model: type[BaseModel], name: str) -> Any:
    """``model`` with every field optional (same types and bounds): a section override."""
    fields: dict[str, Any] = {}
    for field_name, info in model.model_fields.items():
        annotation: Any = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            annotation = _partial(annotation, f"{annotation.__name__}Override")
        fields[field_name] = (annotation | None, Field(None, **_bounds(info)))
    return create_model(name, __config__=ConfigDict(extra="forbid", strict=True), **fields)


AudioOverride = _partial(AudioProfile, "AudioOverride")
VideoOverride = _partial(VideoProfile, "VideoOverride")
ScreenOverride = _partial(ScreenProfile, "ScreenOverride")
NetworkOverride = _partial(NetworkProfile, "NetworkOverride")


class QualityBody(BaseModel):
    """A stored profile as REST takes it: a template and overrides of its sections' fields."""

    model_config = ConfigDict(extra="forbid", strict=True)

    template: Literal["realtime_call", "interactive_live", "online_class", "screen_share"] = (
        "realtime_call"  # DEFAULT_TEMPLATE
    )
    audio: AudioOverride | None = None  # type: ignore[valid-type]
    video: VideoOverride | None = None  # type: ignore[valid-type]
    screen: ScreenOverride | None = None  # type: ignore[valid-type]
    network: NetworkOverride | None = None  # type: ignore[valid-type]

    def overrides(self) -> dict[str, Any]:
        """The body as :func:`build_profile` takes it (fields left out are not overrides)."""
        return self.model_dump(exclude_none=True)
