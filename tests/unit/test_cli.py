"""The ``modelfleet`` command as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from modelfleet.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def test_console_script_is_installed():
    result = subprocess.run(
        [Path(sys.executable).parent / "modelfleet", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("modelfleet ")


def test_crd_prints_the_committed_crd(capsys):
    assert main(["crd"]) == 0
    assert capsys.readouterr().out == (ROOT / "crds" / "modelfleet.io_llmdeployments.yaml").read_text()


def test_validate_accepts_the_examples(capsys):
    assert main(["validate", "-f", str(ROOT / "examples")]) == 0
    out = capsys.readouterr().out
    assert out.count(": valid") >= 4


def test_validate_names_the_field_and_fails(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: modelfleet.io/v1alpha1\nkind: LLMDeployment\nmetadata: {name: m}\n"
        "spec:\n  model: {id: mistralai/Mistral-7B-v0.1}\n  gpu: {tensorParallelSize: 3}\n"
    )
    assert main(["validate", "-f", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "LLMDeployment/m: spec.gpu.tensorParallelSize: tensorParallelSize must be auto or a power of two" in err


def test_validate_reads_several_documents_and_skips_other_kinds(tmp_path, capsys):
    many = tmp_path / "many.yaml"
    many.write_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: hf-token}\n---\n"
        "apiVersion: modelfleet.io/v1alpha1\nkind: LLMDeployment\nmetadata: {name: a}\n"
        "spec: {model: {id: mistralai/Mistral-7B-v0.1}}\n"
    )
    assert main(["validate", "-f", str(many)]) == 0
    assert "many.yaml#2: LLMDeployment/a: valid" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no such file"), ("a: [", "not valid YAML"), ("apiVersion: v1\nkind: Secret\n", "no LLMDeployment")],
)
def test_validate_reports_unreadable_input(tmp_path, capsys, content, message):
    path = tmp_path / "input.yaml"
    if content is not None:
        path.write_text(content)
    assert main(["validate", "-f", str(path)]) == 1
    assert message in capsys.readouterr().err


def test_unknown_command_is_a_usage_error():
    with pytest.raises(SystemExit) as exited:
        main(["frobnicate"])
    assert exited.value.code == 2
