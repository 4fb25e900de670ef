"""Caddy's request matchers, as the routing model tries them on a request (caddyhttp
matchers.go, fileserver/matcher.go): host, path (case-insensitive, on the cleaned path, * globs
as Caddy reads them), path_regexp, method, header (* globs, present, absent), header_regexp,
vars, vars_regexp, query, protocol, not, file (try_files: the files on this machine), and
expression in the simple forms configs write (placeholders compared with ==, !=, in, joined by
&& || !, and the matcher functions). A regex's captures are kept for {re.NAME.N}. A matcher the
model does not know is taken as not matching, and the trail says so.
"""

from __future__ import annotations

import ast
import os
import posixpath
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

from corsgen.targets.caddy_compiled import Json
from corsgen.targets.caddy_exchange import (
    PLACEHOLDER,
    Exchange,
    MatcherError,
    header_value_matches,
    python_regex,
)


def clean_path(path: str) -> str:
    """CleanPath: slashes merged, dot segments resolved, a trailing slash kept."""
    cleaned = os.path.normpath("/" + re.sub(r"/+", "/", path)).replace("//", "/")
    return cleaned + "/" if path.endswith("/") and cleaned != "/" else cleaned


def path_matches(pattern: str, path: str) -> bool:
    pattern, path = pattern.lower(), clean_path(path.lower())
    if pattern == "*":
        return True
    stars = pattern.count("*")
    if stars == 2 and pattern.startswith("*") and pattern.endswith("*"):
        return pattern[1:-1] in path
    if stars == 1 and pattern.startswith("*"):
        return path.endswith(pattern[1:])
    if stars == 1 and pattern.endswith("*"):
        return path.startswith(pattern[:-1])
    # Go's path.Match: * and ? never cross a slash
    glob = "".join("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(glob, path) is not None


def host_matches(pattern: str, host: str) -> bool:
    pattern, host = pattern.lower(), host.rsplit(":", 1)[0].lower() if "]" not in host else host
    if pattern == host:
        return True
    labels, want = host.split("."), pattern.split(".")
    return len(labels) == len(want) and all(
        w in ("*", h) for w, h in zip(want, labels, strict=True)
    )


def _regex(run: Exchange, spec: Json, value: str) -> bool:
    pattern = str(spec.get("pattern", ""))
    if python_regex(pattern) == r"(?!)":
        run.trail.append(f"regex {pattern!r} not modelled: taken as not matching")
    found = re.search(python_regex(pattern), value)
    if found is None:
        return False
    name = spec.get("name", "")
    for index, group in enumerate((found[0], *found.groups())):
        for prefix in ([f"{name}."] if name else []) + [""]:
            run.captures[f"{prefix}{index}"] = group or ""
    for key, group in found.groupdict().items():
        for prefix in ([f"{name}."] if name else []) + [""]:
            run.captures[f"{prefix}{key}"] = group or ""
    return True


def field_values(run: Exchange, name: str) -> list[str]:
    if name.lower() == "host":
        return [run.asked.host]
    return [v for n, v in run.headers if n.lower() == name.lower()]


def _matcher(run: Exchange, kind: str, spec: Any) -> bool:
    if kind == "host":
        return any(host_matches(h, run.asked.host) for h in spec)
    if kind == "path":  # on the decoded path, as r.URL.Path is
        return any(path_matches(run.replace(p, known=False), unquote(run.path)) for p in spec)
    if kind == "path_regexp":
        return _regex(run, spec, unquote(run.path))
    if kind == "method":
        return run.method in spec
    if kind == "file":
        return _file(run, spec)
    if kind == "header":
        return all(_header_matches(run, name, values) for name, values in spec.items())
    if kind == "header_regexp":
        return all(
            any(_regex(run, rx, v) for v in field_values(run, name)) for name, rx in spec.items()
        )
    if kind == "not":
        return not any(_matcher_set(run, s) for s in spec)
    if kind == "vars":
        return any(_vars_matches(run, key, values) for key, values in spec.items())
    if kind == "vars_regexp":
        return all(_regex(run, rx, _var(run, key)) for key, rx in spec.items())
    if kind == "query":
        pairs = [p.partition("=") for p in run.query.split("&") if p]
        return all(any(k == key and v in vals for k, _, v in pairs) for key, vals in spec.items())
    if kind == "protocol":
        return spec in ("http", "http/1.1")
    if kind == "expression":
        return _expression(run, spec if isinstance(spec, str) else str(spec.get("expr", "")))
    run.trail.append(f"matcher {kind} not modelled: taken as not matching")
    return False


def _header_matches(run: Exchange, name: str, allowed: list[str] | None) -> bool:
    actual = field_values(run, name)
    if allowed is not None and not allowed:
        return bool(actual)
    if allowed is None:
        return not actual
    return any(
        header_value_matches(run.replace(a, known=False), v) for v in actual for a in allowed
    )


def _var(run: Exchange, key: str) -> str:
    if key.startswith("{") and key.endswith("}") and key.count("{") == 1:
        return run.get(key[1:-1]) or ""
    return run.variables.get(key, "")


def _vars_matches(run: Exchange, key: str, values: list[str]) -> bool:
    value = _var(run, key)
    return any(value == run.replace(v, known=False) for v in values)


def _matcher_set(run: Exchange, matchers: Json) -> bool:
    return all(_matcher(run, kind, spec) for kind, spec in matchers.items())


def matches(run: Exchange, sets: Sequence[Json]) -> bool:
    return not sets or any(_matcher_set(run, s) for s in sets)


# Caddy's CEL expression, in the simple forms configs write: placeholders compared with ==, !=,
# in, joined by && || !, and the matcher functions (path('/api/*'), method('GET'), header({..})).
_CEL_FUNCTIONS = frozenset({"path", "method", "host", "header", "header_regexp", "path_regexp"})


def _expression(run: Exchange, text: str) -> bool:
    values: list[object] = []

    def placeholder(match: re.Match[str]) -> str:
        value = run.get(match[1]) or ""
        values.append(int(value) if value.isdigit() else value)
        return f"_v[{len(values) - 1}]"

    source = PLACEHOLDER.sub(placeholder, text)
    source = source.replace("&&", " and ").replace("||", " or ")
    source = re.sub(r"!(?!=)", " not ", source)
    try:
        tree = ast.parse(source, mode="eval")
        return bool(_evaluate(run, tree.body, values))
    except (SyntaxError, ValueError, TypeError, KeyError, IndexError):
        run.trail.append(f"expression {text!r} not modelled: taken as not matching")
        return False


def _call(run: Exchange, name: str, args: list[object]) -> bool:
    """A matcher function of Caddy's CEL: path('/a/*'), header({'Origin': 'x'}), ..."""
    spec: object = args
    if name == "header" and len(args) == 1 and isinstance(args[0], dict):
        spec = {k: v if isinstance(v, list) else [v] for k, v in args[0].items()}
    elif name == "header_regexp" and len(args) >= 2:
        spec = {str(args[-2]): {"pattern": args[-1]}}
    elif name == "path_regexp" and args:
        spec = {"pattern": args[-1]}
    elif name not in _CEL_FUNCTIONS:
        raise ValueError(name)
    return _matcher(run, name, spec)


def _evaluate(run: Exchange, node: ast.expr, values: list[object]) -> object:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.List | ast.Tuple):
        return [_evaluate(run, e, values) for e in node.elts]
    if isinstance(node, ast.Dict):
        return {
            _evaluate(run, k, values): _evaluate(run, v, values)
            for k, v in zip(node.keys, node.values, strict=True)
            if k is not None
        }
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        return values[int(str(node.slice.value))]
    if isinstance(node, ast.BoolOp):
        parts = (bool(_evaluate(run, v, values)) for v in node.values)
        return all(parts) if isinstance(node.op, ast.And) else any(parts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _evaluate(run, node.operand, values)
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        left = _evaluate(run, node.left, values)
        right = _evaluate(run, node.comparators[0], values)
        op = node.ops[0]
        if isinstance(op, ast.Eq | ast.NotEq):
            return (left == right) == isinstance(op, ast.Eq)
        if isinstance(op, ast.In) and isinstance(right, list | dict | str):
            return left in right
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return _call(run, node.func.id, [_evaluate(run, a, values) for a in node.args])
    raise ValueError(ast.dump(node))


def _file(run: Exchange, spec: Json) -> bool:
    """The file matcher (try_files, php_fastcgi): the first of its files that exists under the
    root, its name kept for {http.matchers.file.relative}; `=404` ends the request with that
    status (fileserver/matcher.go, first_exist; no globs)."""
    root = posixpath.normpath(
        run.replace(str(spec.get("root") or "{http.vars.root}"), known=False) or "."
    )
    for pattern in spec.get("try_files") or ["{http.request.uri.path}"]:
        if re.fullmatch(r"=\d{3}", pattern):
            raise MatcherError(int(pattern[1:]))
        expanded = posixpath.normpath(run.replace(pattern, known=False))
        before, after = _split(expanded, spec.get("split_path") or [])
        if pattern.endswith("/"):
            before += "/"
        full = posixpath.join(root, before.lstrip("/"))
        if os.path.isdir(full) if before.endswith("/") else os.path.isfile(full):
            relative = full.removeprefix(root)
            run.found.update(
                {
                    "http.matchers.file.relative": relative,
                    "http.matchers.file.absolute": full,
                    "http.matchers.file.remainder": after,
                    "http.matchers.file.type": "directory" if before.endswith("/") else "file",
                }
            )
            return True
    return False


def _split(path: str, splits: Sequence[str]) -> tuple[str, str]:
    """firstSplit: the path up to the first split_path that ends a segment (.php), the rest."""
    for split in splits:
        index = path.lower().find(split.lower())
        end = index + len(split)
        if index >= 0 and (end == len(path) or path[end] == "/"):
            return path[:end], path[end:]
    return path, ""
