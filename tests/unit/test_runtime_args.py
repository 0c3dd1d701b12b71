"""The prepull and warmup command lines: one model each, written by the renderer, read by the cli, round-trip."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, strategies as st

from modelfleet.api.runtime_args import PrepullArgs, WarmupArgs
from modelfleet.cli import prepull_cmd, warmup_cmd
from modelfleet.cli.main import build_parser, main
from modelfleet.engines import profile_for
from modelfleet.render.runtime_containers import prepull_args, warmup_args
from support.render_cases import example, example_plan

MIXTRAL = example("mixtral-8x22b-fp8")
MIXTRAL_PLAN = example_plan("mixtral-8x22b-fp8")

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
POSITIVE = st.floats(min_value=1e-6, max_value=1e12, allow_nan=False, allow_infinity=False)

PREPULL = st.builds(
    PrepullArgs,
    model_id=TEXT,
    revision=TEXT,
    cache_dir=st.builds(Path, TEXT),
    include=st.lists(TEXT, min_size=1, max_size=4).map(tuple),
    attempts=st.integers(1, 100),
    backoff_seconds=st.one_of(st.just(0.0), POSITIVE),
    progress_seconds=POSITIVE,
    workers=st.integers(1, 64),
)

WARMUP = st.builds(
    WarmupArgs,
    engine_url=TEXT,
    engine=st.sampled_from(["vllm", "tgi"]),
    served_model_name=TEXT,
    max_model_len=st.integers(1, 10**7),
    max_concurrency=st.integers(1, 4096),
    timeout_seconds=POSITIVE,
    port=st.integers(1, 65535),
    host=TEXT,
    num_experts=st.one_of(st.none(), st.integers(1, 512)),
)


@given(PREPULL)
def test_prepull_args_round_trip(args):
    assert PrepullArgs.parse(args.to_argv()) == args


@given(WARMUP)
def test_warmup_args_round_trip(args):
    assert WarmupArgs.parse(args.to_argv()) == args


def test_the_cli_reads_what_the_renderer_writes():
    vllm = profile_for("vllm")
    for rendered, command, model in (
        (prepull_args(MIXTRAL.spec, vllm), prepull_cmd, PrepullArgs),
        (warmup_args(MIXTRAL.spec, MIXTRAL_PLAN, vllm), warmup_cmd, WarmupArgs),
    ):
        namespace = build_parser().parse_args(rendered.to_argv())
        assert namespace.handler is command.run
        assert model.from_namespace(namespace) == rendered


def test_defaults_are_left_out_of_the_pod_and_filled_in_by_the_cli():
    rendered = prepull_args(MIXTRAL.spec, profile_for("vllm"))
    argv = rendered.to_argv()
    assert argv[:5] == ["prepull", "--model-id", MIXTRAL.spec.model.id, "--revision", MIXTRAL.spec.model.revision]
    assert "--attempts" not in argv and "--workers" not in argv
    parsed = PrepullArgs.parse(argv)
    assert (parsed.attempts, parsed.backoff_seconds, parsed.workers) == (6, 2.0, 4)
    warmup = warmup_args(MIXTRAL.spec, MIXTRAL_PLAN, profile_for("vllm")).to_argv()
    assert "--host" not in warmup and "--num-experts" not in warmup
    # a whole number of seconds is written as the spec gives it, not as 600.0
    assert warmup[warmup.index("--timeout-seconds") + 1] == str(MIXTRAL.spec.warmup.timeout_seconds)


def test_a_value_that_looks_like_an_option_is_attached():
    args = WarmupArgs(engine_url="u", engine="tgi", served_model_name="-odd", max_model_len=1, max_concurrency=1,
                      timeout_seconds=1, port=1)
    assert "--served-model-name=-odd" in args.to_argv()
    assert WarmupArgs.parse(args.to_argv()) == args


def test_a_bad_value_is_a_command_line_error(capsys):
    argv = WarmupArgs(engine_url="u", engine="vllm", served_model_name="m", max_model_len=1, max_concurrency=1,
                      timeout_seconds=1, port=1).to_argv()
    argv[argv.index("--max-model-len") + 1] = "many"
    assert main(argv) == 2
    assert "max_model_len" in capsys.readouterr().err
