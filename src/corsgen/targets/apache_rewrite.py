"""mod_rewrite in the Apache routing model: RewriteCond and RewriteRule as CORS configs use them
(a preflight answered with [R=204], [E=VAR:1], [F], [G], redirects), where they run, and the
per-directory config's merge and its FollowSymLinks condition."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from corsgen.routing import Place
from corsgen.targets.apache_config_tree import IF_KINDS, Directive, Section
from corsgen.targets.apache_expr import Unsupported, expand
from corsgen.targets.apache_request import Run

_REWRITE_RULES = ("rewritecond", "rewriterule")


@dataclass(frozen=True)
class Made:
    """An answer made on the way: a status httpd sends itself, or one it redirects with."""

    status: int
    by: Place
    location: str | None = None


def rewrite(directives: Sequence[Directive], run: Run, path: str) -> Made | None:
    """mod_rewrite's rules on `path`: the URI in server context (translate phase); per
    directory (fixups), what is below the rules' directory, or the URI without its /."""
    if not engine_on(directives):
        return None
    conds: list[Directive] = []
    for d in directives:
        if d.name == "rewritecond":
            if len(d.args) >= 2:  # httpd refuses one without its pattern
                conds.append(d)
            continue
        if d.name != "rewriterule" or len(d.args) < 2:
            continue
        pending, conds = conds, []
        flags = _flags(d.args[2] if len(d.args) > 2 else "")
        pattern = d.args[0]
        negate = pattern.startswith("!")
        found = run.search(pattern[1:] if negate else pattern, path, d.at, _nocase(flags))
        if (found is None) != negate or not _conds(pending, run):
            continue
        for name_value in flags.get("e", "").split("\n"):
            if name_value:
                name, _, value = name_value.partition(":")
                run.env[name] = value
        run.trail.append(f"RewriteRule at {d.at}")
        target = d.args[1]
        if "f" in flags:
            return Made(403, d.at)
        if "g" in flags:
            return Made(410, d.at)
        if "r" in flags:
            code = int(flags["r"]) if flags["r"].isdigit() else 302
            if 300 <= code < 400 and target != "-":
                return Made(code, d.at, expand(target, run.vars().variable))
            return Made(code, d.at)
        if target != "-":
            run.trail.append(f"not modelled at {d.at}: a rewrite to {target}")
        if "l" in flags or "end" in flags:
            return None
    return None


def _conds(conds: Sequence[Directive], run: Run) -> bool:
    """All hold, a run of [OR]-joined ones holding when any of them does."""
    groups: list[list[bool]] = [[]]
    for d in conds:
        flags = _flags(d.args[2] if len(d.args) > 2 else "")
        try:
            value = expand(d.args[0], run.vars().variable)
        except Unsupported as exc:
            run.trail.append(f"not modelled at {d.at}: {exc}")
            return False
        groups[-1].append(_cond_matches(d.args[1], value, "nc" in flags, run, d.at))
        if "or" not in flags:
            groups.append([])
    if not all(any(group) for group in groups if group):
        return False
    for d in conds:  # mod_rewrite adds the request headers its conditions read to Vary
        run.vary |= {v.partition(":")[2].lower() for v in _HTTP_VARS.findall(d.args[0])}
    return True


_FLAG_NAMES = {"redirect": "r", "env": "e", "last": "l", "forbidden": "f", "gone": "g"}


def _flags(text: str) -> dict[str, str]:
    """[R=204,L,E=A:1] as {"r": "204", "l": "", "e": "A:1"} (E= may repeat: lines)."""
    out: dict[str, str] = {}
    for flag in text.strip("[]").split(","):
        name, _, value = flag.partition("=")
        key = name.strip().lower()
        key = _FLAG_NAMES.get(key, key)
        out[key] = f"{out[key]}\n{value}" if key == "e" and key in out else value
    return out


_HTTP_VARS = re.compile(r"%\{(HTTP:[^}]*)\}", re.IGNORECASE)


def _nocase(flags: dict[str, str]) -> int:
    return re.IGNORECASE if "nc" in flags else 0


def _cond_matches(pattern: str, value: str, nocase: bool, run: Run, at: Place) -> bool:
    negate = pattern.startswith("!")
    pattern = pattern[1:] if negate else pattern
    if pattern.startswith("="):
        held = (value.lower() == pattern[1:].lower()) if nocase else value == pattern[1:].strip('"')
        if pattern[1:] == '""':
            held = value == ""
    elif pattern in ("-n",):
        held = value != ""
    elif pattern in ("-z",):
        held = value == ""
    else:
        held = run.search(pattern, value, at, re.IGNORECASE if nocase else 0) is not None
    return held != negate


def rewrite_config(layers: Sequence[Section]) -> tuple[list[Directive], Section | None]:
    """The per-directory rewrite config: RewriteEngine of the last that sets it, the rules of
    the last section that writes any (one without rules inherits them, checked), and that
    section when it is a directory's."""
    engine: list[Directive] = []
    rules: list[Directive] = []
    home = None
    for layer in layers:
        own = layer.directives()
        engine += [d for d in own if d.name == "rewriteengine"]
        if any(d.name in _REWRITE_RULES for d in own):
            options = " ".join(a for d in own if d.name == "rewriteoptions" for a in d.args)
            mine = [d for d in own if d.name in _REWRITE_RULES]
            rules = [*rules, *mine] if "Inherit" in options.split() else mine
            if layer.kind in ("directory", "htaccess"):
                home = layer
            elif layer.kind not in IF_KINDS:
                home = None
    return [*engine[-1:], *rules], home


def engine_on(directives: Sequence[Directive]) -> bool:
    engine = [d for d in directives if d.name == "rewriteengine"]
    return bool(engine) and [a.lower() for a in engine[-1].args] == ["on"]


_ALL_OPTIONS = {"execcgi", "followsymlinks", "includes", "indexes", "multiviews"}


def follows_symlinks(layers: Sequence[Section]) -> bool:
    """Whether Options, merged as httpd merges them (a line without +/- replaces, +X and -X
    edit; the default is FollowSymLinks), lets symlinks be followed."""
    options = {"followsymlinks"}
    for d in (d for layer in layers for d in layer.directives() if d.name == "options"):
        words = [w.lower() for w in d.args]
        if any(w[:1] not in "+-" for w in words):
            options = set()
        for word in words:
            name = word.lstrip("+-")
            named = _ALL_OPTIONS - {"multiviews"} if name == "all" else {name} - {"none"}
            options = options - named if word.startswith("-") else options | named
    return bool(options & {"followsymlinks", "symlinksifownermatch"})
