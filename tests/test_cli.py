"""The command line: one table of commands, and one way to fail on bad input.

Each command is run in-process through `sqlgrpo.cli.main` on an input it cannot use; every one
must exit with status 1 and log one line that names the input, never a traceback. None of these
reach a model: the bad input is found first.
"""

from __future__ import annotations

import logging

import pytest

from sqlgrpo.cli import COMMANDS, EXIT_FAILED, build_parser, main


def _fails_cleanly(argv: list[str], caplog, capsys, *expected: str) -> str:
    with caplog.at_level(logging.ERROR, logger="sqlgrpo"):
        status = main(argv)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    out = capsys.readouterr()
    assert status == EXIT_FAILED
    assert "Traceback" not in out.out + out.err
    assert len(errors) == 1 and errors[0].exc_info is None
    message = errors[0].getMessage()
    assert message.startswith(f"{argv[0]} failed: ")
    for text in expected:
        assert text in message, message
    return message


def test_every_command_is_in_the_table_in_pipeline_order():
    assert [c.name for c in COMMANDS] == ["prepare", "sft", "contrastive", "train", "eval", "compare", "ask",
                                          "audit-rewards", "demo"]
    # and each has a --help that says what it does
    parser = build_parser()
    for command in COMMANDS:
        with pytest.raises(SystemExit) as done:
            parser.parse_args([command.name, "--help"])
        assert done.value.code == 0


def test_ask_with_a_folder_that_is_not_an_adapter_is_one_clean_error(tmp_path, caplog, capsys):
    # Once a traceback from model_name_of_adapter; now the same one-line failure as every stage.
    schema = tmp_path / "shop.sql"
    schema.write_text("CREATE TABLE orders (id INT);", encoding="utf-8")
    not_adapter = tmp_path / "empty"
    not_adapter.mkdir()
    _fails_cleanly(["ask", "--schema", str(schema), "--adapter", str(not_adapter), "How many orders?"], caplog,
                   capsys, "not a PEFT adapter folder", str(not_adapter))


def test_ask_with_a_missing_schema_file_names_it(tmp_path, caplog, capsys):
    missing = tmp_path / "nope.sql"
    _fails_cleanly(["ask", "--schema", str(missing), "How many?"], caplog, capsys, "cannot read schema file",
                   str(missing))


@pytest.mark.parametrize("stage", ["sft", "contrastive", "train", "eval"])
def test_a_configured_stage_with_a_missing_config_file_names_it(stage, tmp_path, caplog, capsys):
    missing = tmp_path / "missing.yaml"
    _fails_cleanly([stage, "--config", str(missing)], caplog, capsys, "config file not found", str(missing))


@pytest.mark.parametrize("stage", ["sft", "contrastive", "train", "eval"])
def test_a_configured_stage_with_a_bad_key_names_file_and_key(stage, tmp_path, caplog, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text(f"{stage}:\n  max_stepz: 3\n", encoding="utf-8")
    _fails_cleanly([stage, "--config", str(config)], caplog, capsys, str(config), "max_stepz")


@pytest.mark.parametrize("stage", ["sft", "contrastive", "train"])
def test_a_trainer_stage_without_its_train_file_names_it(stage, tmp_path, caplog, capsys):
    # No prepared data and nothing to prepare it from: the file and the two ways out are named.
    missing = tmp_path / "data" / "cleaned_train_queries.jsonl"
    _fails_cleanly([stage, "--train-file", str(missing), "--output-dir", str(tmp_path / "out"), "--report-to",
                    "none"], caplog, capsys, str(missing), "sqlgrpo prepare")


def test_train_with_an_unknown_reward_lists_the_valid_ones(tmp_path, caplog, capsys):
    message = _fails_cleanly(["train", "--reward-weights", "exec_reward=1", "--output-dir", str(tmp_path / "out")],
                             caplog, capsys, "unknown reward 'exec_reward'")
    assert "execution_reward" in message


def test_eval_without_its_eval_file_names_it(tmp_path, caplog, capsys):
    missing = tmp_path / "eval.jsonl"
    _fails_cleanly(["eval", "--eval-file", str(missing), "--output-dir", str(tmp_path / "out")], caplog, capsys,
                   str(missing))


def test_prepare_of_a_missing_file_names_it(tmp_path, caplog, capsys):
    missing = tmp_path / "rows.jsonl"
    _fails_cleanly(["prepare", "--input", str(missing), "--output-dir", str(tmp_path / "out")], caplog, capsys,
                   str(missing))


def test_prepare_with_a_bad_option_names_it(tmp_path, caplog, capsys):
    _fails_cleanly(["prepare", "--eval-fraction", "1.5", "--output-dir", str(tmp_path / "out")], caplog, capsys,
                   "--eval-fraction")


def test_audit_of_a_missing_file_names_it(tmp_path, caplog, capsys):
    missing = tmp_path / "rows.jsonl"
    _fails_cleanly(["audit-rewards", "--data", str(missing)], caplog, capsys, str(missing))


def test_compare_of_folders_that_are_not_runs_names_them(tmp_path, caplog, capsys):
    (tmp_path / "a").mkdir()
    _fails_cleanly(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--output-dir", str(tmp_path / "c")],
                   caplog, capsys, str(tmp_path / "a"), "is not an eval run folder")


def test_demo_with_a_missing_config_file_names_it(tmp_path, caplog, capsys):
    missing = tmp_path / "demo.yaml"
    _fails_cleanly(["demo", "--config", str(missing), "--output-dir", str(tmp_path / "out")], caplog, capsys,
                   str(missing))
