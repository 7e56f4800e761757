"""Where the source raises machine codes, read from its syntax tree (no import, so no side effects).

A site is a code written as a literal where codes go: a class's `code` attribute, a `code=` keyword, a `code = ...`
assignment, the code argument of `FieldError`, `GeometryFault`, `ReadError`, `PydanticCustomError`, gis's `_fault`,
a `_Sink.add` or an importer's `fail` helper, and the `(row, code, facts)` tuples gis collects for bad rows. Where the
facts are written out (keywords, or a dict literal), the site records their names, so a test can check that they
fill a template; `**` spreads and variables make the facts unknown (`None`), and only the runtime check sees them."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ducting", "gis", "billing")
CODE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)+|[a-z]{4,}")
# callable name -> index of the positional code argument (None: the first snake_case literal, as in `fail` helpers)
CODE_ARGS: dict[str, int | None] = {
    "FieldError": 1,
    "GeometryFault": 0,
    "ReadError": 0,
    "PydanticCustomError": 0,
    "_fault": 0,
    "add": 0,
    "fail": None,
}
NOT_FACTS = {"code", "errors", "detail", "message"}
NOT_FACTS_OF = {"FieldError": {"path"}, "ReadError": {"row"}}


@dataclass(frozen=True)
class Site:
    file: str
    line: int
    code: str
    facts: frozenset[str] | None  # None: not knowable from the source
    how: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} {self.code} ({self.how})"


def source_files() -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _literals(node: ast.expr | None) -> list[str]:
    """The string codes an expression may evaluate to: a constant, or either branch of a conditional."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _literals(node.body) + _literals(node.orelse)
    return []


def _keyword_facts(call: ast.Call) -> frozenset[str] | None:
    """The facts a call states by keyword (a `detail=` dict literal included); with `errors=`, the count the
    problem then carries; None where a `**` spread or a variable hides them."""
    if any(k.arg is None for k in call.keywords):
        return None
    names = {k.arg for k in call.keywords if k.arg} - NOT_FACTS - NOT_FACTS_OF.get(_name(call.func) or "", set())
    if any(k.arg == "errors" for k in call.keywords):
        names.add("count")
    detail = next((k.value for k in call.keywords if k.arg == "detail"), None)
    if detail is not None:
        if not isinstance(detail, ast.Dict) or any(k is None for k in detail.keys):
            return None
        names |= {k.value for k in detail.keys if isinstance(k, ast.Constant)}
    return frozenset(names)


def _dict_facts(node: ast.expr | None) -> frozenset[str] | None:
    if isinstance(node, ast.Dict) and all(isinstance(k, ast.Constant) for k in node.keys):
        return frozenset(k.value for k in node.keys)  # type: ignore[union-attr]
    return None


class _Visitor(ast.NodeVisitor):
    def __init__(self, file: str) -> None:
        self.file = file
        self.sites: list[Site] = []
        self.classes: dict[str, tuple[str, list[str]]] = {}  # class -> (code, bases)
        self.statuses: dict[str, int] = {}  # class -> the HTTP status it declares
        self._class: list[str] = []

    def add(self, node: ast.AST, codes: list[str], facts: frozenset[str] | None, how: str) -> None:
        for code in codes:
            if CODE.fullmatch(code):
                self.sites.append(Site(self.file, node.lineno, code, facts, how))  # type: ignore[attr-defined]

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._class.append(node.name)
        bases = [b for b in (_name(x) for x in node.bases) if b]
        self.classes.setdefault(node.name, ("", bases))
        self.generic_visit(node)
        self._class.pop()

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if isinstance(node.target, ast.Name) and node.target.id == "code":
            self._assigned(node, _literals(node.value))  # type: ignore[arg-type]
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            pairs = (
                zip(target.elts, node.value.elts)
                if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple)
                else [(target, node.value)]
            )
            for t, v in pairs:
                if self._class and isinstance(t, ast.Name) and t.id == "status" and isinstance(v, ast.Constant):
                    self.statuses[self._class[-1]] = v.value
            if isinstance(target, ast.Name) and target.id == "code":
                self._assigned(node, _literals(node.value))
            elif isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                for t, v in zip(target.elts, node.value.elts):
                    if isinstance(t, ast.Name) and t.id == "code":
                        self._assigned(node, _literals(v))
        self.generic_visit(node)

    def _assigned(self, node: ast.Assign, codes: list[str]) -> None:
        if self._class and codes:
            bases = self.classes[self._class[-1]][1]
            self.classes[self._class[-1]] = (codes[0], bases)
            self.add(node, codes, None, "class code")
        else:
            self.add(node, codes, None, "code =")

    def visit_Call(self, node: ast.Call) -> None:
        name = _name(node.func)
        for k in node.keywords:
            if k.arg == "code":
                self.add(node, _literals(k.value), _keyword_facts(node), f"{name}(code=...)")
        if name in CODE_ARGS:
            index = CODE_ARGS[name]
            if index is None:
                args = [
                    a for a in node.args if _literals(a) and CODE.fullmatch(_literals(a)[0]) and "_" in _literals(a)[0]
                ]
                codes = _literals(args[0]) if args else []
            else:
                codes = _literals(node.args[index]) if len(node.args) > index else []
            if codes:
                facts = _keyword_facts(node)
                if name in ("GeometryFault", "PydanticCustomError"):
                    facts = _dict_facts(node.args[-1]) if len(node.args) > index + 1 else frozenset()
                self.add(node, codes, facts, f"{name}(...)")
        self.generic_visit(node)

    def visit_Tuple(self, node: ast.Tuple) -> None:
        if len(node.elts) == 3 and _literals(node.elts[1]) and isinstance(node.elts[2], ast.Dict):
            self.add(node, _literals(node.elts[1]), _dict_facts(node.elts[2]), "(row, code, facts)")
        self.generic_visit(node)


@dataclass
class Scan:
    sites: list[Site]
    class_codes: dict[str, str]  # class name -> its code, inherited where it sets none
    class_statuses: dict[str, int]  # class name -> the status it declares or inherits
    raises: list[tuple[str, int, str, frozenset[str] | None, bool]]  # file, line, class, facts, legacy sentence


def scan() -> Scan:
    sites: list[Site] = []
    classes: dict[str, tuple[str, list[str]]] = {}
    statuses: dict[str, int] = {}
    trees = []
    for path in source_files():
        rel = str(path.relative_to(ROOT))
        tree = ast.parse(path.read_text(encoding="utf-8"), rel)
        visitor = _Visitor(rel)
        visitor.visit(tree)
        sites += visitor.sites
        statuses.update(visitor.statuses)
        for name, (code, bases) in visitor.classes.items():
            if name not in classes or code:
                classes[name] = (code, bases)
        trees.append((rel, tree))

    def code_of(name: str, seen: frozenset[str] = frozenset()) -> str:
        code, bases = classes.get(name, ("", []))
        if code or name in seen:
            return code
        return next((c for b in bases if (c := code_of(b, seen | {name}))), "")

    def is_domain(name: str, seen: frozenset[str] = frozenset()) -> bool:
        if name == "DomainError":
            return True
        return name not in seen and any(is_domain(b, seen | {name}) for b in classes.get(name, ("", []))[1])

    def status_of(name: str, seen: frozenset[str] = frozenset()) -> int | None:
        if name in statuses or name in seen:
            return statuses.get(name)
        return next((s for b in classes.get(name, ("", []))[1] if (s := status_of(b, seen | {name}))), None)

    domain = {n for n in classes if is_domain(n)}
    raises = []
    for rel, tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name(node.func) in domain:
                legacy = bool(node.args) and isinstance(node.args[0], (ast.Constant, ast.JoinedStr))
                raises.append((rel, node.lineno, _name(node.func), _keyword_facts(node), legacy))  # type: ignore[arg-type]
                if not any(k.arg == "code" for k in node.keywords):
                    sites.append(
                        Site(rel, node.lineno, code_of(_name(node.func)), _keyword_facts(node), f"{_name(node.func)}()")  # type: ignore[arg-type]
                    )
    return Scan(sites, {n: code_of(n) for n in domain}, {n: s for n in domain if (s := status_of(n))}, raises)


def string_constants() -> set[str]:
    """Every string literal in the source: where a registered code must appear at least once to be in use."""
    out: set[str] = set()
    for path in source_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                out.add(node.value)
    return out
