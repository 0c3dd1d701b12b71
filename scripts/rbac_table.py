"""Write docs/install.md's permission table from the chart: every rule the operator is granted, in each
install mode, where, and why.

    python scripts/rbac_table.py           # rewrite the table between its markers in docs/install.md
    python scripts/rbac_table.py --check   # exit 1, printing the table, when the docs differ

The rules are the chart's as the pinned Helm renders them, in each mode of
``MODES``; where a rule applies comes from the rendered bindings; its "why" is
the comment above it in ``templates/rbac.yaml`` (a rule right under another,
with no comment of its own, shares that one's). tests/unit/test_rbac_table.py
fails when the docs' table is not this script's output.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "charts" / "modelfleet"
TEMPLATE = CHART / "templates" / "rbac.yaml"
DOCS = ROOT / "docs" / "install.md"
BEGIN = "<!-- rbac-table:begin (written by scripts/rbac_table.py from the chart: edit templates/rbac.yaml) -->"
END = "<!-- rbac-table:end -->"
RELEASE, NAMESPACE = "modelfleet", "modelfleet-system"
WATCHED = "llm"  # the example namespace of the watchNamespaces modes

# Each install mode: its column title and the values that make it.
MODES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("default", {}),
    ("`watchNamespaces`", {"watchNamespaces": [WATCHED]}),
    ("`tokenSecretAccess: managedNamespaces`", {"tokenSecretAccess": "managedNamespaces"}),
    ("`watchNamespaces` and `managedNamespaces`",
     {"watchNamespaces": [WATCHED], "tokenSecretAccess": "managedNamespaces"}),
)
RBAC_KINDS = {"ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding"}

Rule = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]  # apiGroups, resources, verbs


def helm_binary() -> Path:
    """MODELFLEET_HELM, else the pinned helm `make helm` builds (where the chart tests find it)."""
    if os.environ.get("MODELFLEET_HELM"):
        return Path(os.environ["MODELFLEET_HELM"])
    sys.path.insert(0, str(ROOT / "e2e" / "local"))
    from localcluster import settings

    return Path(settings.binary("helm"))


def render(helm: Path, values: dict[str, Any]) -> list[dict[str, Any]]:
    """The chart's RBAC objects for these values, as `helm template` renders them."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as file:
        yaml.safe_dump(values, file)
        file.flush()
        done = subprocess.run([str(helm), "template", RELEASE, str(CHART), "--namespace", NAMESPACE, "-f", file.name],
                              capture_output=True, text=True, timeout=60, check=True)
    return [o for o in yaml.safe_load_all(done.stdout) if o and o["kind"] in RBAC_KINDS]


def key(rule: dict[str, Any]) -> Rule:
    return tuple(rule["apiGroups"]), tuple(rule["resources"]), tuple(rule["verbs"])


def reasons(template: str) -> dict[Rule, str]:
    """Each rule of the template and the comment above it (or above the rule it follows)."""
    found: dict[Rule, str] = {}
    comment: list[str] = []
    why = ""
    lines = template.splitlines()
    for i, line in enumerate(lines):
        text = line.strip()
        if text.startswith("#"):
            comment.append(text.lstrip("#").strip())
            continue
        if text.startswith("- apiGroups:"):
            if comment:
                why = " ".join(comment)
            elif not lines[i - 1].strip().startswith("verbs:"):
                raise ValueError(f"templates/rbac.yaml:{i + 1}: a rule with no comment saying why")
            (rule,) = yaml.safe_load(textwrap.dedent("\n".join(lines[i:i + 3])))
            if set(rule) != {"apiGroups", "resources", "verbs"}:
                raise ValueError(f"templates/rbac.yaml:{i + 1}: a rule is apiGroups, resources, verbs, in 3 lines")
            found[key(rule)] = why
        comment = []
    return found


def scopes(objects: list[dict[str, Any]]) -> dict[Rule, str]:
    """Where each rule granted in one mode applies, from the bindings rendered with it."""
    bindings = [o for o in objects if o["kind"].endswith("Binding")]
    where: dict[Rule, str] = {}
    for role in (o for o in objects if o["kind"] in ("ClusterRole", "Role")):
        bound = [b for b in bindings if b["roleRef"]["kind"] == role["kind"]
                 and b["roleRef"]["name"] == role["metadata"]["name"]
                 and b["metadata"].get("namespace") == role["metadata"].get("namespace")]
        if role["kind"] == "Role":
            scope = "each watched namespace"
        elif any(b["kind"] == "ClusterRoleBinding" for b in bound):
            scope = "cluster-wide"
        else:  # an unbound ClusterRole: granted where a namespace's RoleBinding names it
            scope = f"namespaces that bind `{role['metadata']['name']}`"
        assert not bound or all(s == {"kind": "ServiceAccount", "name": RELEASE, "namespace": NAMESPACE}
                                for b in bound for s in b["subjects"]), "a binding to someone else than the operator"
        for rule in role["rules"]:
            where[key(rule)] = scope
    return where


def rows(modes: Iterable[dict[Rule, str]], why: dict[Rule, str]) -> list[list[str]]:
    modes = list(modes)
    order: list[Rule] = []
    for mode in modes:
        order += [rule for rule in mode if rule not in order]
    missing = [rule for rule in order if rule not in why]
    if missing:
        raise ValueError(f"rendered rules with no comment in templates/rbac.yaml: {missing}")
    out = []
    for rule in order:
        groups, resources, verbs = rule
        what = ", ".join(f"{g}/{r}" if g else r for g in groups for r in resources)
        out.append([what, ", ".join(verbs), *(mode.get(rule, "—") for mode in modes), why[rule].replace("|", "\\|")])
    return out


def table(helm: Path) -> str:
    why = reasons(TEMPLATE.read_text())
    body = rows((scopes(render(helm, values)) for _, values in MODES), why)
    header = ["resource", "verbs", *(title for title, _ in MODES), "why"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines) + "\n"


def with_table(document: str, new_table: str) -> str:
    before, rest = document.split(BEGIN + "\n", 1)
    _, after = rest.split(END, 1)
    return before + BEGIN + "\n" + new_table + END + after


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/install.md's table is stale")
    args = parser.parse_args()
    document = DOCS.read_text()
    updated = with_table(document, table(helm_binary()))
    if args.check:
        if updated != document:
            print("docs/install.md's permission table is stale: python scripts/rbac_table.py", file=sys.stderr)
            return 1
        return 0
    DOCS.write_text(updated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
