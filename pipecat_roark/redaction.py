"""Optional redaction of personal data before anything leaves the process.

``RoarkObserver(redact=...)`` builds a :class:`Redactor` once, at
construction (so a bad pattern fails there, with a message that names the
fix). Pure: no I/O, no clock, no logging; failures are reported to the
caller through an ``on_failure(reason)`` callback whose reason never holds
any of the text.

Accepted values of ``redact=``:

- ``None`` / ``False``: off (the default);
- ``True``: every built-in rule (``email``, ``phone``, ``card``);
- an iterable whose items are built-in rule names, regex strings, compiled
  ``re.Pattern``\\ s, ``(pattern, replacement)`` tuples, or callables
  ``str -> str``;
- a single callable ``str -> str``;
- a :class:`Redactor`.

Built-in rules always run first, in the order email, card, phone (a card
number is never half-eaten as a phone number), then the user's items in the
order given. They are regular expressions, not a guarantee: they catch
written forms ("jane@example.com", "(415) 555-0132", "4111 1111 1111 1111"),
not spoken-out ones ("jane at example dot com", "four one five ...").

When a user's callable (or a replacement function) raises or returns
something other than a string, the whole text it was given becomes
:data:`REDACTION_FAILED`: text is never sent unredacted because a rule broke.

The parts, one concern each: :mod:`pipecat_roark.redaction_builtins` (the
built-in rules), :mod:`pipecat_roark.redaction_rules` (turning ``redact=``
into rules, checked at construction), :mod:`pipecat_roark.redaction_payloads`
(reaching the text inside JSON, payloads and span attributes). Here is the
:class:`Redactor` that runs the rules on a text, and what failures become.
Every name is importable from here, as before the split.
"""

from __future__ import annotations

from typing import Any, Optional

from .redaction_builtins import BUILTIN_RULES, LONG_RUN, MAX_RUN_GROUPS, luhn_ok
from .redaction_payloads import PHONE_NUMBER_FIELDS, PayloadRedaction
from .redaction_rules import DEFAULT_REPLACEMENT, REDACTION_FAILED, OnFailure, RedactionError, _parse, _Step
from .text import clean_text


class Redactor(PayloadRedaction):
    """Redacts text, JSON text and call-ended payloads with a fixed set of rules.

    ``Redactor(True)``, ``Redactor(["email", r"\\bACME-\\d{6}\\b"])``,
    ``Redactor(my_function)``: see the module's documentation for the
    accepted values. Stateless once built, so one instance can serve any
    number of calls and threads.
    """

    def __init__(self, rules: Any = True):
        if rules is None or rules is False:
            raise TypeError("RoarkObserver: redact: a Redactor needs rules; use redact=None to turn redaction off")
        self._steps: list[_Step] = list(rules._steps) if isinstance(rules, Redactor) else _parse(rules)

    @property
    def rules(self) -> list[str]:
        """The rules, in the order they run (for logs and tests)."""
        return [s.name for s in self._steps]

    def __bool__(self) -> bool:
        return bool(self._steps)

    def __repr__(self) -> str:
        return f"Redactor({self.rules!r})"

    # -- text ------------------------------------------------------------------

    def redact(self, text: str) -> str:
        """The text with every rule applied. Raises :class:`RedactionError` if a user's rule fails."""
        if not isinstance(text, str):
            raise TypeError(f"Redactor.redact takes a str, got {type(text).__name__}")
        for step in self._steps:
            try:
                text = step.fn(text)
            except RedactionError:
                raise
            except Exception as e:
                raise RedactionError(f"the redact {step.name} raised {type(e).__name__}") from None
        return text

    def text(self, value: Any, on_failure: OnFailure = None) -> str:
        """Redacted text; :data:`REDACTION_FAILED` when a rule failed. Never raises."""
        if not isinstance(value, str):
            value = clean_text(value)
        if not value:
            return value
        try:
            return self.redact(value)
        except Exception as e:  # RedactionError, or anything unforeseen
            _report(on_failure, str(e) if isinstance(e, RedactionError) else f"redaction raised {type(e).__name__}")
            return REDACTION_FAILED



def _report(on_failure: OnFailure, reason: str) -> None:
    if on_failure is None:
        return
    try:
        on_failure(reason)
    except Exception:
        pass


def build_redactor(value: Any) -> Optional[Redactor]:
    """The user's ``redact=`` value -> a Redactor, or None when redaction is off. Raises on bad input."""
    if value is None or value is False:
        return None
    if isinstance(value, Redactor):
        return value if value else None
    redactor = Redactor(value)
    return redactor if redactor else None


# The names importers used before the module was split keep working from here.
__all__ = [
    "BUILTIN_RULES",
    "DEFAULT_REPLACEMENT",
    "LONG_RUN",
    "MAX_RUN_GROUPS",
    "PHONE_NUMBER_FIELDS",
    "REDACTION_FAILED",
    "RedactionError",
    "Redactor",
    "build_redactor",
    "luhn_ok",
]
