"""Turning the user's ``redact=`` value into the rules a Redactor runs, and what a failing rule becomes.

Everything here runs once, when ``RoarkObserver(redact=...)`` is built, so
that a bad pattern, a replacement naming a group its pattern lacks, or a
value of the wrong type fails there with a message that names the fix,
never in the middle of a call. Kept apart from the
:class:`~pipecat_roark.redaction.Redactor` that runs the rules because
validating the many accepted shapes is its own long concern, and nothing of
it runs per text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Callable, Optional

from .redaction_builtins import _ALIASES, _BUILTIN_FUNCS, BUILTIN_RULES
from .text import clean_text

#: What replaces a text whose redaction failed.
REDACTION_FAILED = "[REDACTION FAILED]"
#: What a custom pattern given without a replacement is replaced with.
DEFAULT_REPLACEMENT = "[REDACTED]"

OnFailure = Optional[Callable[[str], None]]


class RedactionError(Exception):
    """A user's rule failed on some text (raised by :meth:`Redactor.redact` only)."""


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
    # Imported here, not at the top: redaction.py imports this module, and a
    # Redactor given as an item lends its rules.
    from .redaction import Redactor

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
