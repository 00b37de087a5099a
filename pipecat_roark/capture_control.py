"""Issue 15 wired into a call: the capture policy, audio consent, call logs and STT quality.

One :class:`CaptureControl` per call, plugged into the call's
:class:`~pipecat_roark.session.CallSession` as a
:class:`~pipecat_roark.session.CallExtension`. The decisions themselves are
pure and live elsewhere (:mod:`policy`, :mod:`callpolicy`, :mod:`calllogs`,
:mod:`stt_quality`); this module only connects them to the call:

- every recording chunk passes :meth:`CallPolicy.chunk` (``session.chunk_gate``)
  on its way to delivery: held in memory while consent is pending, dropped
  when audio is off or discarded;
- ``roark.allow_audio()`` hands the held chunks to delivery, in order, so the
  recording is exactly the one an undeferred call would have had;
- ``roark.discard_audio()`` frees the held chunks, stops the recorder storing
  audio, and purges whatever of it delivery still holds (memory and spool);
- at the end: the call's log lines and the consent state go into call-ended
  (before redaction), the capture switches are applied to the payload, each
  user turn gets its ``sttQuality``, and a call without its recording says why.
"""

from __future__ import annotations

from typing import Any, Callable

from pipecat.frames.frames import TranscriptionFrame

from . import stt_quality
from .calllogs import monotonic_of
from .callpolicy import CallPolicy
from .policy import ALLOWED, DISCARDED, PENDING, AudioConsentGate
from .session import CallExtension, CallSession

#: Recording fields that only make sense with a recording.
_RECORDING_FIELDS = ("recordingSampleRate", "recordingNumChannels", "recordingStartedAt")
_NO_RECORDING_WHY = {
    "discarded": "recording discarded by roark.discard_audio() (no consent); no audio was sent",
    "not_given": "defer_audio=True and roark.allow_audio() was not called before the call ended; "
                 "the recording was dropped unsent",
}


class CaptureControl(CallExtension):
    """One call's capture policy at work. Created by the observer when the call is shipped."""

    frames = (TranscriptionFrame,)

    def __init__(self, session: CallSession, policy: CallPolicy, capture: Any,
                 clock: Callable[[], Any] = lambda: None):
        self.session = session
        self.policy = policy
        self._capture = capture  # pipecat_roark.capture.Capture: the recorder's switch
        self._clock = clock
        # (pipeline time, quality) of each final transcription the STT qualified.
        self._qualities: list[tuple[int, stt_quality.Quality]] = []
        # The kept user turns at build time, in wire order (see ended_fields).
        self._kept: list[Any] = []
        session.chunk_gate = policy.chunk

    # -- consent (roark.allow_audio / roark.discard_audio) ----------------------

    def allow_audio(self) -> int:
        """Consent given: the held chunks go to delivery now, later ones as they come. Returns chunks released."""
        policy, session = self.policy, self.session
        if policy.gate is None:
            session.log.debug("allow_audio(): audio is not deferred for this call (defer_audio=False); nothing to do")
            return 0
        if session.ended:
            # Delivery has closed its list of chunks: releasing now would lose them half-way.
            session.log.warning("allow_audio() came after the call ended; the recording is not sent")
            return 0
        state = policy.gate.state
        chunks = policy.allow_audio()
        session.send_chunks(chunks)
        if state == PENDING:
            session.log.info(f"audio consent given: {len(chunks)} held recording chunk(s) released")
        return len(chunks)

    def discard_audio(self) -> int:
        """Consent refused: drop every byte of audio of this call and record no more. Returns bytes freed."""
        policy, session = self.policy, self.session
        was = policy.gate.state if policy.gate is not None else None
        if was == DISCARDED:
            return 0
        if was is None and session.delivery.stats.chunks_produced:
            # Not deferred: chunks have gone out already; what is still queued can be stopped.
            policy.gate = _allowed_gate()
        freed = policy.discard_audio()
        try:
            self._capture.discard_audio()
        except Exception:
            session.log.exception("could not stop the recorder after discard_audio()")
        purged = session.delivery.discard_audio()
        delivered = session.delivery.stats.chunks_delivered
        session.log.info(
            f"audio discarded: {freed} held bytes freed, {purged} queued chunk(s) purged"
            + (f"; {delivered} chunk(s) had already been delivered" if delivered else "")
        )
        return freed

    def close(self) -> None:
        self.policy.close()

    # -- frames ------------------------------------------------------------------

    def on_frame(self, frame: Any, t_ns: int, data: Any) -> None:
        if not self.policy.capture.transcript:
            return
        quality = stt_quality.extract(getattr(frame, "result", None))
        if quality is not None and len(self._qualities) < 2000:
            self._qualities.append((t_ns, quality))

    # -- the end -----------------------------------------------------------------

    def started_fields(self) -> dict[str, Any]:
        return {}

    def ended_fields(self, session: CallSession) -> dict[str, Any]:
        policy = self.policy
        call = session.call
        self._kept = call.kept_turns()
        origin = None
        consent = policy.gate.consent_field() if policy.gate is not None else None
        if call.recording_started_t is not None and policy.capture.audio and consent not in _NO_RECORDING_WHY:
            origin = monotonic_of(call.recording_started_t, self._clock())
        extra = policy.ended_extra(origin)
        policy.close()  # lines from here on are the delivery's, not the call's
        if consent == "revoked" and not session.delivery.stats.chunks_delivered:
            extra["audio_consent"] = "discarded"  # nothing had left after all
        return extra

    def finish_payload(self, payload: dict[str, Any]) -> dict[str, Any]:
        payload = self.policy.apply(payload)
        consent = payload.get("audioConsent")
        if consent in _NO_RECORDING_WHY:
            for key in _RECORDING_FIELDS:
                payload.pop(key, None)
            health = {k: v for k, v in (payload.get("recordingHealth") or {}).items()
                      if k in ("chunksProduced", "chunksDelivered", "chunksLost")}
            health["warnings"] = [_NO_RECORDING_WHY[consent]]
            payload["recordingStatus"] = "off"
            payload["recordingHealth"] = health
            if isinstance(payload.get("callSummary"), dict):
                payload["callSummary"] = {**payload["callSummary"], "recordingStatus": "off"}
        elif consent == "revoked":
            health = dict(payload.get("recordingHealth") or {})
            health["warnings"] = list(health.get("warnings") or []) + [
                "recording stopped mid-call by roark.discard_audio(); only the audio delivered before it was sent"]
            payload["recordingHealth"] = health
            payload["recordingStatus"] = "partial"
            if isinstance(payload.get("callSummary"), dict):
                payload["callSummary"] = {**payload["callSummary"], "recordingStatus": "partial"}
        self._add_stt_quality(payload)
        return payload

    def _add_stt_quality(self, payload: dict[str, Any]) -> None:
        turns = payload.get("transcript")
        if not self._qualities or not isinstance(turns, list) or len(turns) != len(self._kept):
            return
        for wire, state in zip(turns, self._kept):
            if state.role != "user" or not isinstance(wire, dict):
                continue
            quality = stt_quality.merge(quality_of_turn(state, self._qualities))
            if quality is None:
                continue
            onset = wire.get("audioOffsetMs")
            origin = stt_quality.anchor_offset_ms(quality, onset) if isinstance(onset, int) else None
            wire["sttQuality"] = stt_quality.to_wire(quality, origin)
        redactor = getattr(self.session.settings, "redactor", None)
        if redactor is not None:
            # Added after the payload's redaction: the same rule for words (their texts go).
            redactor.payload({"transcript": [{"sttQuality": t.get("sttQuality")} for t in turns
                                              if isinstance(t, dict) and isinstance(t.get("sttQuality"), dict)]})


def quality_of_turn(turn: Any, qualities: list[tuple[int, stt_quality.Quality]]) -> list[stt_quality.Quality]:
    """The qualities of the transcriptions that made a user turn's words.

    A transcription joins the turn its words went to; the call records the
    pipeline times of a turn's first and last words (the same push times the
    extension sees), and user turns do not interleave.
    """
    first, last = getattr(turn, "first_text_t", None), getattr(turn, "last_text_t", None)
    if first is None or last is None:
        return []
    return [q for t, q in qualities if first <= t <= last]


def _allowed_gate() -> AudioConsentGate:
    """A gate for a call that was never deferred: what it produced was sent as it came."""
    gate = AudioConsentGate()
    gate.state = ALLOWED
    return gate

