"""The wire format Roark receives, as pydantic models.

This is the one place that says what goes over the wire (see the contract in
ROARK_CONTRACT.md). Fields are snake_case in Python and camelCase on the
wire; fields left as ``None`` are omitted, because the contract distinguishes
"absent" from "null" (only ``callStartedAt`` may be null).

Fields that carry personal data say so (``personal("text")`` ...): the
redactor follows that declaration (:mod:`pipecat_roark.wirefields`).
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

# Which fields carry personal data is declared on the fields (personal(...)); see wirefields.py.
from .wirefields import (  # noqa: F401  (re-exported: the declaration belongs to the wire)
    REDACT_KINDS, PersonalField, RedactKind, personal, personal_fields, personal_keys, wire_names,
)


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
    # A rule written for text cannot be trusted on single words (a number read
    # digit by digit): the words go, their timings and confidences stay.
    words: Optional[list[dict[str, Any]]] = personal_keys(None, word="drop", punctuatedWord="drop")
    provider: Optional[str] = None


class Turn(WireModel):
    role: Literal["user", "assistant"]
    content: str = personal("text")
    timestamp: str
    end_timestamp: str
    audio_offset_ms: Optional[int] = Field(default=None, ge=0)
    end_audio_offset_ms: Optional[int] = Field(default=None, ge=0)
    # A phone number or an email as often as not.
    user_id: Optional[str] = personal("text", None)
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
    arguments: str = personal("json_value")
    timestamp: str
    audio_offset_ms: Optional[int] = Field(default=None, ge=0)


ToolStatus = Literal["completed", "failed", "cancelled", "timed_out", "no_result"]


class ToolResultRecord(WireModel):
    kind: Literal["tool_result"] = "tool_result"
    tool_call_id: str
    content: str = personal("json")
    timestamp: str
    audio_offset_ms: Optional[int] = Field(default=None, ge=0)
    # Extensions: how the call ended (``no_result``: never answered by the
    # end of the call), the handler's error when it failed, call -> result.
    status: Optional[ToolStatus] = None
    error: Optional[str] = personal("text", None)
    duration_ms: Optional[int] = Field(default=None, ge=0)


ToolRecord = Union[ToolCallRecord, ToolResultRecord]


class MetricMeasurement(WireModel):
    """Extension: one service measurement (the shape of the LiveKit integration).

    What :func:`pipecat_roark.metrics.to_records` makes of a Pipecat metric;
    the call then places it in time and on a turn (:class:`MetricRecord`).
    Durations in seconds. See :mod:`pipecat_roark.metrics` for what each
    Pipecat metric becomes.
    """

    kind: str
    timestamp: Optional[str] = None  # set when the call places the measurement
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


class MetricRecord(MetricMeasurement):
    """A measurement on the wire (``metrics`` of call-ended): placed in time, and on a turn when there is one."""

    timestamp: str  # required here (declared again: same place on the wire)


class ErrorRecord(WireModel):
    """Extension: an ErrorFrame, once per distinct message of a processor."""

    message: str = personal("text")
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
    message: str = personal("text")  # a line can quote the caller
    logger: Optional[str] = None  # the emitting module, e.g. "pipecat.services.deepgram.stt"
    audio_offset_ms: Optional[int] = Field(default=None, ge=0)
    count: Optional[int] = Field(default=None, ge=1)  # identical consecutive lines folded
# --------------------------------------------------------------------------- #
# The call in figures (callSummary), the recording's health, a recovered call
# --------------------------------------------------------------------------- #

#: How far the recording can be trusted (``recordingStatus``); see :mod:`pipecat_roark.summary`.
RecordingStatus = Literal["ok", "degraded", "partial", "lost", "empty", "off"]


class PerSide(WireModel):
    """A figure for each side of the call (turn counts, talk time in ms)."""

    user: int = Field(ge=0)
    assistant: int = Field(ge=0)


class ToolCounts(WireModel):
    """Tool calls of the call, by how they ended."""

    total: int = Field(default=0, ge=0)
    completed: int = Field(default=0, ge=0)
    failed: int = Field(default=0, ge=0)
    cancelled: int = Field(default=0, ge=0)
    timed_out: int = Field(default=0, ge=0)
    no_result: int = Field(default=0, ge=0)


class LatencySummary(WireModel):
    """Response latencies measured (caller's speech end -> bot's first sound), nearest-rank percentiles."""

    count: int = Field(default=0, ge=0)
    median_ms: Optional[int] = None
    p95_ms: Optional[int] = None
    max_ms: Optional[int] = None


class UsageSummary(WireModel):
    """What the call consumed, every usage metric counted (never capped)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    tts_characters: int = 0
    stt_audio_seconds: float = 0.0


class CallSummary(WireModel):
    """Extension: the call in figures (``callSummary`` in call-ended; ``on_call_ended`` gets it too).

    Times in ms, on the recording when every turn is placed on it.
    ``silenceMs``: the time nobody spoke (absent when the call's length is
    unknown); ``metricsDropped``/``errorsDropped``: records over the caps.
    """

    turns: PerSide
    talk_time_ms: PerSide
    silence_ms: Optional[int] = Field(default=None, ge=0)
    interruptions: int = Field(default=0, ge=0)
    tool_calls: ToolCounts = Field(default_factory=ToolCounts)
    errors: int = Field(default=0, ge=0)
    latency: LatencySummary = Field(default_factory=LatencySummary)
    usage: UsageSummary = Field(default_factory=UsageSummary)
    metrics_dropped: Optional[int] = Field(default=None, ge=1)
    errors_dropped: Optional[int] = Field(default=None, ge=1)
    recording_status: Optional[RecordingStatus] = None


class ChannelSound(WireModel):
    sound_ms: int = Field(ge=0)
    sound: bool


class RecordingChannels(WireModel):
    """Sound per channel: left the caller, right the bot."""

    caller: ChannelSound
    bot: ChannelSound


class RecordingHealth(WireModel):
    """Extension: what was recorded and delivered (``recordingHealth`` in call-ended).

    The package always sends the chunk counts, the rest once the recorder
    was there to measure it; every part is optional in the model so that a
    measurement of an unexpected shape never costs the call its call-ended.
    ``warnings`` are sentences a person can act on.
    """

    chunks_produced: Optional[int] = Field(default=None, ge=0)
    chunks_delivered: Optional[int] = Field(default=None, ge=0)
    chunks_lost: Optional[int] = Field(default=None, ge=0)
    recorded_ms: Optional[int] = Field(default=None, ge=0)
    call_ms: Optional[int] = None
    channels: Optional[RecordingChannels] = None
    warnings: Optional[list[str]] = None


class Recovery(WireModel):
    """Extension: a call-ended rebuilt from the disk spool after its process died (``recovery``).

    ``chunksReplacedBySilence``: lost between two that survived, sent as
    silence of the same length so later offsets stay aligned;
    ``chunksLost``: lost at the end (only in memory when the process died).
    """

    recovered_from_spool: bool = True
    chunks_produced: int = Field(ge=0)
    chunks_delivered: int = Field(ge=0)
    chunks_replaced_by_silence: list[int] = Field(default_factory=list)
    chunks_lost: list[int] = Field(default_factory=list)
    bytes_lost: int = Field(default=0, ge=0)
    lost_because: Optional[str] = None


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
    from_number: Optional[str] = personal("phone", None)
    to_number: Optional[str] = personal("phone", None)
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
    data: Optional[dict[str, Any]] = personal("values", None)


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
    recording_status: Optional[RecordingStatus] = None
    recording_health: Optional[RecordingHealth] = None
    call_summary: Optional[CallSummary] = None
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
    # Extension: set only on a call-ended rebuilt from the spool (replay.py).
    recovery: Optional[Recovery] = None

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
