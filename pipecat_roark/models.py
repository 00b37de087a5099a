"""The wire format Roark receives, as pydantic models.

This is the one place that says what goes over the wire (see the contract in
ROARK_CONTRACT.md). Fields are snake_case in Python and camelCase on the
wire; fields left as ``None`` are omitted, because the contract distinguishes
"absent" from "null" (only ``callStartedAt`` may be null).
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class WireModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        # Extensions (fields Roark stores as JSON without knowing them) are
        # allowed on every record so later features can add to them.
        extra="allow",
    )

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class Turn(WireModel):
    role: Literal["user", "assistant"]
    content: str
    timestamp: str
    end_timestamp: str
    audio_offset_ms: Optional[int] = Field(default=None, ge=0)
    end_audio_offset_ms: Optional[int] = Field(default=None, ge=0)
    user_id: Optional[str] = None
    language: Optional[str] = None
    # Extension: the caller cut this assistant turn off.
    interrupted: Optional[bool] = None
    # Extension (assistant turns answering the caller): from the end of the
    # caller's speech to the bot's first sound, measured on the recording.
    response_latency_ms: Optional[int] = Field(default=None, ge=0)
    # Extension (interrupted turns): how long the bot kept talking after the
    # caller started speaking over it.
    barge_in_latency_ms: Optional[int] = Field(default=None, ge=0)
    # Extension (proposed, issue 11): a short acknowledgement ("mhm") said over
    # the other side, which neither ends nor cuts that side's turn
    # (Pipecat's UserBackchannelFrame / BotBackchannelFrame).
    backchannel: Optional[bool] = None
    # Extension (proposed, issue 11): the turn's text was cut to what was
    # played by a rule (e.g. proportional to the audio), not released with it.
    approximate: Optional[bool] = None


class ToolCallRecord(WireModel):
    kind: Literal["tool_call"] = "tool_call"
    tool_call_id: str
    name: str
    arguments: str
    timestamp: str
    audio_offset_ms: Optional[int] = Field(default=None, ge=0)


ToolStatus = Literal["completed", "failed", "cancelled", "timed_out", "no_result"]


class ToolResultRecord(WireModel):
    kind: Literal["tool_result"] = "tool_result"
    tool_call_id: str
    content: str
    timestamp: str
    audio_offset_ms: Optional[int] = Field(default=None, ge=0)
    # Extensions: how the call ended (``no_result``: never answered by the
    # end of the call), the handler's error when it failed, call -> result.
    status: Optional[ToolStatus] = None
    error: Optional[str] = None
    duration_ms: Optional[int] = Field(default=None, ge=0)


ToolRecord = Union[ToolCallRecord, ToolResultRecord]


class MetricRecord(WireModel):
    """Extension: one service measurement (the shape of the LiveKit integration).

    Durations in seconds. See :mod:`pipecat_roark.metrics` for what each
    Pipecat metric becomes.
    """

    kind: str
    timestamp: str
    audio_offset_ms: Optional[int] = Field(default=None, ge=0)
    metric: Optional[str] = None
    processor: Optional[str] = None
    model: Optional[str] = None
    turn_index: Optional[int] = Field(default=None, ge=0)
    interrupted: Optional[bool] = None
    ttfb: Optional[float] = None
    ttft: Optional[float] = None
    duration: Optional[float] = None
    prompt_tokens: Optional[int] = None
    completion_tokens: Optional[int] = None
    total_tokens: Optional[int] = None
    cached_tokens: Optional[int] = None
    characters: Optional[int] = None
    audio_duration: Optional[float] = None
    ttfa: Optional[float] = None
    ttfat: Optional[float] = None
    extra: Optional[dict[str, Any]] = None


class ErrorRecord(WireModel):
    """Extension: an ErrorFrame, once per distinct message of a processor."""

    message: str
    processor: Optional[str] = None
    fatal: bool = False
    category: Optional[str] = None
    timestamp: str
    audio_offset_ms: Optional[int] = Field(default=None, ge=0)
    count: Optional[int] = Field(default=None, ge=1)  # when seen more than once


class CallStarted(WireModel):
    event: Literal["call-started"] = "call-started"
    pipecat_call_id: str
    event_timestamp: str
    agent_id: str
    agent_name: Optional[str] = None
    agent_prompt: Optional[str] = None
    roark_integration_id: Optional[str] = None
    is_test: Optional[bool] = None
    metadata: Optional[dict[str, Any]] = None


class TimelineEvent(WireModel):
    """Extension (proposed, issue 11): something that happened at a point of the call.

    ``kind="dtmf"``: keypresses, ``direction`` ``"in"`` (the caller pressed,
    Pipecat's ``InputDTMFFrame``) or ``"out"`` (the bot sent, ``OutputDTMFFrame``),
    ``digits`` the keys in order (``"0"``-``"9"``, ``"*"``, ``"#"``).
    """

    kind: str
    timestamp: str
    audio_offset_ms: Optional[int] = Field(default=None, ge=0)
    direction: Optional[Literal["in", "out"]] = None
    digits: Optional[str] = None


class CallEnded(WireModel):
    event: Literal["call-ended"] = "call-ended"
    pipecat_call_id: str
    event_timestamp: str
    # Always present on the wire, possibly null: excluded from the
    # omit-if-None rule in to_wire().
    call_started_at: Optional[str] = None
    call_ended_at: str
    call_ended_reason: str
    agent_spoke_first: Optional[bool] = None
    recording_sample_rate: Optional[int] = None
    recording_num_channels: Optional[int] = None
    # Extension: wall time of recording sample 0 (the first audio stored).
    recording_started_at: Optional[str] = None
    transcript: Optional[list[Turn]] = None
    tool_calls: Optional[list[ToolRecord]] = None
    roark_integration_id: Optional[str] = None
    metrics: Optional[list[MetricRecord]] = None
    # Extensions: errors, how far the recording can be trusted, and the
    # call in figures (turns, talk time, latency, tools, usage).
    errors: Optional[list[ErrorRecord]] = None
    recording_status: Optional[Literal["ok", "degraded", "partial", "lost", "empty", "off"]] = None
    recording_health: Optional[dict[str, Any]] = None
    call_summary: Optional[dict[str, Any]] = None
    # Extension (proposed, issue 11): point events on the call's timeline (DTMF).
    events: Optional[list[TimelineEvent]] = None

    def to_wire(self) -> dict[str, Any]:
        wire = super().to_wire()
        wire.setdefault("callStartedAt", None)
        return wire


class UploadUrl(BaseModel):
    """Response of the chunk-upload-url endpoint (bare or wrapped in "data")."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    upload_url: str
    s3_key: Optional[str] = None
    chunk_index: Optional[int] = None
    expires_in_seconds: Optional[int] = None
    method: Optional[str] = None
    content_type: Optional[str] = None

    @classmethod
    def from_response(cls, body: Any) -> "UploadUrl":
        if isinstance(body, dict) and isinstance(body.get("data"), dict):
            body = body["data"]
        return cls.model_validate(body)
