"""The Kubernetes outputs checked offline as the API server would: the CRD's field rules
(kube_schema.py) and its CEL rules, evaluated with cel-python, with the API server's messages.

problems(kind, value) checks one value; check_files(files) reads the rendered YAML (a whole
resource, or a JSON6902 patch whose ops carry a value) and raises VerifyError at the first
problem's line. `python -m corsgen.targets.kube_validate FILE...` prints every problem and exits
1 when there is one: the config test of the Kubernetes targets, since no API server runs here.

The messages are the API server's as Kubernetes 1.35 prints them (apimachinery's field errors,
the OpenAPI validator's texts as apiextensions-apiserver passes them on, a failed CEL rule's
message, the value omitted for an object or a list). Patterns are matched with RE2 (the `re2`
module), the engine of Go's regexp and of Kubernetes' CEL: Python's re reads \\w, \\d and $
differently.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import re2

from corsgen.errors import CorsgenError, VerifyError
from corsgen.targets.kube_schema import CRD, KINDS, PATCH_PATHS, RESOURCES, WEBHOOK, Rule, Schema

if TYPE_CHECKING:
    import celpy

# A place in a value: keys and list indexes, as the API server's field paths name them.
Path = tuple[str | int, ...]
_INT_RANGE = {"int32": 2**31, "int64": 2**63}


@dataclass(frozen=True)
class Problem:
    """What the API server (or, by=WEBHOOK, the project's admission webhook) would answer:
    `field: message`, with `at` the place inside the checked value."""

    at: Path
    field: str
    message: str
    by: str = CRD

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


def field_path(path: Path) -> str:
    """spec.rules[0].filters[0], as apimachinery's field.Path prints it."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) or part == "-" else f".{part}"
    return text.lstrip(".")


def problems(kind: str, value: object, root: Path = ()) -> list[Problem]:
    """Everything the API server would refuse in `value`, a `kind` of KINDS (a whole resource,
    or what a patch puts at `root`), node by node: its schema's keywords, then its CEL rules."""
    found: list[Problem] = []
    _Walk(root, found).node(KINDS[kind].schema, value, ())
    return found


@dataclass
class _Walk:
    root: Path
    found: list[Problem]

    def add(self, at: Path, message: str, by: str = CRD) -> None:
        self.found.append(Problem(at, field_path(self.root + at), message, by))

    def invalid(self, at: Path, value: object, why: str) -> None:
        self.add(at, f"Invalid value: {_shown(value)}: {field_path(self.root + at)} in body {why}")

    def node(self, schema: Schema, value: object, at: Path) -> bool:
        """Check value against schema; whether it is well typed, so its CEL rules may run."""
        if (value is None and schema.nullable) or schema.type is None:
            return True
        if _type_of(value) != schema.type:
            self.invalid(at, value, f"must be of type {schema.type}: {_shown(_type_of(value))}")
            return False
        typed = True
        if isinstance(value, dict):
            typed = self.mapping(schema, value, at)
        elif isinstance(value, list):
            typed = self.sequence(schema, value, at)
        elif isinstance(value, str):
            self.text(schema, value, at)
        elif isinstance(value, int) and not isinstance(value, bool):
            self.number(schema, value, at)
        if typed:
            for rule in schema.rules:
                self.rule(rule, value, at)
        return typed

    def mapping(self, schema: Schema, value: dict[Any, Any], at: Path) -> bool:
        typed = True
        for key in schema.required:
            if key not in value:
                self.add((*at, key), "Required value")
        set_ = [key for key in schema.one_of if key in value]
        if len(set_) > 1:
            # go-openapi's text; the value is the object, as JSON.
            self.add(
                at,
                f"Invalid value: {_shown(value)}: {field_path(self.root + at)} must validate one "
                f"and only one schema (oneOf). Found {len(set_)} valid alternatives",
            )
        for key, item in value.items():
            inner = schema.properties.get(key, schema.additional)
            if inner is None:
                unknown = f'unknown field "{field_path((*self.root, *at, str(key)))}"'
                self.found.append(Problem((*at, str(key)), "", unknown))
                continue
            typed = self.node(inner, item, (*at, str(key))) and typed
        return typed

    def sequence(self, schema: Schema, value: list[Any], at: Path) -> bool:
        if schema.max_items is not None and len(value) > schema.max_items:
            plural = "item" if schema.max_items == 1 else "items"
            self.add(at, f"Too many: {len(value)}: must have at most {schema.max_items} {plural}")
        if schema.list_type == "set":
            seen: list[object] = []
            for index, item in enumerate(value):
                if item in seen:
                    self.add((*at, index), f"Duplicate value: {_shown(item)}")
                seen.append(item)
        typed = True
        if schema.items is not None:
            for index, item in enumerate(value):
                typed = self.node(schema.items, item, (*at, index)) and typed
        return typed

    def text(self, schema: Schema, value: str, at: Path) -> None:
        if schema.enum and value not in schema.enum:
            supported = ", ".join(json.dumps(v) for v in schema.enum)
            self.add(at, f"Unsupported value: {_shown(value)}: supported values: {supported}")
        if schema.max_length is not None and len(value) > schema.max_length:
            self.add(at, f"Too long: may not be more than {schema.max_length} bytes")
        if schema.min_length is not None and len(value) < schema.min_length:
            self.invalid(at, value, f"should be at least {schema.min_length} chars long")
        if schema.pattern and not _pattern(schema.pattern).search(value):
            if schema.pattern_message:
                self.add(at, schema.pattern_message.format(value=_shown(value)))
            else:
                self.invalid(at, value, f"should match '{schema.pattern}'")

    def number(self, schema: Schema, value: int, at: Path) -> None:
        bound = _INT_RANGE.get(schema.format)
        if bound is not None and not -bound <= value < bound:
            self.invalid(at, value, f"must be of type {schema.format}: {_shown(str(value))}")
        if schema.minimum is not None and value < schema.minimum:
            self.invalid(at, value, f"should be greater than or equal to {schema.minimum}")

    def rule(self, rule: Rule, value: object, at: Path) -> None:
        verdict = _evaluate(rule.rule, value)
        if verdict is True:
            return
        message = rule.message
        if rule.message_expression:
            shown = _evaluate(rule.message_expression, value)
            message = shown if isinstance(shown, str) else message
        if rule.by == WEBHOOK:
            self.add(at, message, WEBHOOK)
        elif isinstance(verdict, Exception):  # the schema's type stands for the value then
            self.add(
                at,
                f"Invalid value: {_shown(_type_of(value))}: {verdict} evaluating rule: {message}",
            )
        elif isinstance(value, dict | list):  # Kubernetes 1.35 and later omit a whole object
            self.add(at, f"Invalid value: {message}")
        else:
            self.add(at, f"Invalid value: {_shown(value)}: {message}")


def _type_of(value: object) -> str:
    """The OpenAPI type of a value read from YAML (a bool is no integer)."""
    if isinstance(value, bool):
        return "boolean"
    names = ((dict, "object"), (list, "array"), (str, "string"), (int, "integer"))
    return next((name for kind, name in names if isinstance(value, kind)), type(value).__name__)


def _shown(value: object) -> str:
    """A value as the API server's field errors print it: a string quoted (%q), a number or
    bool as it is (%v), anything else as JSON."""
    if isinstance(value, bool | int) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))  # as Go's json.Marshal


@functools.cache
def _pattern(pattern: str) -> Any:
    return re2.compile(pattern, options=_QUIET)


_QUIET = re2.Options()
_QUIET.log_errors = False  # a pattern that does not compile is a problem reported, not logged


# CEL: one environment, and each rule's program compiled once (the rules are a fixed table).


def _is_re2(text: celpy.celtypes.StringType) -> celpy.celtypes.BoolType:
    """isRE2(s): whether s compiles as an RE2 pattern. Not a Kubernetes CEL function: it stands
    for the Go regexp.Compile of a webhook (Istio's), which CEL cannot state."""
    from celpy import celtypes

    try:
        _pattern(str(text))
    except re2.error:
        return celtypes.BoolType(False)
    return celtypes.BoolType(True)


FUNCTIONS: Mapping[str, Callable[..., Any]] = {"isRE2": _is_re2}


@functools.cache
def _program(expression: str) -> celpy.Runner:
    environment = _environment()
    return environment.program(environment.compile(expression), functions=dict(FUNCTIONS))


@functools.cache
def _environment() -> celpy.Environment:
    import celpy

    return celpy.Environment()


def _evaluate(expression: str, value: object) -> bool | str | Exception:
    """The expression's value on `self`: a bool (a rule), a string (a message expression), or
    the error when it could not be evaluated or gave neither."""
    from celpy import celtypes
    from celpy.adapter import json_to_cel
    from celpy.evaluation import CELEvalError

    result: object
    try:
        result = _program(expression).evaluate({"self": json_to_cel(value)})  # type: ignore[arg-type]
    except (CELEvalError, ValueError, TypeError) as error:
        result = error
    if isinstance(result, Exception):  # raised, or returned as the value (CEL's error values)
        return ValueError(_reason(result))
    if isinstance(result, celtypes.BoolType):
        return bool(result)
    if isinstance(result, str):
        return str(result)
    return TypeError(f"{result!r} is neither a bool nor a string")


def _reason(error: Exception) -> str:
    """The cause of a CEL error: cel-python's CELEvalError holds (summary, exception class,
    the exception's args), and the summary alone ("return error for overflow") says little."""
    args = error.args
    if len(args) == 3 and isinstance(args[2], tuple) and args[2]:
        return str(args[2][0])
    return str(args[0]) if args else type(error).__name__


# Files: YAML documents read with the line of every key and item.


def _documents(text: str, file: str) -> Iterator[tuple[object, dict[Path, int]]]:
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            lines: dict[Path, int] = {}
            _lines(node, (), lines)
            yield loader.construct_document(node), lines
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise VerifyError(
            f"not YAML: {getattr(exc, 'problem', exc)}", file, mark.line + 1 if mark else None
        ) from None
    finally:
        loader.dispose()


def _lines(node: Any, at: Path, lines: dict[Path, int]) -> None:
    import yaml

    lines.setdefault(at, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            lines[(*at, str(key.value))] = key.start_mark.line + 1
            _lines(value, (*at, str(key.value)), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _lines(item, (*at, index), lines)


def _line(lines: Mapping[Path, int], at: Path) -> int | None:
    """The line of the deepest place of `at` the file has."""
    for end in range(len(at), -1, -1):
        if at[:end] in lines:
            return lines[at[:end]]
    return None


@dataclass(frozen=True)
class Located:
    problem: Problem
    source: str  # the upstream whose rules say so: "Envoy Gateway v1.9.0"
    line: int | None

    def text(self) -> str:
        by = f"{self.source} {self.problem.by}".strip()
        return f"{self.problem} ({by})" if by else str(self.problem)


def file_problems(file: str, text: str) -> list[Located]:
    """Every problem of every document in one rendered file: a Kubernetes resource corsgen knows
    (kube_schema.RESOURCES) or a JSON6902 patch (a list of ops) of a path it knows."""
    found: list[Located] = []
    for value, lines in _documents(text, file):
        if isinstance(value, list):
            for index, op in enumerate(value):
                for source, problem in _op_problems(op):
                    at = (index, *problem.at)
                    found.append(Located(problem, source, _line(lines, at)))
        elif value is not None:
            for source, problem in _resource_problems(value):
                found.append(Located(problem, source, _line(lines, problem.at)))
    return found


def _resource_problems(value: object) -> Iterator[tuple[str, Problem]]:
    fields = value if isinstance(value, dict) else {}
    version, kind = fields.get("apiVersion"), fields.get("kind")
    for name in RESOURCES:
        if (KINDS[name].api_version, KINDS[name].kind) == (version, kind):
            yield from ((KINDS[name].source, p) for p in problems(name, value))
            return
    wanted = " or ".join(f"{KINDS[n].kind} {KINDS[n].api_version}" for n in RESOURCES)
    message = f'no matches for kind "{kind}" in version "{version}": corsgen checks {wanted}'
    yield "", Problem((), "", message, by="")


def _op_problems(op: object) -> Iterator[tuple[str, Problem]]:
    """A JSON6902 op: add or replace at a path of PATCH_PATHS, and its value checked there."""
    fields = op if isinstance(op, dict) else {}
    path = fields.get("path")
    kind = next((k for pattern, k in PATCH_PATHS if pattern.fullmatch(str(path))), None)
    if kind is None or fields.get("op") not in ("add", "replace") or "value" not in fields:
        known = ", ".join(pattern.pattern for pattern, _ in PATCH_PATHS)
        message = f"not a patch op corsgen checks: op add or replace, a value, a path of {known}"
        yield "", Problem((), "", message, by="")
        return
    root = tuple(int(p) if p.isdigit() else p for p in str(path).strip("/").split("/"))
    for problem in problems(kind, fields["value"], root):
        yield KINDS[kind].source, replace(problem, at=("value", *problem.at))


def check_files(files: Mapping[str, str]) -> None:
    """Raise VerifyError, `msg in file:line`, at the first problem of the first file."""
    for file, text in files.items():
        for located in file_problems(file, text):
            raise VerifyError(located.text(), file, located.line)


def main(argv: Sequence[str]) -> int:
    """Check each file, print `file:line: problem` for each problem; 1 when there is one."""
    failed = False
    for file in argv:
        try:
            with open(file, encoding="utf-8") as handle:
                found = file_problems(file, handle.read())
        except (OSError, UnicodeDecodeError, CorsgenError) as error:
            print(f"{file}: {error}")
            failed = True
            continue
        for located in found:
            where = f"{file}:{located.line}" if located.line else file
            print(f"{where}: {located.text()}")
        failed = failed or bool(found)
        if not found:
            print(f"{file}: ok")
    if not argv:
        print("usage: python -m corsgen.targets.kube_validate FILE...")
    return 1 if failed or not argv else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
