"""The command grammar as a word-sequence acceptor, for recognisers that do not read JSGF.

    g = Grammar(jsgf_grammar())
    g.accepts("pick up the red cube".split())          # True
    g.nearest("pick up a red cube".split())            # [['pick', 'up', 'the', 'red', 'cube'], ...]

A JSGF grammar (the subset :func:`.commands.jsgf_grammar` writes: ``<rule>`` references,
``[optional]``, ``( a | b )`` groups, one public rule) is compiled into one regular expression
over space-separated lower-case words. :meth:`Grammar.nearest` gives the grammar's sentences at
one word edit (substitution, deletion or insertion) from a word sequence when it is not itself
in the grammar: a free decoder's small slips ("pick up a red cube") still name a command, while
sentences further away do not.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"<[^>]+>|[\[\]()|;=]|[^\s\[\]()|;=<>]+")


class Grammar:
    """A compiled JSGF grammar. ``words``: every word it can produce (sorted)."""

    def __init__(self, jsgf: str):
        rules, public = {}, None
        for line in jsgf.splitlines():
            line = line.strip()
            if not line.endswith(";") or "=" not in line or line.startswith(("#", "grammar")):
                continue
            head, body = line[:-1].split("=", 1)
            name = re.search(r"<([^>]+)>", head).group(1)
            rules[name] = _TOKEN.findall(body)
            if head.strip().startswith("public"):
                public = name
        if public is None:
            raise ValueError("the grammar has no public rule")
        self.rules = rules
        self.words = sorted({t for toks in rules.values() for t in toks
                             if not t.startswith("<") and t not in "[]()|;="})
        self.regex = re.compile(r"\A" + self._expand(public, ()) + r"\Z")

    def _expand(self, name: str, stack: tuple) -> str:
        if name in stack:
            raise ValueError(f"recursive grammar rule <{name}>")
        if name not in self.rules:
            raise ValueError(f"grammar rule <{name}> is not defined")
        pos, out = self._seq(self.rules[name], 0, stack + (name,), ())
        return out

    def _seq(self, toks: list, pos: int, stack: tuple, until: tuple) -> tuple[int, str]:
        """Alternatives from ``pos`` up to a token in ``until``: (next position, regex)."""
        alts, cur = [], []
        while pos < len(toks) and toks[pos] not in until:
            t = toks[pos]
            if t == "|":
                alts.append("".join(cur))
                cur = []
                pos += 1
            elif t in "([":
                pos, inner = self._seq(toks, pos + 1, stack, (")" if t == "(" else "]",))
                cur.append(f"(?:{inner})" + ("?" if t == "[" else ""))
                pos += 1
            elif t.startswith("<"):
                cur.append(f"(?:{self._expand(t[1:-1], stack)})")
                pos += 1
            else:
                cur.append(f"(?:{re.escape(t)} )")
                pos += 1
        alts.append("".join(cur))
        return pos, "|".join(alts)

    def accepts(self, words: list[str]) -> bool:
        """Whether the grammar produces exactly ``words``."""
        return bool(words) and self.regex.match("".join(w + " " for w in words)) is not None

    def nearest(self, words: list[str]) -> list[list[str]]:
        """``[words]`` when the grammar produces them, else its sentences at one word edit from
        them (any order; empty when there are none)."""
        if self.accepts(words):
            return [list(words)]
        found: dict[tuple, None] = {}
        n = len(words)
        for i in range(n + 1):
            variants = [words[:i] + [w] + words[i:] for w in self.words]      # insert
            if i < n:
                variants.append(words[:i] + words[i + 1:])                      # delete
                variants += [words[:i] + [w] + words[i + 1:] for w in self.words
                             if w != words[i]]                                  # substitute
            for v in variants:
                if self.accepts(v):
                    found[tuple(v)] = None
        return [list(v) for v in found]
