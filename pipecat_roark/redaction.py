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
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, Callable, Optional

from .models import CallEnded, CallStarted, PersonalField, Telephony, personal_fields
from .text import clean_text

#: What replaces a text whose redaction failed.
REDACTION_FAILED = "[REDACTION FAILED]"
#: What a custom pattern given without a replacement is replaced with.
DEFAULT_REPLACEMENT = "[REDACTED]"
#: Built-in rules and their replacements, in the order they run.
BUILTIN_RULES = {"email": "[EMAIL]", "card": "[CARD]", "phone": "[PHONE]"}
#: Fields of the ``telephony`` object that hold phone numbers (declared in models.Telephony).
PHONE_NUMBER_FIELDS = tuple(k for k, f in personal_fields(Telephony).items() if f.kind == "phone")
#: JSON integers this long or longer are checked too (a card number sent as a number).
_MIN_INT_DIGITS = 7
_MAX_DEPTH = 64

OnFailure = Optional[Callable[[str], None]]


class RedactionError(Exception):
    """A user's rule failed on some text (raised by :meth:`Redactor.redact` only)."""


# --------------------------------------------------------------------------- #
# Built-in rules
# --------------------------------------------------------------------------- #

_EMAIL = re.compile(
    r"(?<![\w.%+'-])"
    r"[\w.%+'-]+@"  # local part
    r"(?:[^\W_][\w-]*\.)+"  # domain labels
    r"[^\W\d_]{2,63}"  # top-level domain
    r"(?![\w-])"
)


def _email(text: str) -> str:
    if "@" not in text:
        return text
    return _EMAIL.sub(BUILTIN_RULES["email"], text)


# A run of digit groups separated by single spaces or dashes.
_DIGIT_RUN = re.compile(r"(?<!\w)\d+(?:[ -]\d+)*(?!\w)")
_GROUP = re.compile(r"\d+")


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum every payment card number carries."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0 and digits.strip("0") != ""


#: A run of more digit groups than this is not read number by number (the
#: search would cost ~30 µs a group on the event loop): it is redacted whole.
MAX_RUN_GROUPS = 64
LONG_RUN = "[NUMBERS]"


def _too_long(run: str) -> bool:
    return len(_GROUP.findall(run)) > MAX_RUN_GROUPS


def _card_run(m: re.Match) -> str:
    run = m.group(0)
    if _too_long(run):
        return LONG_RUN
    spans = [(g.start(), g.end()) for g in _GROUP.finditer(run)]
    out: list[str] = []
    done = 0  # run[:done] is already in out
    i = 0
    while i < len(spans):
        hit = None
        digits = 0
        ends = []
        for j in range(i, len(spans)):
            digits += spans[j][1] - spans[j][0]
            if digits > 19:
                break
            if digits >= 13:
                ends.append(j)
        for j in reversed(ends):  # the longest card number first
            number = "".join(run[a:b] for a, b in spans[i:j + 1])
            if luhn_ok(number):
                hit = j
                break
        if hit is None:
            i += 1
            continue
        out.append(run[done:spans[i][0]])
        out.append(BUILTIN_RULES["card"])
        done = spans[hit][1]
        i = hit + 1
    if not out:
        return run
    out.append(run[done:])
    return "".join(out)


def _card(text: str) -> str:
    return _DIGIT_RUN.sub(_card_run, text)


# A run of digit groups that may be a phone number: an optional "+", groups
# of digits (the first, or one after the "+", may be in parentheses)
# separated by one space, dot or dash, never glued to a word, a decimal,
# a time or a date.
_PHONE_RUN = re.compile(
    r"(?<![\w+/:.,#-])"
    r"\+?(?:\(\d{1,5}\)|\d+)"
    r"(?:(?:[ .\-]|(?<=\))|(?=\())(?:\(\d{1,5}\)|\d+))*"
    r"(?![\w/:]|[.,\-]\d)"
)
_PHONE_TOKEN = re.compile(r"(\()?(\d+)\)?")
_CURRENCY_BEFORE = re.compile(r"(?:[$€£¥₹₩₽¢]|\b(?:USD|EUR|GBP|CHF|JPY|CAD|AUD|INR|SEK|NOK|DKK|PLN))\s?$", re.I)
_CURRENCY_AFTER = re.compile(
    r"^\s?(?:[$€£¥₹₩₽¢%]|(?:USD|EUR|GBP|CHF|JPY|CAD|AUD|INR|SEK|NOK|DKK|PLN|dollars?|euros?|pounds?|yen|"
    r"bucks|cents?|percent|kr|kronor|kroner|francs?|rupees?)\b)",
    re.I,
)


#: How card numbers are written in groups (digits per group).
_CARD_SHAPES = {(4, 4, 4, 4), (4, 4, 4, 4, 3), (4, 4, 4, 4, 2), (4, 4, 4, 4, 1), (4, 6, 5), (4, 6, 4)}


def _phone_shape_ok(groups: list[tuple[str, bool]], seps: list[str], plus: bool) -> bool:
    """Do these digit groups look like a phone number (and not a date, an amount, an IP ...)?"""
    digits = [d for d, _ in groups]
    n = sum(len(d) for d in digits)
    if plus:
        return 7 <= n <= 15
    if len(groups) < 2:
        return False  # a bare run of digits: an order or account number as often as a phone
    first, first_paren = groups[0]
    if first.startswith("00") and not first_paren:  # 00 44 20 ...: international, dialled
        return 9 <= n <= 15
    if not 7 <= n <= 12:
        return False
    if len(first) > 5 or any(len(d) < 2 or len(d) > 8 for d in digits[1:]):
        return False
    if len(first) == 1 and not first_paren and len(groups) < 4:  # 1-800-555-0199, not 1.000.000
        return False
    if len(groups) == 2:
        # 555-0132, 030 12345678, (020) 7946...; not 2019-2020, 94105-1234, 1234 5678 or 123.4567
        return seps[0] != "." and (first_paren or first.startswith("0") or (len(first) == 3 and len(digits[1]) == 4))
    lens = [len(d) for d in digits]
    if len(groups) == 3 and ((lens[0] == 4 and lens[1] <= 2 and lens[2] <= 2) or (lens[0] <= 2 and lens[1] <= 2 and lens[2] == 4)):
        return False  # a date: 2024-01-15, 15.01.2024
    if len(set(seps)) == 1 and seps[0] in ". " and lens[0] <= 3 and all(x == 3 for x in lens[1:]):
        return False  # thousands: 12 500 000, 1.250.000
    if len(groups) == 4 and all(s == "." for s in seps) and all(x <= 3 for x in lens):
        return False  # an IPv4 address
    if all(x == 4 for x in lens):
        return False  # 1234 5678 9012: grouped like a card or account number
    return True


def _phone_run(m: re.Match) -> str:
    run = m.group(0)
    if _too_long(run):
        return LONG_RUN
    text = m.string
    before, after = text[max(0, m.start() - 8):m.start()], text[m.end():m.end() + 12]
    if _CURRENCY_BEFORE.search(before) or _CURRENCY_AFTER.search(after):
        return run  # money, not a phone number
    plus = run.startswith("+")
    tokens = list(_PHONE_TOKEN.finditer(run))
    groups = [(t.group(2), bool(t.group(1))) for t in tokens]
    if not plus and tuple(len(d) for d, _ in groups) in _CARD_SHAPES:
        return run  # grouped like a card number (one that failed the Luhn check): not a phone
    seps = [run[tokens[k].end():tokens[k + 1].start()] for k in range(len(tokens) - 1)]
    out: list[str] = []
    done = 0
    i = 0
    while i < len(groups):
        # A phone number inside a longer run must start and end at a space.
        if i and seps[i - 1] != " ":
            i += 1
            continue
        hit = None
        for j in range(min(len(groups), i + 8), i, -1):
            if j < len(groups) and seps[j - 1] != " ":
                continue
            if _phone_shape_ok(groups[i:j], seps[i:j - 1], plus and i == 0):
                hit = j
                break
        if hit is None:
            i += 1
            continue
        start = 0 if i == 0 else tokens[i].start()
        out.append(run[done:start])
        out.append(BUILTIN_RULES["phone"])
        done = tokens[hit - 1].end()
        i = hit
    if not out:
        return run
    out.append(run[done:])
    return "".join(out)


def _phone(text: str) -> str:
    return _PHONE_RUN.sub(_phone_run, text)


_BUILTIN_FUNCS: dict[str, Callable[[str], str]] = {"email": _email, "card": _card, "phone": _phone}
_ALIASES = {"emails": "email", "e-mail": "email", "phones": "phone", "phone_number": "phone",
            "cards": "card", "credit_card": "card", "payment_card": "card"}


# --------------------------------------------------------------------------- #
# Building a redactor
# --------------------------------------------------------------------------- #


class _Step:
    """One rule: a function str -> str; ``user``: a user's code runs in it (it may fail)."""

    __slots__ = ("name", "fn", "user")

    def __init__(self, name: str, fn: Callable[[str], str], user: bool):
        self.name, self.fn, self.user = name, fn, user


def _compile(pattern: Any, where: str) -> re.Pattern:
    if isinstance(pattern, re.Pattern):
        compiled = pattern
    elif isinstance(pattern, str):
        if not pattern:
            raise ValueError(f"RoarkObserver: redact {where}: an empty pattern would match everywhere; remove it")
        try:
            compiled = re.compile(pattern)
        except re.error as e:
            raise ValueError(
                f"RoarkObserver: redact {where}: {pattern!r} is not a valid regular expression ({e}); "
                "fix it, or pass re.compile(...) to test it first"
            ) from None
    else:
        raise TypeError(
            f"RoarkObserver: redact {where}: a pattern must be a regex string or re.compile(...), "
            f"got {type(pattern).__name__}"
        )
    if not isinstance(compiled.pattern, str):
        raise TypeError(f"RoarkObserver: redact {where}: bytes patterns cannot match text; use a str pattern")
    if compiled.search("") is not None:
        raise ValueError(
            f"RoarkObserver: redact {where}: {compiled.pattern!r} matches the empty string, so it would insert "
            "its replacement between every character; make it match at least one character (e.g. + instead of *)"
        )
    return compiled


def _regex_step(pattern: Any, replacement: Any, where: str) -> _Step:
    compiled = _compile(pattern, where)
    if callable(replacement):
        repl_fn = replacement

        def sub(text: str) -> str:
            def one(m: re.Match) -> str:
                out = repl_fn(m)
                if not isinstance(out, str):
                    raise RedactionError(f"the replacement function of {compiled.pattern!r} returned "
                                         f"{type(out).__name__}, not str")
                return out

            return compiled.sub(one, text)

        return _Step(f"pattern {compiled.pattern!r}", sub, True)
    if not isinstance(replacement, str):
        raise TypeError(
            f"RoarkObserver: redact {where}: the replacement must be a string (or a function of the match), "
            f"got {type(replacement).__name__}"
        )
    try:
        # Check the replacement's group references now, not mid-call: a pattern
        # with the same groups (numbers and names) that matches "".
        names = {i: name for name, i in compiled.groupindex.items()}
        same_groups = "".join(f"(?P<{names[i]}>)" if i in names else "()" for i in range(1, compiled.groups + 1))
        re.compile(same_groups).sub(replacement, "", count=1)
    except (re.error, IndexError) as e:
        raise ValueError(
            f"RoarkObserver: redact {where}: replacement {replacement!r} is not valid for pattern "
            f"{compiled.pattern!r} ({e}); escape backslashes (\\\\) or refer only to groups the pattern has"
        ) from None
    return _Step(f"pattern {compiled.pattern!r}", lambda text: compiled.sub(replacement, text), False)


def _callable_step(fn: Callable[[str], Any]) -> _Step:
    name = getattr(fn, "__qualname__", None) or type(fn).__name__

    def call(text: str) -> str:
        out = fn(text)
        if not isinstance(out, str):
            raise RedactionError(f"the redact callable {name} returned {type(out).__name__}, not str")
        return clean_text(out)

    return _Step(f"callable {name}", call, True)


def _parse(spec: Any) -> list[_Step]:
    if spec is True:
        return [_Step(name, _BUILTIN_FUNCS[name], False) for name in BUILTIN_RULES]
    if isinstance(spec, (str, re.Pattern)) or callable(spec):
        items: list[Any] = [spec]
    elif isinstance(spec, Mapping):
        raise TypeError(
            "RoarkObserver: redact must be True, a list of rules or a callable, not a dict; "
            "for patterns with replacements pass a list of (pattern, replacement) tuples"
        )
    elif isinstance(spec, Iterable) and not isinstance(spec, (bytes, bytearray)):
        items = list(spec)
    else:
        raise TypeError(
            "RoarkObserver: redact must be None/False (off), True (every built-in rule), a list of rules "
            "(\"email\", \"phone\", \"card\", regex strings, re.compile(...), (pattern, replacement) tuples) "
            f"or a callable str -> str; got {type(spec).__name__}"
        )
    builtins: set[str] = set()
    custom: list[_Step] = []
    for n, item in enumerate(items):
        where = f"item {n}"
        if isinstance(item, bool):
            raise TypeError(f"RoarkObserver: redact {where}: {item!r} is not a rule; use redact=True for every built-in rule")
        if isinstance(item, str) and re.fullmatch(r"[A-Za-z][A-Za-z_-]*", item):
            name = _ALIASES.get(item.lower(), item.lower())
            if name not in BUILTIN_RULES:
                raise ValueError(
                    f"RoarkObserver: redact {where}: unknown rule name {item!r}; built-in rules are "
                    f"{', '.join(repr(r) for r in BUILTIN_RULES)}. To redact that word itself, "
                    f"pass re.compile({item!r})"
                )
            builtins.add(name)
        elif isinstance(item, (str, re.Pattern)):
            custom.append(_regex_step(item, DEFAULT_REPLACEMENT, where))
        elif isinstance(item, tuple):
            if len(item) != 2:
                raise ValueError(
                    f"RoarkObserver: redact {where}: a tuple must be (pattern, replacement), got {len(item)} items"
                )
            custom.append(_regex_step(item[0], item[1], where))
        elif isinstance(item, Redactor):
            custom.extend(item._steps)
        elif callable(item):
            custom.append(_callable_step(item))
        else:
            raise TypeError(
                f"RoarkObserver: redact {where}: expected a rule name (\"email\", \"phone\", \"card\"), "
                f"a regex string, re.compile(...), a (pattern, replacement) tuple or a callable; "
                f"got {type(item).__name__}"
            )
    steps = [_Step(name, _BUILTIN_FUNCS[name], False) for name in BUILTIN_RULES if name in builtins]
    return steps + custom


# --------------------------------------------------------------------------- #
# The redactor
# --------------------------------------------------------------------------- #


class Redactor:
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
        tool result ``content`` and ``error``, error and log ``message``\ s,
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


__all__ = [
    "BUILTIN_RULES",
    "DEFAULT_REPLACEMENT",
    "PHONE_NUMBER_FIELDS",
    "REDACTION_FAILED",
    "RedactionError",
    "Redactor",
    "build_redactor",
    "luhn_ok",
]
