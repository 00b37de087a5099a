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


class SttQuality(WireModel):
    """Extension on a user turn, when the STT provided them: confidence and word timings.

    Word times are seconds from the STT stream's start as the provider gives
    them (``start``/``end``), plus ``audioOffsetMs`` once mapped onto the
    recording. Absent values are omitted, never zero.
    """

    confidence: Optional[float] = Field(default=None, ge=0, le=1)
    # "provider": the STT's own figure; "words": the mean of its word confidences.
    confidence_from: Optional[Literal["provider", "words"]] = None
    words: Optional[list[dict[str, Any]]] = None
    provider: Optional[str] = None


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
    # Extension (user turns): what the STT said about its own result (stt_quality.py).
    stt_quality: Optional[SttQuality] = None
    # Extension (interrupted assistant turns): "caller" when the caller's
    # speech overlapped the bot's before it stopped, else "pipeline".
    interruption_cause: Optional[Literal["caller", "pipeline"]] = None
    # Extension: a short acknowledgement ("mhm") said over
    # the other side, which neither ends nor cuts that side's turn
    # (Pipecat's UserBackchannelFrame / BotBackchannelFrame).
    backchannel: Optional[bool] = None
    # Extension: the turn's text was cut to what was
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


class LogRecord(WireModel):
    """Extension (``capture_logs=True``): one log line of this call, redacted.

    ``timestamp`` is the line's wall time; ``audioOffsetMs`` its place on the
    recording when there is one (see :mod:`pipecat_roark.calllogs`).
    """

    timestamp: str
    level: str
    message: str
    logger: Optional[str] = None  # the emitting module, e.g. "pipecat.services.deepgram.stt"
    audio_offset_ms: Optional[int] = Field(default=None, ge=0)
    count: Optional[int] = Field(default=None, ge=1)  # identical consecutive lines folded
# --------------------------------------------------------------------------- #
# Extensions of issue 14: outcome, telephony, timeline events, cost, turn-taking
# --------------------------------------------------------------------------- #

#: How the call ended (``callEndedStatus``); see :mod:`pipecat_roark.outcome`.
CallEndedStatus = Literal[
    "caller_hung_up", "bot_ended", "cancelled", "idle_timeout", "error",
    "transferred", "voicemail", "max_duration", "unknown",
]
#: Who ended the call / who spoke last, from the caller's point of view.
Party = Literal["caller", "bot", "system"]
Speaker = Literal["caller", "bot"]


class Telephony(WireModel):
    """Extension: the phone call behind the pipeline (``telephony`` on call-started).

    ``from_number`` / ``to_number`` are personal data: the redactor replaces
    them when redaction is on (see :meth:`pipecat_roark.redaction.Redactor.payload`).
    """

    provider: str
    call_id: Optional[str] = None
    stream_id: Optional[str] = None
    account_id: Optional[str] = None
    from_number: Optional[str] = None
    to_number: Optional[str] = None
    direction: Optional[Literal["inbound", "outbound"]] = None
    carrier_sample_rate: Optional[int] = Field(default=None, gt=0)
    encoding: Optional[str] = None


class TimelineEvent(WireModel):
    """Extension: one point on the call's timeline (``events`` in call-ended).

    ``kind="dtmf"``: a keypress (``direction`` ``inbound`` = the caller
    pressed it, ``outbound`` = the bot sent it), ``data={"digits": "12#"}``.
    ``kind="user"``: an event the user's code reported with ``roark.event()``.
    """

    kind: Literal["dtmf", "user"]
    name: str
    timestamp: str
    audio_offset_ms: Optional[int] = Field(default=None, ge=0)
    direction: Optional[Literal["inbound", "outbound"]] = None
    data: Optional[dict[str, Any]] = None


class ComponentCost(WireModel):
    """Extension: what one service of the call cost (USD), and how it was priced."""

    component: Literal["stt", "llm", "tts", "s2s"]
    processor: Optional[str] = None
    model: Optional[str] = None
    # None when the model is not priced: never counted as zero.
    usd: Optional[float] = Field(default=None, ge=0)
    status: Literal["priced", "unknown"] = "priced"
    # "genai-prices", "table", "override", or why it is unknown.
    source: Optional[str] = None
    basis: Optional[str] = None  # what was billed: "tokens", "characters", "audio seconds", "call duration"
    quantity: Optional[dict[str, float]] = None


class TurnCost(WireModel):
    turn_index: int = Field(ge=0)
    usd: float = Field(ge=0)
    complete: bool = True  # False when some usage of the turn could not be priced


class CallCost(WireModel):
    """Extension: the call's cost (``cost`` in call-ended).

    ``total_usd`` is the sum of the priced components; ``complete`` is False
    when any component is unknown (the total is then a lower bound).
    """

    currency: Literal["USD"] = "USD"
    total_usd: float = Field(ge=0)
    complete: bool
    by_component: dict[str, float] = Field(default_factory=dict)
    components: list[ComponentCost] = Field(default_factory=list)
    unknown: Optional[list[str]] = None
    per_turn: Optional[list[TurnCost]] = None
    prices_as_of: Optional[str] = None


class TurnTaking(WireModel):
    """Extension: how the two sides shared the line (``turnTaking`` in call-ended).

    Times in ms. ``interruptions`` counts bot turns cut short, by cause:
    ``caller`` (the caller spoke over the bot) or ``pipeline`` (the bot's
    reply was cut while the caller was silent).
    """

    turns: dict[str, int]
    interruptions: dict[str, int]
    overlap_ms: int = Field(ge=0)
    talk_time_ms: dict[str, int]
    talk_ratio: Optional[float] = Field(default=None, ge=0, le=1)  # the bot's share of the talk time
    longest_monologue_ms: dict[str, int]
    long_silences: list[dict[str, Any]] = Field(default_factory=list)
    long_silence_threshold_ms: int = Field(ge=0)


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
    # Extension (issue 14): the phone call, when a telephony serializer or
    # the runner arguments say so.
    telephony: Optional[Telephony] = None


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
    # Extensions of the capture policy (policy.py): the switches that were
    # off (so "no transcript" reads as "not captured", not "nobody spoke"),
    # the caller's audio consent with defer_audio=True, and the call's own
    # log lines with capture_logs=True (calllogs.py).
    capture_off: Optional[list[str]] = None
    # granted: sent after allow_audio(); discarded: nothing of it left the
    # process; revoked: discarded after allow_audio() (what was sent before
    # stays, the rest was not recorded); not_given: the call ended before
    # either (nothing sent).
    audio_consent: Optional[Literal["granted", "discarded", "revoked", "not_given"]] = None
    logs: Optional[list[LogRecord]] = None
    logs_dropped: Optional[int] = Field(default=None, ge=1)
    # Extensions (issue 14): a documented end status beside the free-text
    # reason, who ended the call and who spoke last, the telephony context
    # again (some serializers learn it only during the call), DTMF and user
    # timeline events, cost, turn-taking figures.
    call_ended_status: Optional[CallEndedStatus] = None
    call_ended_by: Optional[Party] = None
    last_speaker: Optional[Speaker] = None
    telephony: Optional[Telephony] = None
    events: Optional[list[TimelineEvent]] = None
    cost: Optional[CallCost] = None
    turn_taking: Optional[TurnTaking] = None

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
