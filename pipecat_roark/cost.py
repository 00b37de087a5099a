"""What a call cost, per component (STT, LLM, TTS, speech-to-speech) and in total.

Pure: takes the usage records :mod:`pipecat_roark.metrics` produced (plain
dicts: ``kind``, ``metric``, ``processor``, ``model``, ``promptTokens``,
``completionTokens``, ``totalTokens``, ``cachedTokens``, ``characters``,
``audioDuration``, ``extra``, and ``turnIndex`` once the call placed them)
and the call's length, and prices them with :mod:`pipecat_roark.prices`.

- LLM and speech-to-speech: tokens. Pipecat reports ``prompt_tokens`` gross
  of the cache on OpenAI-compatible services and net on Anthropic/Bedrock
  (``total_tokens`` is gross either way), so the split into uncached,
  cached and cache-write tokens is worked out per record, never by adding
  the cache counts to the prompt. Audio tokens (``extra.inputAudioTokens``,
  ``outputAudioTokens``, ``cacheReadInputAudioTokens``) are priced at the
  audio rates.
- TTS: characters.
- STT: the audio seconds the service reported (``STTUsageMetricsData``, newer
  Pipecat); else, for a streaming STT the call used, the call's length
  (it streams the whole call), marked ``basis="call duration"``.
- Any model priced ``per_minute``: the call's length.

A component whose model has no price is ``unknown`` with no ``usd``; the
call's total is then the sum of what is known and ``complete`` is False.

Computing with ``genai-prices`` loads its data (~0.2 s of CPU the first
time): :func:`start_warm_up` does that once per process, in a thread, as a
call starts, so that :func:`call_cost` at its end, on the event loop, finds
it loaded.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional

from .models import CallCost, ComponentCost, TurnCost
from .prices import DEFAULT_PRICES, PRICES_AS_OF, Price, match

_REALTIME = re.compile(r"realtime|native-audio|[-_.]live\b|-live-|nova-sonic|ultravox", re.IGNORECASE)
_MTOK = 1_000_000
_NO_USAGE = "no usage reported: PipelineParams(enable_metrics=True, enable_usage_metrics=True)"


def _n(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
        return 0.0
    return float(value)


@dataclass
class Tokens:
    """One LLM usage record, split into what is billed at each rate."""

    text_in: float = 0.0
    text_cached: float = 0.0
    cache_write: float = 0.0
    text_out: float = 0.0
    audio_in: float = 0.0
    audio_cached: float = 0.0
    audio_out: float = 0.0

    @property
    def gross_input(self) -> float:
        return self.text_in + self.text_cached + self.cache_write + self.audio_in + self.audio_cached

    def add(self, other: "Tokens") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def split_tokens(rec: Mapping[str, Any]) -> Tokens:
    """The billed parts of one LLM usage record (see the module doc for gross/net)."""
    extra = rec.get("extra") if isinstance(rec.get("extra"), Mapping) else {}
    prompt = _n(rec.get("promptTokens"))
    completion = _n(rec.get("completionTokens"))
    total = _n(rec.get("totalTokens"))
    cached = _n(rec.get("cachedTokens"))
    write = _n(extra.get("cacheCreationInputTokens"))
    audio_in = _n(extra.get("inputAudioTokens"))
    audio_out = _n(extra.get("outputAudioTokens"))
    audio_cached = _n(extra.get("cacheReadInputAudioTokens"))
    if cached or write:
        if total and total == prompt + completion:
            gross = True
        elif total and total == prompt + completion + cached + write:
            gross = False
        else:  # totals not reported: by the service's family
            gross = not str(rec.get("model") or rec.get("processor") or "").lower().startswith(
                ("claude", "anthropic", "us.anthropic", "eu.anthropic", "bedrock"))
        gross_in = prompt if gross else prompt + cached + write
    else:
        gross_in = prompt
    uncached = max(0.0, gross_in - cached - write)
    audio_uncached = min(max(0.0, audio_in - audio_cached), uncached)
    audio_cached = min(audio_cached, cached)
    return Tokens(
        text_in=uncached - audio_uncached,
        text_cached=cached - audio_cached,
        cache_write=write,
        text_out=max(0.0, completion - audio_out),
        audio_in=audio_uncached,
        audio_cached=audio_cached,
        audio_out=min(audio_out, completion) if completion else audio_out,
    )


def price_tokens(t: Tokens, p: Price) -> Optional[float]:
    """USD for the tokens at a price; None when a billed part has no rate."""
    parts = (
        (t.text_in, p.input_per_mtok),
        (t.text_cached, p.cached_input_per_mtok if p.cached_input_per_mtok is not None else p.input_per_mtok),
        (t.cache_write, p.cache_write_per_mtok if p.cache_write_per_mtok is not None else p.input_per_mtok),
        (t.text_out, p.output_per_mtok),
        (t.audio_in, p.audio_input_per_mtok),
        (t.audio_cached, p.audio_cached_input_per_mtok if p.audio_cached_input_per_mtok is not None
         else p.audio_input_per_mtok),
        (t.audio_out, p.audio_output_per_mtok),
    )
    usd = 0.0
    for count, rate in parts:
        if not count:
            continue
        if rate is None:
            return None
        usd += count * rate / _MTOK
    return usd


# -- the optional maintained price list (the "prices" extra) -------------------------------------

def _genai_prices() -> Any:
    try:
        import genai_prices  # type: ignore[import-not-found]
    except Exception:
        return None
    return genai_prices


def genai_prices_version() -> Optional[str]:
    mod = _genai_prices()
    return getattr(mod, "__version__", None) if mod is not None else None


_warm_up_started = False


def start_warm_up() -> None:
    """Import the optional price list and load its data in a thread of its own, once per process.

    Every call wants it at its end; loading it (~0.2 s of CPU) is a cost of
    the process, not of each call, and never runs on the event loop. No
    executor: a daemon thread neither wakes the loop when done nor holds up
    the interpreter's exit.
    """
    global _warm_up_started
    if _warm_up_started:
        return
    _warm_up_started = True
    try:
        threading.Thread(target=warm_up, name="roark-prices-warm-up", daemon=True).start()
    except RuntimeError:  # no more threads: it loads on first use instead
        pass


def warm_up() -> bool:
    """Load the optional price list's data now (blocking, ~0.2 s): call it in a thread. True if available."""
    global _warm_up_started
    _warm_up_started = True  # done here (e.g. by a host at startup): no call starts it again
    mod = _genai_prices()
    if mod is None:
        return False
    try:
        mod.calc_price(mod.Usage(input_tokens=1, output_tokens=1), "gpt-4o-mini")
    except Exception:
        pass
    return True


def _genai_tokens_usd(model: str, t: Tokens) -> Optional[float]:
    mod = _genai_prices()
    if mod is None:
        return None
    try:
        usage = mod.Usage(
            input_tokens=int(t.gross_input), output_tokens=int(t.text_out + t.audio_out),
            cache_read_tokens=int(t.text_cached + t.audio_cached), cache_write_tokens=int(t.cache_write),
            input_audio_tokens=int(t.audio_in + t.audio_cached), cache_audio_read_tokens=int(t.audio_cached),
            output_audio_tokens=int(t.audio_out),
        )
        return float(mod.calc_price(usage, model).total_price)
    except Exception:  # LookupError for an unknown model, or anything it cannot price
        return None


# -- the call ----------------------------------------------------------------------------------------

@dataclass
class _Component:
    component: str
    processor: Optional[str]
    model: Optional[str]
    tokens: Tokens = field(default_factory=Tokens)
    characters: float = 0.0
    audio_seconds: float = 0.0
    usage_records: int = 0
    turns: dict[int, list] = field(default_factory=dict)  # turn -> [Tokens, characters, audio seconds]


def _component_kind(rec: Mapping[str, Any], realtime: set[str]) -> Optional[str]:
    kind = rec.get("kind")
    if kind == "llm":
        extra = rec.get("extra") if isinstance(rec.get("extra"), Mapping) else {}
        if (rec.get("processor") in realtime or _REALTIME.search(str(rec.get("model") or ""))
                or _n(extra.get("inputAudioTokens")) or _n(extra.get("outputAudioTokens"))):
            return "s2s"
        return "llm"
    return kind if kind in ("stt", "tts") else None


def _lookup(model: Optional[str], component: str, overrides: Mapping[str, Price]) -> tuple[Optional[Price], str]:
    """(price, source) for a model, or (None, why)."""
    if not model:
        return None, "no model name reported"
    hit = match(model, overrides)
    if hit:
        return hit[1], "override"
    hit = match(model, DEFAULT_PRICES)
    if hit:
        price = hit[1][2]
        if price.priced:
            return price, "table"
        return None, price.note or "not priced"
    return None, "model not in the price table: pass prices={...}"


def call_cost(
    records: Iterable[Mapping[str, Any]],
    *,
    call_duration_secs: Optional[float] = None,
    prices: Optional[Mapping[str, Price]] = None,
    realtime_processors: Iterable[str] = (),
    use_genai_prices: bool = True,
) -> Optional[CallCost]:
    """The call's cost, or None when no service of the call was seen.

    ``records``: the call's metric records (any metric; usage is what is
    priced, the others only reveal which services took part).
    ``prices``: overrides built by :func:`pipecat_roark.prices.build_prices`.
    ``realtime_processors``: names of processors that announced themselves
    as speech-to-speech (``LLMServiceMetadataFrame(is_realtime_service=True)``).
    """
    overrides = prices or {}
    realtime = set(realtime_processors)
    comps: dict[tuple[str, Optional[str], Optional[str]], _Component] = {}
    models_by_proc: dict[str, str] = {}
    for rec in records:
        if rec.get("model") and rec.get("processor"):
            models_by_proc.setdefault(str(rec["processor"]), str(rec["model"]))
    for rec in records:
        kind = _component_kind(rec, realtime)
        if kind is None:
            continue
        processor = rec.get("processor")
        model = rec.get("model") or models_by_proc.get(str(processor))
        comp = comps.setdefault((kind, processor, model), _Component(kind, processor, model))
        if rec.get("metric") != "usage":
            continue
        comp.usage_records += 1
        turn = rec.get("turnIndex")
        per_turn = comp.turns.setdefault(turn, [Tokens(), 0.0, 0.0]) if isinstance(turn, int) else None
        if kind in ("llm", "s2s"):
            t = split_tokens(rec)
            comp.tokens.add(t)
            if per_turn is not None:
                per_turn[0].add(t)
        elif kind == "tts":
            comp.characters += _n(rec.get("characters"))
            if per_turn is not None:
                per_turn[1] += _n(rec.get("characters"))
        elif kind == "stt":
            comp.audio_seconds += _n(rec.get("audioDuration"))
            if per_turn is not None:
                per_turn[2] += _n(rec.get("audioDuration"))
    if not comps:
        return None

    out: list[ComponentCost] = []
    turn_usd: dict[int, float] = {}
    turn_unknown: set[int] = set()
    used_genai = False
    for comp in comps.values():
        priced = _price_component(comp, overrides, call_duration_secs, use_genai_prices)
        if priced is None:
            continue
        cost, turn_costs = priced
        used_genai = used_genai or cost.source == "genai-prices"
        out.append(cost)
        for turn, usd in turn_costs.items():
            if usd is None:
                turn_unknown.add(turn)
            else:
                turn_usd[turn] = turn_usd.get(turn, 0.0) + usd
        if cost.usd is None:
            turn_unknown.update(comp.turns)

    by_component: dict[str, float] = {}
    for c in out:
        if c.usd is not None:
            by_component[c.component] = round(by_component.get(c.component, 0.0) + c.usd, 6)
    unknown = [f"{c.component}:{c.model or c.processor or '?'}" for c in out if c.usd is None]
    per_turn = [TurnCost(turn_index=t, usd=round(turn_usd.get(t, 0.0), 6), complete=t not in turn_unknown)
                for t in sorted(set(turn_usd) | turn_unknown)]
    as_of = PRICES_AS_OF
    if used_genai:
        as_of = f"{PRICES_AS_OF} (table); genai-prices {genai_prices_version() or '?'} (LLM tokens)"
    return CallCost(
        total_usd=round(sum(c.usd for c in out if c.usd is not None), 6),
        complete=not unknown,
        by_component=by_component,
        components=out,
        unknown=unknown or None,
        per_turn=per_turn or None,
        prices_as_of=as_of,
    )


def _price_component(
    comp: _Component, overrides: Mapping[str, Price], call_secs: Optional[float], use_genai: bool
) -> Optional[tuple[ComponentCost, dict[int, Optional[float]]]]:
    price, source = _lookup(comp.model, comp.component, overrides)
    base = dict(component=comp.component, processor=comp.processor, model=comp.model)
    turns: dict[int, Optional[float]] = {}

    def unknown(why: str, basis: Optional[str] = None, quantity: Optional[dict] = None) -> tuple:
        return ComponentCost(**base, usd=None, status="unknown", source=why, basis=basis, quantity=quantity), turns

    if price is not None and price.per_minute is not None and comp.component != "stt":
        # Billed by the call's length (an STT's per-minute is per minute of audio: below).
        if call_secs is None:
            return unknown("the call's length is not known", "call duration")
        usd = price.per_minute * call_secs / 60
        return ComponentCost(**base, usd=round(usd, 6), source=source, basis="call duration",
                             quantity={"seconds": round(call_secs, 3)}), turns

    if comp.component in ("llm", "s2s"):
        if not comp.usage_records:
            return unknown(_NO_USAGE, "tokens")
        t = comp.tokens
        quantity = {k: v for k, v in vars(t).items() if v}
        usd = None
        if source != "override" and use_genai and comp.model:
            usd = _genai_tokens_usd(comp.model, t)
            if usd is not None:
                source = "genai-prices"
                for turn, (tt, _, _) in comp.turns.items():
                    turns[turn] = _genai_tokens_usd(comp.model, tt)
        if usd is None:
            if price is None:
                return unknown(source, "tokens", quantity)
            usd = price_tokens(t, price)
            if usd is None:
                return unknown("no rate for some of the tokens (e.g. audio)", "tokens", quantity)
            for turn, (tt, _, _) in comp.turns.items():
                turns[turn] = price_tokens(tt, price)
        return ComponentCost(**base, usd=round(usd, 6), source=source, basis="tokens", quantity=quantity), turns

    if comp.component == "tts":
        if not comp.usage_records:
            return unknown(_NO_USAGE, "characters")
        quantity = {"characters": comp.characters}
        if price is None or price.per_1k_characters is None:
            return unknown(source if price is None else "no per-character price", "characters", quantity)
        for turn, (_, chars, _) in comp.turns.items():
            turns[turn] = chars * price.per_1k_characters / 1000
        usd = comp.characters * price.per_1k_characters / 1000
        return ComponentCost(**base, usd=round(usd, 6), source=source, basis="characters", quantity=quantity), turns

    # STT: the seconds it reported, else the whole call (a streaming STT hears all of it).
    if comp.usage_records:
        seconds, basis = comp.audio_seconds, "audio seconds"
    elif call_secs is not None:
        seconds, basis = call_secs, "call duration"
    else:
        return unknown("neither audio seconds nor the call's length is known", "audio seconds")
    quantity = {"seconds": round(seconds, 3)}
    if price is None:
        return unknown(source, basis, quantity)
    if price.per_minute is None:
        return unknown("no per-minute price", basis, quantity)
    if comp.usage_records:
        for turn, (_, _, secs) in comp.turns.items():
            turns[turn] = secs * price.per_minute / 60
    usd = seconds * price.per_minute / 60
    return ComponentCost(**base, usd=round(usd, 6), source=source, basis=basis, quantity=quantity), turns


__all__ = ["Tokens", "call_cost", "genai_prices_version", "price_tokens", "split_tokens", "start_warm_up", "warm_up"]
