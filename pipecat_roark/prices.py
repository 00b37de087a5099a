"""Prices of the services a voice bot uses: the default table and the user's overrides.

Units: LLM tokens in USD per million tokens; speech-to-text in USD per
minute of audio; text-to-speech in USD per thousand characters; any service
billed by the call's length in USD per minute (``per_minute``).

The default table holds providers' public pay-as-you-go list prices as of
:data:`PRICES_AS_OF` (entered by hand; check your own contract). A model is
matched by its name, case-insensitively: exactly, else by the longest table
key its name starts with when only a date or version stamp follows
(``gpt-4o-mini-2024-07-18`` -> ``gpt-4o-mini``; ``gpt-realtime-mini`` is
not ``gpt-realtime``); speech services' keys name families, so voices and
variants may follow (``aura-2-thalia-en`` -> ``aura-2``).
A model that matches nothing is *unknown*: its cost is reported as unknown,
never as zero. With the optional ``prices`` extra (``genai-prices``, a
maintained price list bundled offline) LLM tokens are priced from it first.

``prices=`` (overrides) is a mapping of model name to a mapping of the
fields of :class:`Price`, e.g.::

    prices={
        "gpt-4o": {"input_per_mtok": 2.5, "cached_input_per_mtok": 1.25, "output_per_mtok": 10},
        "sonic-2": {"per_1k_characters": 0.03},
        "nova-3": {"per_minute": 0.0077},
    }

An override is matched by its exact name, or that name followed by a date
or version stamp (``gpt-4o`` covers ``gpt-4o-2024-08-06``, not
``gpt-4o-mini``), and wins over every other source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any, Mapping, Optional

#: When the default table's prices were last entered.
PRICES_AS_OF = "2025-06-30"


@dataclass(frozen=True)
class Price:
    """What one model costs. Unset fields are not billed by that unit."""

    input_per_mtok: Optional[float] = None
    cached_input_per_mtok: Optional[float] = None
    cache_write_per_mtok: Optional[float] = None
    output_per_mtok: Optional[float] = None
    audio_input_per_mtok: Optional[float] = None
    audio_cached_input_per_mtok: Optional[float] = None
    audio_output_per_mtok: Optional[float] = None
    per_minute: Optional[float] = None
    per_1k_characters: Optional[float] = None
    #: Why a known model has no price (plan-based pricing, ...).
    note: Optional[str] = None

    @property
    def priced(self) -> bool:
        return any(getattr(self, f.name) is not None for f in fields(self) if f.name != "note")


def _llm(inp: float, cached: Optional[float], out: float, write: Optional[float] = None, **audio: float) -> Price:
    return Price(input_per_mtok=inp, cached_input_per_mtok=cached, output_per_mtok=out, cache_write_per_mtok=write,
                 **audio)


def _stt(per_minute: float) -> Price:
    return Price(per_minute=per_minute)


def _tts(per_1k: float) -> Price:
    return Price(per_1k_characters=per_1k)


_CARTESIA = ("Cartesia bills credits by plan, not a public per-character rate: "
             "pass prices={'<model>': {'per_1k_characters': ...}} for your plan")

#: model name (prefix) -> (provider, component, Price)
DEFAULT_PRICES: dict[str, tuple[str, str, Price]] = {
    # OpenAI chat models (per 1M tokens: input, cached input, output).
    "gpt-4o": ("openai", "llm", _llm(2.50, 1.25, 10.00)),
    "gpt-4o-mini": ("openai", "llm", _llm(0.15, 0.075, 0.60)),
    "gpt-4.1": ("openai", "llm", _llm(2.00, 0.50, 8.00)),
    "gpt-4.1-mini": ("openai", "llm", _llm(0.40, 0.10, 1.60)),
    "gpt-4.1-nano": ("openai", "llm", _llm(0.10, 0.025, 0.40)),
    # OpenAI speech-to-speech (text tokens, then audio tokens).
    "gpt-4o-realtime-preview": ("openai", "s2s", _llm(
        5.00, 2.50, 20.00, audio_input_per_mtok=40.00, audio_cached_input_per_mtok=2.50,
        audio_output_per_mtok=80.00)),
    "gpt-4o-mini-realtime-preview": ("openai", "s2s", _llm(
        0.60, 0.30, 2.40, audio_input_per_mtok=10.00, audio_cached_input_per_mtok=0.30,
        audio_output_per_mtok=20.00)),
    "gpt-realtime": ("openai", "s2s", _llm(
        4.00, 0.40, 16.00, audio_input_per_mtok=32.00, audio_cached_input_per_mtok=0.40,
        audio_output_per_mtok=64.00)),
    # Anthropic (input, cache read, output, cache write).
    "claude-3-haiku": ("anthropic", "llm", _llm(0.25, 0.03, 1.25, 0.30)),
    "claude-3-5-haiku": ("anthropic", "llm", _llm(0.80, 0.08, 4.00, 1.00)),
    "claude-3-5-sonnet": ("anthropic", "llm", _llm(3.00, 0.30, 15.00, 3.75)),
    "claude-3-7-sonnet": ("anthropic", "llm", _llm(3.00, 0.30, 15.00, 3.75)),
    "claude-sonnet-4": ("anthropic", "llm", _llm(3.00, 0.30, 15.00, 3.75)),
    "claude-opus-4": ("anthropic", "llm", _llm(15.00, 1.50, 75.00, 18.75)),
    # Google Gemini (text input up to 200k tokens of prompt).
    "gemini-2.0-flash": ("google", "llm", _llm(0.10, 0.025, 0.40)),
    "gemini-2.0-flash-lite": ("google", "llm", _llm(0.075, None, 0.30)),
    "gemini-2.5-flash": ("google", "llm", _llm(0.30, 0.075, 2.50)),
    "gemini-2.5-flash-lite": ("google", "llm", _llm(0.10, 0.025, 0.40)),
    "gemini-2.5-pro": ("google", "llm", _llm(1.25, 0.31, 10.00)),
    # Speech-to-text, per minute of audio (streaming where it differs).
    "nova-3": ("deepgram", "stt", _stt(0.0077)),
    "nova-2": ("deepgram", "stt", _stt(0.0058)),
    "whisper-1": ("openai", "stt", _stt(0.006)),
    "gpt-4o-transcribe": ("openai", "stt", _stt(0.006)),
    "gpt-4o-mini-transcribe": ("openai", "stt", _stt(0.003)),
    "universal-streaming": ("assemblyai", "stt", _stt(0.0025)),
    # Text-to-speech, per 1k characters.
    "tts-1": ("openai", "tts", _tts(0.015)),
    "tts-1-hd": ("openai", "tts", _tts(0.030)),
    "aura-2": ("deepgram", "tts", _tts(0.030)),
    "aura-": ("deepgram", "tts", _tts(0.015)),
    "eleven_flash": ("elevenlabs", "tts", _tts(0.05)),
    "eleven_turbo": ("elevenlabs", "tts", _tts(0.05)),
    "eleven_multilingual": ("elevenlabs", "tts", _tts(0.10)),
    "sonic": ("cartesia", "tts", Price(note=_CARTESIA)),
}

_PRICE_FIELDS = {f.name for f in fields(Price)} - {"note"}


def build_prices(value: Any) -> dict[str, Price]:
    """The user's ``prices=`` -> {lowercased model: Price}. Raises ValueError naming the fix."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError("RoarkObserver: prices must be a dict of model name -> {field: USD}, e.g. "
                         "{'gpt-4o': {'input_per_mtok': 2.5, 'output_per_mtok': 10}}")
    out: dict[str, Price] = {}
    for model, spec in value.items():
        if not isinstance(model, str) or not model.strip():
            raise ValueError(f"RoarkObserver: prices: {model!r} is not a model name")
        if isinstance(spec, Price):
            price = spec
        elif isinstance(spec, Mapping):
            unknown = set(spec) - _PRICE_FIELDS
            if unknown:
                raise ValueError(f"RoarkObserver: prices[{model!r}]: unknown field(s) {sorted(unknown)}; "
                                 f"use {sorted(_PRICE_FIELDS)}")
            for k, v in spec.items():
                if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0
                                      or v != v or v == float("inf")):
                    raise ValueError(f"RoarkObserver: prices[{model!r}][{k!r}] must be a number >= 0 (USD)")
            price = Price(**{k: (float(v) if v is not None else None) for k, v in spec.items()})
        else:
            raise ValueError(f"RoarkObserver: prices[{model!r}] must be a dict of {sorted(_PRICE_FIELDS)}")
        if not price.priced:
            raise ValueError(f"RoarkObserver: prices[{model!r}] sets no price")
        out[model.strip().lower()] = price
    return out


# What may follow a model's name and still be the same model at the same
# price: a date or version stamp ("-2024-08-06", "-20241022", "-001",
# "-latest", "-preview-05-20", Bedrock's "-v1:0"). Anything else
# ("gpt-realtime-mini", "claude-opus-4-5") is another model: unknown, not
# priced as its neighbour.
_SAME_MODEL = re.compile(
    r"^(-\d{4}-\d{2}-\d{2}|-\d{8}|-\d{3}|-latest|-preview(-\d{2}-\d{2}(\d{2})?)?)?(-v\d+(:\d+)?)?$"
)
# Speech services' keys name a family: voices and variants follow freely
# ("aura-2-thalia-en", "nova-3-general", "eleven_flash_v2_5").
_FAMILY_COMPONENTS = ("stt", "tts")


def _candidates(model: str) -> list[str]:
    name = model.strip().lower()
    out = [name]
    if "/" in name:  # "openai/gpt-4o", "models/gemini-2.0-flash"
        out.append(name.rsplit("/", 1)[-1])
    if "anthropic." in name:  # Bedrock: "us.anthropic.claude-3-5-haiku-20241022-v1:0"
        out.append(name.split("anthropic.", 1)[-1])
    return out


def match(model: Optional[str], table: Mapping[str, Any], *, family: bool = False) -> Optional[tuple[str, Any]]:
    """(key, entry) of the table for a model name, or None.

    Exact (case-insensitive), else the longest key the name starts with when
    what follows is only a date or version stamp; for ``family`` keys (and
    the default table's STT/TTS entries) anything may follow.
    """
    if not model:
        return None
    candidates = _candidates(model)
    for cand in candidates:
        if cand in table:
            return cand, table[cand]
    best: Optional[str] = None
    for cand in candidates:
        for key, entry in table.items():
            if not cand.startswith(key) or (best is not None and len(key) <= len(best)):
                continue
            rest = cand[len(key):]
            loose = family or (isinstance(entry, tuple) and len(entry) == 3 and entry[1] in _FAMILY_COMPONENTS)
            if loose and key.endswith("-") and rest[:1].isdigit():
                continue  # "aura-" is the first generation's voices, not "aura-3-..."
            if loose or _SAME_MODEL.match(rest):
                best = key
    return (best, table[best]) if best is not None else None


__all__ = ["DEFAULT_PRICES", "PRICES_AS_OF", "Price", "build_prices", "match"]
