"""What the wire models say about their fields: which carry personal data, and their wire names.

The models (:mod:`pipecat_roark.models`) mark a field that carries the
caller's or the bot's words, tool data or a phone number with
:func:`personal`; :func:`personal_fields` reads those marks, nested models
included, and :meth:`pipecat_roark.redaction.Redactor.payload` redacts a
wire dict by them. So a new extension is redacted by declaring it, in the
one place the wire is stated, not by teaching the redactor its field names.
"""

from __future__ import annotations

import collections.abc
import functools
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Optional, Union

from pydantic import BaseModel, Field

#: How :meth:`pipecat_roark.redaction.Redactor.payload` treats a field:
#:
#: - ``text``: a string of words (the rules run on it);
#: - ``json``: a string that may hold JSON (a JSON object/array keeps its
#:   shape, its string values redacted), e.g. a tool result;
#: - ``json_value``: a JSON text that must stay valid JSON even when it is a
#:   scalar (tool arguments);
#: - ``phone``: a phone number or SIP address, replaced whole;
#: - ``values``: free JSON (an object or list): every string in it;
#: - ``drop``: removed (text a rule cannot be trusted on, e.g. single words).
RedactKind = Literal["text", "json", "json_value", "phone", "values", "drop"]
REDACT_KINDS: tuple[str, ...] = typing.get_args(RedactKind)


def personal(kind: RedactKind, default: Any = ..., **kw: Any) -> Any:
    """A field that carries personal data, redacted as ``kind`` when ``redact=`` is on."""
    return Field(default=default, json_schema_extra={"redact": kind}, **kw)


def personal_keys(default: Any = ..., **keys: RedactKind) -> Any:
    """A field of plain dicts (or a list of them) not modelled yet: how their keys (wire names) are redacted.

    Once those dicts get a model, mark its fields with :func:`personal` instead.
    """
    return Field(default=default, json_schema_extra={"redact_keys": dict(keys)})


@dataclass(frozen=True)
class PersonalField:
    """What :func:`personal_fields` says of one field (by its wire name); exactly one part is set.

    ``kind``: how the value itself is redacted; ``keys``: how the keys of the
    plain dicts it holds are; ``inner``: the personal fields of the model(s)
    it holds (one object or a list of them).
    """

    kind: Optional[str] = None
    keys: Optional[Mapping[str, str]] = None
    inner: Optional[Mapping[str, "PersonalField"]] = None


@functools.lru_cache(maxsize=None)
def personal_fields(model: type[BaseModel]) -> Mapping[str, PersonalField]:
    """The fields of ``model`` (wire names) that carry personal data, directly or in the models they hold.

    Read from the :func:`personal` / :func:`personal_keys` markers; a union
    of models (tool records) merges its members' fields. Raises TypeError
    when two members mark the same wire name differently (a declaration
    mistake, caught by the tests, never mid-call).
    """
    out: dict[str, PersonalField] = {}
    for name, info in model.model_fields.items():
        wire = info.alias or name
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        kind, keys = extra.get("redact"), extra.get("redact_keys")
        if kind is not None:
            if kind not in REDACT_KINDS:
                raise TypeError(f"{model.__name__}.{name}: unknown redaction kind {kind!r}")
            out[wire] = PersonalField(kind=str(kind))
        elif keys:
            bad = [k for k in keys.values() if k not in REDACT_KINDS]
            if bad:
                raise TypeError(f"{model.__name__}.{name}: unknown redaction kind(s) {bad}")
            out[wire] = PersonalField(keys=types.MappingProxyType(dict(keys)))
        else:
            inner: dict[str, PersonalField] = {}
            for sub in _models_in(info.annotation):
                for key, field in personal_fields(sub).items():
                    if inner.setdefault(key, field) != field:
                        raise TypeError(f"{model.__name__}.{name}: the models it holds mark {key!r} differently")
            if inner:
                out[wire] = PersonalField(inner=types.MappingProxyType(inner))
    return types.MappingProxyType(out)


@functools.lru_cache(maxsize=None)
def wire_names(model: type[BaseModel]) -> Mapping[str, str]:
    """Python field name -> wire name, for code that fills a wire dict in place."""
    return types.MappingProxyType({name: info.alias or name for name, info in model.model_fields.items()})


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation holds: itself, or inside Optional/Union/list/tuple (not dict values)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType, list, tuple, typing.Annotated, collections.abc.Sequence):
        found: list[type[BaseModel]] = []
        for arg in typing.get_args(annotation):
            found += [m for m in _models_in(arg) if m not in found]
        return found
    return []
