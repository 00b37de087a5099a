"""Redacting structured values: JSON text, the wire payloads and span attributes.

The rules of a :class:`~pipecat_roark.redaction.Redactor` work on plain
text; this is how they reach the text inside structures without breaking
them: JSON stays valid JSON (and byte for byte as it was when nothing
changed), a payload has exactly the fields the wire models declare personal
redacted (``personal(...)`` in :mod:`pipecat_roark.models`), and numbers
known to be phone numbers go whole. Kept apart from the rules because it is
driven by the wire models' declarations, not by what the user asked to
redact: a field added to the models is redacted here without touching the
rules.

Mixed into :class:`~pipecat_roark.redaction.Redactor`, whose ``text()`` and
``rules`` it uses.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .models import CallEnded, CallStarted, PersonalField, Telephony, personal_fields
from .redaction_builtins import BUILTIN_RULES
from .redaction_rules import REDACTION_FAILED, OnFailure
from .text import clean_text

#: Fields of the ``telephony`` object that hold phone numbers (declared in models.Telephony).
PHONE_NUMBER_FIELDS = tuple(k for k, f in personal_fields(Telephony).items() if f.kind == "phone")
#: JSON integers this long or longer are checked too (a card number sent as a number).
_MIN_INT_DIGITS = 7
_MAX_DEPTH = 64


class PayloadRedaction:
    """JSON text, payloads and attributes, redacted with the rules of the Redactor it is mixed into."""

    def json_text(self, value: Any, on_failure: OnFailure = None, *, keep_json: bool = False) -> str:
        """Text that may hold JSON (tool arguments and results, span attributes).

        A JSON object or array has its string values redacted (keys are left
        alone; long integers are checked too) and is dumped again compactly,
        so it stays valid JSON; left byte for byte as it was when nothing
        changed. Anything else is redacted as text, except that with
        ``keep_json`` a JSON scalar stays valid JSON too (tool arguments).
        """
        if not isinstance(value, str):
            value = clean_text(value)
        if not value:
            return value
        stripped = value.lstrip()
        if not stripped or (stripped[0] not in "[{" and not keep_json):
            return self.text(value, on_failure)
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):
            return self.text(value, on_failure)
        if not keep_json and not isinstance(parsed, (dict, list)):
            return self.text(value, on_failure)
        try:
            new, changed = self._walk(parsed, on_failure, 0)
        except _TooDeep:
            return self.text(value, on_failure)
        if not changed:
            return value
        try:
            return json.dumps(new, ensure_ascii=False, separators=(",", ":"))
        except (ValueError, TypeError, RecursionError):
            return self.text(value, on_failure)

    def _walk(self, value: Any, on_failure: OnFailure, depth: int) -> tuple[Any, bool]:
        if depth > _MAX_DEPTH:
            raise _TooDeep()
        if isinstance(value, str):
            out = self.text(value, on_failure)
            return out, out != value
        if isinstance(value, bool) or value is None or isinstance(value, float):
            return value, False
        if isinstance(value, int):
            if len(str(abs(value))) < _MIN_INT_DIGITS:
                return value, False
            as_text = str(value)
            out = self.text(as_text, on_failure)
            return (out, True) if out != as_text else (value, False)
        if isinstance(value, dict):
            changed = False
            new: dict = {}
            for k, v in value.items():
                new[k], c = self._walk(v, on_failure, depth + 1)
                changed = changed or c
            return new, changed
        if isinstance(value, list):
            changed = False
            items = []
            for v in value:
                nv, c = self._walk(v, on_failure, depth + 1)
                items.append(nv)
                changed = changed or c
            return items, changed
        return value, False

    # -- what leaves the process ---------------------------------------------------

    def payload(self, wire: dict[str, Any], on_failure: OnFailure = None) -> dict[str, Any]:
        """Redact a call-ended or call-started payload (the wire dict), in place; returns it.

        Every field the wire models declare personal (``personal(...)`` in
        :mod:`pipecat_roark.models`) is redacted as declared, wherever it is
        nested: today turn ``content`` and ``userId`` (a phone number or an
        email as often as not), tool call ``arguments`` (kept valid JSON),
        tool result ``content`` and ``error``, error and log ``message``\\ s,
        the words of STT word timings (dropped; their timings stay), the
        ``telephony`` numbers (whole, see :meth:`phone_number`) and the
        string values of timeline events' ``data``. Anything of another
        shape than the model's is left as it is.
        """
        model = CallStarted if wire.get("event") == "call-started" else CallEnded
        self._redact_fields(personal_fields(model), wire, on_failure)
        return wire

    def _redact_fields(self, fields: Mapping[str, PersonalField], obj: dict, on_failure: OnFailure) -> None:
        for key, field in fields.items():
            if key not in obj:
                continue
            if field.kind is not None:
                self._redact_value(field.kind, obj, key, on_failure)
            elif field.keys is not None:
                for item in _dicts(obj[key]):
                    for sub, kind in field.keys.items():
                        if sub in item:
                            self._redact_value(kind, item, sub, on_failure)
            elif field.inner is not None:
                for item in _dicts(obj[key]):
                    self._redact_fields(field.inner, item, on_failure)

    def _redact_value(self, kind: str, obj: dict, key: str, on_failure: OnFailure) -> None:
        """Redact ``obj[key]`` as ``kind`` (see models.RedactKind)."""
        value = obj[key]
        if kind == "drop":
            del obj[key]
        elif kind == "values":
            if isinstance(value, (dict, list)):
                try:
                    obj[key], _ = self._walk(value, on_failure, 0)
                except _TooDeep:
                    obj[key] = {"redacted": REDACTION_FAILED}
        elif not isinstance(value, str):
            return
        elif kind == "text":
            obj[key] = self.text(value, on_failure)
        elif kind == "json":
            obj[key] = self.json_text(value, on_failure)
        elif kind == "json_value":
            obj[key] = self.json_text(value, on_failure, keep_json=True)
        elif kind == "phone":
            obj[key] = self.phone_number(value, on_failure)
        else:  # a kind models.py added without teaching this method: never send it unredacted
            obj[key] = self.text(value, on_failure)

    def phone_number(self, value: str, on_failure: OnFailure = None) -> str:
        """A field known to hold a phone number (or SIP address).

        With the built-in ``phone`` rule on, the whole value is replaced,
        whatever its shape (``+15550001111`` or ``sip:...@host`` are not the
        written forms the text rule looks for); otherwise the rules run on it
        as on any text.
        """
        if not value:
            return value
        if "phone" in self.rules:
            return BUILTIN_RULES["phone"]
        return self.text(value, on_failure)

    def attribute(self, value: Any, on_failure: OnFailure = None) -> Any:
        """An OpenTelemetry attribute value: strings (and sequences of them) redacted, the rest as is."""
        if isinstance(value, str):
            return self.json_text(value, on_failure)
        if isinstance(value, (list, tuple)) and any(isinstance(v, str) for v in value):
            return tuple(self.json_text(v, on_failure) if isinstance(v, str) else v for v in value)
        return value


class _TooDeep(Exception):
    pass


def _dicts(value: Any) -> list[dict]:
    """The objects in a field: itself when it is one, those of a list."""
    if isinstance(value, dict):
        return [value]
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
