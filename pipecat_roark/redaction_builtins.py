"""The built-in redaction rules: e-mail addresses, payment card numbers, phone numbers.

Each rule is a pure function ``str -> str`` that replaces what it finds with
its tag in :data:`BUILTIN_RULES`. They are kept apart from the code that
builds a :class:`~pipecat_roark.redaction.Redactor` and applies it because
they are the part that needs tuning as written forms turn up that they miss
(or over-match), and their tests read them alone. They are regular
expressions plus a few shape checks, not a guarantee: they catch written
forms, not spoken-out ones.
"""

from __future__ import annotations

import re
from typing import Callable

#: Built-in rules and their replacements, in the order they run.
BUILTIN_RULES = {"email": "[EMAIL]", "card": "[CARD]", "phone": "[PHONE]"}

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
