"""Parse once: only ``controller/observe.py`` reads an LLMDeployment's raw body (issue 24).

The rule is checked on the source (``ast``), over every module of the
controller package, by closing each way to the raw body:

- parsing it (``parse_llmdeployment``, ``validate_llmdeployment``,
  ``read_status``, the models' ``model_validate``) happens in observe only;
- reading an LLMDeployment out of the cache (``get``, ``all`` or
  ``labelled`` of its kind) happens in observe only (``keys`` gives names,
  not bodies, and stays open to the loops);
- kopf's handler for LLMDeployments stores the object as it came, keyed by
  kopf's own ``namespace``/``name``/``uid``: it indexes nothing of it and
  takes none of kopf's views of it (``body``, ``meta``, ``spec``, ``status``);
- the ``Snapshot`` below observe holds the spec and the status typed, and no
  body.

The last test runs the check on lines the controller had before (issue 24
found them), so it is known to catch what it is for.
"""

from __future__ import annotations

import ast
import dataclasses
import typing
from pathlib import Path

from modelfleet.api import InvalidSpec, LLMDeployment, LLMDeploymentStatus
from modelfleet.controller.decide import Snapshot

CONTROLLER = Path(__file__).resolve().parents[2] / "operator" / "modelfleet" / "controller"
OBSERVE = CONTROLLER / "observe.py"

PARSERS = {"parse_llmdeployment", "validate_llmdeployment", "read_status"}
MODELS = {"LLMDeployment", "LLMDeploymentStatus"}
CACHE_READS = {"get", "all", "labelled"}
KIND_NAMES = {"LLMDEPLOYMENT_KIND", "KIND"}
KOPF_VIEWS = {"body", "meta", "spec", "status"}  # kopf's handler kwargs that are the object or a part of it


def violations(source: str) -> list[str]:
    """Each place in ``source`` (a module that is not observe) that reads an LLMDeployment's raw body."""
    tree = ast.parse(source)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            found += _parse_or_cache_read(node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _handles_llmdeployments(node):
            found += _handler_reads(node)
    return found


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _parse_or_cache_read(call: ast.Call) -> list[str]:
    called = _name(call.func)
    line = f"line {call.lineno}"
    if called in PARSERS:
        return [f"{line}: {called}() parses an LLMDeployment"]
    if isinstance(call.func, ast.Attribute) and called and called.startswith("model_") and (
            _name(call.func.value) in MODELS):
        return [f"{line}: {_name(call.func.value)}.{called}() parses an LLMDeployment"]
    if isinstance(call.func, ast.Attribute) and called in CACHE_READS and call.args and _is_kind(call.args[0]):
        return [f"{line}: .{called}() of the LLMDeployment kind reads its body from the cache"]
    return []


def _is_kind(node: ast.AST) -> bool:
    return _name(node) in KIND_NAMES or (isinstance(node, ast.Constant) and node.value == "LLMDeployment")


def _handles_llmdeployments(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Decorated ``kopf.on.event(GROUP, VERSION, PLURAL)`` (or the plural spelled out)."""
    for decorator in function.decorator_list:
        if isinstance(decorator, ast.Call):
            for arg in decorator.args:
                if _name(arg) == "PLURAL" or (isinstance(arg, ast.Constant) and arg.value == "llmdeployments"):
                    return True
    return False


def _handler_reads(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    found = [f"line {function.lineno}: the handler takes kopf's {arg.arg!r}, a view of the body"
             for arg in (*function.args.args, *function.args.kwonlyargs) if arg.arg in KOPF_VIEWS]
    bodies = {"event['object']"}  # the object itself, and every name it is bound to
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and _is_body(node.value, bodies):
            bodies |= {_name(target) or "" for target in node.targets}
    for node in ast.walk(function):
        indexed = node.value if isinstance(node, ast.Subscript) else (
            node.func.value if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get" else None)
        if indexed is not None and _is_body(indexed, bodies):
            found.append(f"line {node.lineno}: the handler indexes the LLMDeployment it was given")
    return found


def _is_body(node: ast.AST, bodies: set[str]) -> bool:
    if isinstance(node, ast.Name):
        return node.id in bodies
    return isinstance(node, ast.Subscript) and _name(node.value) == "event" and (
        isinstance(node.slice, ast.Constant) and node.slice.value == "object")


def test_no_module_but_observe_reads_the_llmdeployment_body():
    modules = sorted(p for p in CONTROLLER.rglob("*.py") if p != OBSERVE)
    assert len(modules) > 20  # the whole package, decide included
    found = {str(p.relative_to(CONTROLLER)): v for p in modules if (v := violations(p.read_text()))}
    assert found == {}


def test_observe_is_where_it_is_parsed():
    assert {"parse_llmdeployment() parses an LLMDeployment", "read_status() parses an LLMDeployment"} <= {
        v.split(": ", 1)[1] for v in violations(OBSERVE.read_text())}


def test_below_observe_the_llmdeployment_is_typed():
    hints = typing.get_type_hints(Snapshot)
    assert hints["resource"] == LLMDeployment | InvalidSpec
    assert hints["status"] is LLMDeploymentStatus
    assert "body" not in {f.name for f in dataclasses.fields(Snapshot)}


def test_the_check_catches_what_the_controller_did_before():
    """Lines from the controller before issue 24 (decide.py, autoscaler.py, capacity.py, reconcile.py, loops.py,
    handlers.py), each a way to the raw body."""
    before = {
        "decide": 'resource = parse_llmdeployment({k: v for k, v in body.items() if k != "status"})',
        "status": "previous = read_status(body.get('status'))",
        "reconcile": "body = self.cache.get(LLMDEPLOYMENT_KIND, namespace, name)",
        "loops": "for body in autoscaler.cache.all(LLMDEPLOYMENT_KIND):\n    pass",
        "model": "resource = LLMDeployment.model_validate(document)",
        "handler": (
            "@kopf.on.event(GROUP, VERSION, PLURAL)\n"
            "async def llmdeployment_event(event, memo, **_):\n"
            "    obj = event['object']\n"
            "    key = (obj['metadata']['namespace'], obj['metadata']['name'])\n"
            "    memo.autoscaler.states.pop(obj['metadata'].get('uid'), None)\n"),
        "handler-kwarg": "@kopf.on.event(GROUP, VERSION, PLURAL)\nasync def h(spec, **_):\n    pass\n",
    }
    assert {name: bool(violations(source)) for name, source in before.items()} == dict.fromkeys(before, True)
    assert len(violations(before["handler"])) == 3
