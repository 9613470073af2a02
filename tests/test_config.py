"""The YAML configs under configs/ and the config machinery: resolution, errors, precedence,
the resolved file, the `train --help` text, and the accelerate files. No model is loaded."""

from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import Path

import pytest
import yaml

from sqlgrpo.cli import build_parser
from sqlgrpo.scoring.rewards import REWARDS
from sqlgrpo.stages import config as config_module
from sqlgrpo.stages.config import (
    LORA_ALL_PROJECTIONS,
    RESOLVED_CONFIG_NAME,
    ConfigError,
    SharedConfig,
    TrainConfig,
    resolve,
    resolve_from_args,
)
from sqlgrpo.stages.train import TrainError, grpo_config_kwargs, quantization_config, reward_setup
from sqlgrpo.stages.training import TrainingError, check_hardware, cpu_bf16_supported, lora_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
STAGE_CONFIGS = sorted(CONFIGS.glob("*.yaml"))  # the sqlgrpo configs; configs/accelerate/ holds accelerate's
GPU_CONFIGS = [CONFIGS / "gpu-7b.yaml", CONFIGS / "gpu-7b-qlora.yaml"]
CPU_DEMO = CONFIGS / "cpu-demo.yaml"
ACCELERATE_CONFIGS = {"deepspeed_zero3.yaml": "DEEPSPEED", "fsdp.yaml": "FSDP"}


def write_yaml(path: Path, data) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def parse_train(argv: list[str]):
    return build_parser().parse_args(["train", *argv])


@pytest.fixture(scope="module")
def grpo_config_class():
    trl = pytest.importorskip("trl")  # a few seconds: imported once for the tests that need TRL's own checks
    return trl.GRPOConfig


# --------------------------------------------------------------------------------------------
# The shipped configs


def test_the_expected_configs_are_shipped():
    # The tests below are parametrized over configs/*.yaml; an empty glob would make them vacuous.
    assert {p.name for p in STAGE_CONFIGS} >= {"cpu-demo.yaml", "gpu-7b.yaml", "gpu-7b-qlora.yaml"}


@pytest.mark.parametrize("path", STAGE_CONFIGS, ids=lambda p: p.name)
def test_every_config_resolves_and_gives_grpo_arguments(path, grpo_config_class):
    # Every key of the file is known and well typed, and every argument sqlgrpo hands to TRL is a
    # real GRPOConfig field (a renamed TRL field would fail here, not on a GPU machine).
    stage = resolve("train", path)
    kwargs = grpo_config_kwargs(stage, has_gpu=True)
    fields = {f.name for f in dataclasses.fields(grpo_config_class)}
    assert set(kwargs) - fields == set()


@pytest.mark.parametrize("path", STAGE_CONFIGS, ids=lambda p: p.name)
def test_every_config_passes_trls_own_checks(path, grpo_config_class, tmp_path):
    # GRPOConfig validates the batch rule (generation batch divisible by num_generations), the
    # loss type, vLLM mode and so on. bf16 is switched off because this check runs on CPU, where
    # transformers refuses bf16 before looking at anything else.
    kwargs = grpo_config_kwargs(resolve("train", path), has_gpu=False)
    kwargs.update(output_dir=str(tmp_path), bf16=False, report_to="none")
    args = grpo_config_class(**kwargs)
    assert args.generation_batch_size % args.num_generations == 0


@pytest.mark.parametrize("path", GPU_CONFIGS, ids=lambda p: p.name)
@pytest.mark.parametrize("processes", [1, 2, 4, 7, 8])
def test_gpu_configs_keep_the_batch_rule_on_any_usual_gpu_count(path, processes):
    # TRL's rule, per_device x processes x accumulation divisible by num_generations, for the GPU
    # counts configs/README.md names (7 is vLLM server mode on an 8-GPU machine).
    cfg = resolve("train", path).section
    assert (cfg.per_device_train_batch_size * processes * cfg.gradient_accumulation_steps) % cfg.num_generations == 0


def test_gpu_7b_is_the_original_recipe():
    stage = resolve("train", CONFIGS / "gpu-7b.yaml")
    kwargs = grpo_config_kwargs(stage, has_gpu=True)
    assert stage.shared.model == "Qwen/Qwen2.5-Coder-7B-Instruct"
    assert stage.shared.max_seq_length == 1024
    assert stage.shared.prepare_input is None  # GPU runs use data the user prepared and checked
    assert kwargs["use_vllm"] is True and kwargs["vllm_mode"] == "colocate"
    assert 0.0 < kwargs["vllm_gpu_memory_utilization"] < 0.5  # the rest of the GPU is for training
    assert kwargs["bf16"] is True and kwargs["use_cpu"] is False
    assert kwargs["activation_checkpointing"] is True
    assert kwargs["num_generations"] == 8
    assert kwargs["per_device_train_batch_size"] == 4 and kwargs["gradient_accumulation_steps"] == 2
    assert kwargs["max_steps"] == 225
    assert kwargs["learning_rate"] == pytest.approx(5e-6)
    assert kwargs["lr_scheduler_type"] == "cosine"
    assert kwargs["warmup_steps"] == pytest.approx(0.1)  # transformers 5: a float below 1 is a ratio
    assert kwargs["max_completion_length"] == 512
    assert kwargs["max_completion_length"] < stage.shared.max_seq_length  # room left for the prompt
    assert kwargs["report_to"] == ["tensorboard"]
    assert stage.section.heldout_steps > 0
    lora = lora_config(stage.section)
    assert (lora.r, lora.lora_alpha, lora.lora_dropout) == (32, 32, 0.05)
    assert set(lora.target_modules) == set(LORA_ALL_PROJECTIONS)
    assert quantization_config(stage.section) is None  # bf16 weights, no quantization


def test_gpu_7b_qlora_loads_the_base_in_4bit_nf4():
    import torch

    cfg = resolve("train", CONFIGS / "gpu-7b-qlora.yaml").section
    q = quantization_config(cfg)
    assert q is not None and q.load_in_4bit is True
    assert q.bnb_4bit_quant_type == "nf4"
    assert q.bnb_4bit_use_double_quant is True
    assert q.bnb_4bit_compute_dtype == torch.bfloat16


def test_gpu_7b_qlora_is_the_same_recipe_as_gpu_7b():
    # Only quantization, where the outputs go and vLLM (QLoRA generates without it: TRL's weight
    # sync to vLLM crashes on 4-bit layers, trl#4973) may differ; a change to one recipe that is
    # not made to the other shows up here.
    plain = dataclasses.asdict(resolve("train", CONFIGS / "gpu-7b.yaml").section)
    qlora = dataclasses.asdict(resolve("train", CONFIGS / "gpu-7b-qlora.yaml").section)
    differing = {k for k in plain if plain[k] != qlora[k]}
    assert differing == {"load_in_4bit", "output_dir", "use_vllm"}
    assert resolve("train", CONFIGS / "gpu-7b.yaml").shared == resolve("train", CONFIGS / "gpu-7b-qlora.yaml").shared


@pytest.mark.parametrize("path", GPU_CONFIGS, ids=lambda p: p.name)
def test_gpu_configs_fail_early_without_a_gpu(path):
    # vLLM and 4-bit need CUDA: the run must stop before loading 7B parameters, naming an option.
    with pytest.raises(TrainingError) as err:
        check_hardware(resolve("train", path).section, has_gpu=False)
    message = str(err.value)
    assert "needs a CUDA GPU" in message
    assert re.search(r"--(use-vllm|load-in-4bit)\b", message)


def test_gpu_configs_fail_early_on_this_machine_when_it_has_no_gpu():
    # The same through the real detection (torch.cuda.is_available) that `sqlgrpo train` uses.
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    for path in GPU_CONFIGS:
        with pytest.raises(TrainingError):
            check_hardware(resolve("train", path).section)


def test_qlora_on_a_gpu_without_bitsandbytes_names_the_package(monkeypatch):
    # A GPU but no bitsandbytes: the message says which package to install.
    import sqlgrpo.stages.training as training_module

    monkeypatch.setattr(training_module, "importable", lambda module: module != "bitsandbytes")
    with pytest.raises(TrainingError, match="bitsandbytes"):
        check_hardware(resolve("train", CONFIGS / "gpu-7b-qlora.yaml").section, has_gpu=True)


def test_cpu_demo_runs_without_a_gpu():
    # Nothing GPU-only is asked for, so the check passes on any machine, and TRL is told to use
    # the CPU.
    stage = resolve("train", CPU_DEMO)
    check_hardware(stage.section, has_gpu=False)
    kwargs = grpo_config_kwargs(stage, has_gpu=False)
    # bf16: true there is autocast where this CPU has bf16 instructions, fp32 elsewhere
    assert kwargs["use_cpu"] is True and kwargs["bf16"] is cpu_bf16_supported()
    assert "use_vllm" not in kwargs
    assert stage.shared.prepare_input == "embedded"  # works on a fresh clone


# --------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize("data, key", [
    ({"modle": "embedded"}, "modle"),                                  # a typo of a shared field
    ({"train": {"max_step": 3}}, "max_step"),                          # a typo in the stage's section
    ({"max_steps": 3}, "max_steps"),                                   # a section field at the top level
    ({"train": {"seed": 3}}, "seed"),                                  # a shared field inside the section
])
def test_unknown_key_names_the_key_and_the_file(tmp_path, data, key):
    path = write_yaml(tmp_path / "bad.yaml", data)
    with pytest.raises(ConfigError) as err:
        resolve("train", path)
    assert repr(key) in str(err.value)
    assert str(path) in str(err.value)
    assert "valid" in str(err.value)  # and lists what would have been accepted


@dataclasses.dataclass
class _OtherSection:
    limit: int = dataclasses.field(default=10, metadata={"help": "rows"})


def test_unknown_key_in_another_stages_section_fails_this_stage_too(tmp_path, monkeypatch):
    # A typo in the `eval:` section must not wait for `sqlgrpo eval` to surface: `sqlgrpo train`
    # on the same file reports it. (Only `train` has a section today, so a stand-in is registered.)
    monkeypatch.setitem(config_module.SECTIONS, "eval", _OtherSection)
    path = write_yaml(tmp_path / "bad.yaml", {"train": {"max_steps": 2}, "eval": {"limt": 5}})
    with pytest.raises(ConfigError) as err:
        resolve("train", path)
    message = str(err.value)
    assert "'limt'" in message and "eval" in message and str(path) in message


def test_section_of_an_unregistered_stage_is_an_unknown_key(tmp_path):
    # `pretrain:` is no stage with a config section: reported, not silently ignored.
    path = write_yaml(tmp_path / "bad.yaml", {"pretrain": {"max_steps": 2}})
    with pytest.raises(ConfigError, match="unknown key 'pretrain'"):
        resolve("train", path)


@pytest.mark.parametrize("section, key", [
    ({"max_steps": "ten"}, "max_steps"),             # a string for an integer
    ({"max_steps": 2.5}, "max_steps"),               # a fraction for an integer
    ({"max_steps": True}, "max_steps"),              # YAML's true is a bool, not the integer 1
    ({"learning_rate": [1e-5, 2e-5]}, "learning_rate"),  # a list for a number
    ({"learning_rate": "fast"}, "learning_rate"),    # a word for a number
    ({"bf16": "yes please"}, "bf16"),                # a string for a boolean
    ({"reward_weights": [1, 2]}, "reward_weights"),  # a list for a mapping
    ({"reward_weights": {"execution_reward": "high"}}, "reward_weights"),  # a word for a weight
    ({"output_dir": None}, "output_dir"),            # null where a path is required
])
def test_wrong_type_names_the_key(tmp_path, section, key):
    path = write_yaml(tmp_path / "bad.yaml", {"train": section})
    with pytest.raises(ConfigError) as err:
        resolve("train", path)
    assert key in str(err.value) and str(path) in str(err.value)


@pytest.mark.parametrize("section, field, value", [
    ({"learning_rate": "5e-6"}, "learning_rate", 5e-6),  # YAML 1.1 reads 5e-6 (no dot) as a string
    ({"learning_rate": 1}, "learning_rate", 1.0),        # an integer is a number
    ({"report_to": "none"}, "report_to", ["none"]),      # one item for a list
    ({"max_prompts": None}, "max_prompts", None),        # null where the field is optional
])
def test_forgiving_conversions(tmp_path, section, field, value):
    path = write_yaml(tmp_path / "ok.yaml", {"train": section})
    assert getattr(resolve("train", path).section, field) == value


@pytest.mark.parametrize("text, what", [
    ("- model: embedded\n- seed: 1\n", "list"),
    ("just a sentence\n", "str"),
])
def test_top_level_must_be_a_mapping(tmp_path, text, what):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="mapping") as err:
        resolve("train", path)
    assert str(path) in str(err.value) and what in str(err.value)


def test_section_must_be_a_mapping(tmp_path):
    path = write_yaml(tmp_path / "bad.yaml", {"train": [1, 2]})
    with pytest.raises(ConfigError, match="section 'train' must be a mapping"):
        resolve("train", path)


def test_invalid_yaml_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  max_steps: [1, 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML") as err:
        resolve("train", path)
    assert str(path) in str(err.value)


def test_missing_config_file_names_the_path(tmp_path):
    path = tmp_path / "nowhere" / "config.yaml"
    with pytest.raises(ConfigError) as err:
        resolve("train", path)
    assert str(path) in str(err.value)


def test_missing_config_file_through_the_command_line(tmp_path):
    path = tmp_path / "typo.yaml"
    with pytest.raises(ConfigError, match=re.escape(str(path))):
        resolve_from_args("train", parse_train(["--config", str(path)]))


def test_empty_file_and_empty_section_mean_defaults(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    assert resolve("train", empty).section == TrainConfig()
    assert resolve("train", write_yaml(tmp_path / "s.yaml", {"train": None})).section == TrainConfig()


def test_unknown_override_is_an_error():
    with pytest.raises(ConfigError, match="max_stepz"):
        resolve("train", None, {"max_stepz": 3})


# --------------------------------------------------------------------------------------------
# Precedence: defaults < file < flags


@pytest.fixture
def file_config(tmp_path) -> Path:
    return write_yaml(tmp_path / "run.yaml", {
        "model": "embedded",
        "seed": 7,
        "train": {"max_steps": 10, "learning_rate": 1e-4, "log_completions": True, "lora_r": 16,
                  "reward_weights": {"execution_reward": 1.0, "complexity_reward": 0.5}},
    })


def test_flags_override_the_file(file_config):
    args = parse_train(["--config", str(file_config), "--max-steps", "3", "--no-log-completions",
                        "--reward-weights", "execution_reward=2", "soft_format_reward=1", "--seed", "9"])
    stage = resolve_from_args("train", args)
    assert stage.section.max_steps == 3                 # flag over file
    assert stage.section.log_completions is False       # --no-... over the file's true
    # A mapping flag replaces the file's mapping: the run uses exactly the rewards on the command line.
    assert stage.section.reward_weights == {"execution_reward": 2.0, "soft_format_reward": 1.0}
    assert stage.shared.seed == 9                       # shared fields have flags too


def test_flags_not_given_leave_the_file_alone(file_config):
    stage = resolve_from_args("train", parse_train(["--config", str(file_config), "--max-steps", "3"]))
    assert stage.section.learning_rate == pytest.approx(1e-4)  # from the file
    assert stage.section.lora_r == 16                          # from the file
    assert stage.section.log_completions is True               # from the file, not the flag's absence
    assert stage.shared.model == "embedded" and stage.shared.seed == 7
    assert stage.section.temperature == TrainConfig().temperature  # in neither: the default
    assert stage.section.reward_weights == {"execution_reward": 1.0, "complexity_reward": 0.5}


def test_a_flag_equal_to_the_default_still_overrides_the_file(file_config):
    # Flags carry no default into the namespace, so "--max-steps 225" (the default) is told apart
    # from no flag at all, and beats the file's 10.
    assert TrainConfig().max_steps == 225
    stage = resolve_from_args("train", parse_train(["--config", str(file_config), "--max-steps", "225"]))
    assert stage.section.max_steps == 225


def test_without_a_file_flags_override_the_defaults():
    stage = resolve_from_args("train", parse_train(["--max-steps", "2", "--bf16", "--lora-target-modules",
                                                    "q_proj", "v_proj"]))
    assert stage.source is None
    assert stage.section.max_steps == 2 and stage.section.bf16 is True
    assert stage.section.lora_target_modules == ["q_proj", "v_proj"]
    assert stage.section.learning_rate == TrainConfig().learning_rate
    assert stage.shared == SharedConfig()


def test_bad_flag_value_is_a_usage_error(capsys):
    # argparse itself rejects a word for an integer flag (exit status 2, message on stderr).
    with pytest.raises(SystemExit) as exit_info:
        parse_train(["--max-steps", "ten"])
    assert exit_info.value.code == 2
    assert "--max-steps" in capsys.readouterr().err


def test_reward_weights_flag_needs_name_value_pairs(capsys):
    with pytest.raises(SystemExit):
        parse_train(["--reward-weights", "execution_reward"])
    assert "NAME=VALUE" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# The resolved config


@pytest.mark.parametrize("path", STAGE_CONFIGS, ids=lambda p: p.name)
def test_resolved_config_round_trips(path, tmp_path):
    args = parse_train(["--config", str(path), "--max-steps", "3", "--reward-weights", "execution_reward=2"])
    stage = resolve_from_args("train", args)
    written = stage.write(tmp_path / "out")
    assert written == tmp_path / "out" / RESOLVED_CONFIG_NAME
    again = resolve("train", written)
    assert again.to_dict() == stage.to_dict()  # flags included: the file alone repeats the run
    assert again.section.max_steps == 3


# --------------------------------------------------------------------------------------------
# Rewards


def test_unknown_reward_name_lists_the_valid_ones():
    with pytest.raises(KeyError) as err:
        reward_setup({"execution_reward": 1.0, "exec_reward": 1.0})
    message = err.value.args[0]
    assert "'exec_reward'" in message
    assert all(name in message for name in REWARDS)


def test_unknown_reward_in_a_config_stops_before_training(tmp_path):
    # The config accepts any name (it does not know the registry); building TRL's arguments, the
    # first thing `train` does after the hardware check, refuses it.
    path = write_yaml(tmp_path / "r.yaml", {"train": {"reward_weights": {"bogus_reward": 1.0}}})
    stage = resolve("train", path)
    with pytest.raises(KeyError, match="bogus_reward"):
        grpo_config_kwargs(stage, has_gpu=False)


def test_reward_setup_keeps_one_order():
    funcs, weights, names = reward_setup({"soft_format_reward": 1.0, "execution_reward": 2.0})
    assert names == ["soft_format_reward", "execution_reward"]
    assert [f.__name__ for f in funcs] == names
    assert weights == [1.0, 2.0]


# --------------------------------------------------------------------------------------------
# --help


def _squash(text: str) -> str:
    # argparse wraps help text at spaces and hyphens; compare without any whitespace.
    return re.sub(r"\s+", "", text)


def test_train_help_lists_every_field_with_its_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["train", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    squashed = _squash(out)
    assert "--config" in out
    for cls in (SharedConfig, TrainConfig):
        for f in dataclasses.fields(cls):
            flag = "--" + f.name.replace("_", "-")
            assert re.search(rf"{re.escape(flag)}\b", out), f"{flag} missing from `sqlgrpo train --help`"
            assert _squash(f.metadata["help"]) in squashed, f"help of {f.name} missing"
            if f.type in (bool, "bool"):
                assert "--no-" + f.name.replace("_", "-") in out


# --------------------------------------------------------------------------------------------
# configs/README.md


READMES = [CONFIGS / "README.md", CONFIGS.parent / "README.md"]


def _readme_train_commands(readme: Path = CONFIGS / "README.md") -> list[list[str]]:
    text = readme.read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    commands = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if "train" in words and "--config" in words:
                commands.append(words[words.index("train") + 1:])
    return commands


@pytest.mark.parametrize("readme", READMES, ids=["configs/README.md", "README.md"])
def test_readme_commands_parse_and_resolve(readme):
    # Every `... train --config ...` line in the READMEs' bash blocks uses real flags and a real file.
    commands = _readme_train_commands(readme)
    assert len(commands) >= 5
    root = CONFIGS.parent
    for argv in commands:
        args = parse_train(argv)
        args.config = str(root / args.config)
        resolve_from_args("train", args)


def test_readme_server_mode_command_selects_server_mode():
    server = [argv for argv in _readme_train_commands() if "server" in argv]
    assert server, "configs/README.md lost its vLLM server mode command"
    args = parse_train(server[0])
    args.config = str(CONFIGS.parent / args.config)
    stage = resolve_from_args("train", args)
    kwargs = grpo_config_kwargs(stage, has_gpu=True)
    assert kwargs["vllm_mode"] == "server" and kwargs["vllm_server_port"] == 8000
    assert "vllm_gpu_memory_utilization" not in kwargs  # the server sets its own


@pytest.mark.parametrize("readme", READMES, ids=["configs/README.md", "README.md"])
def test_readme_names_only_existing_config_files(readme):
    text = readme.read_text(encoding="utf-8")
    named = set(re.findall(r"configs/[\w/.-]+\.yaml", text))
    assert named
    missing = [n for n in named if not (CONFIGS.parent / n).is_file()]
    assert missing == []


# --------------------------------------------------------------------------------------------
# accelerate configs (loaded with accelerate's own code; nothing is launched)


@pytest.mark.parametrize("name, distributed_type", ACCELERATE_CONFIGS.items())
def test_accelerate_config_loads_with_accelerates_loader(name, distributed_type):
    from accelerate.commands.config.config_args import ClusterConfig, load_config_from_file

    cfg = load_config_from_file(str(CONFIGS / "accelerate" / name))  # unknown top-level keys raise here
    assert isinstance(cfg, ClusterConfig)
    assert cfg.compute_environment.value == "LOCAL_MACHINE"
    assert cfg.distributed_type.value == distributed_type
    assert cfg.mixed_precision == "bf16"  # the same precision as bf16: true in the GPU configs
    assert cfg.num_processes == 8 and cfg.num_machines == 1
    assert cfg.use_cpu is False


@pytest.mark.parametrize("name", ACCELERATE_CONFIGS)
def test_accelerate_nested_keys_are_launch_options(name):
    # accelerate copies deepspeed_config/fsdp_config keys onto its launch arguments without
    # checking them, so a misspelled key would be silently ignored; each must be a real option.
    from accelerate.commands.launch import launch_command_parser

    data = yaml.safe_load((CONFIGS / "accelerate" / name).read_text(encoding="utf-8"))
    options = {action.dest for action in launch_command_parser()._actions}
    nested = {**data.get("deepspeed_config", {}), **data.get("fsdp_config", {})}
    assert nested
    assert sorted(k for k in nested if k not in options) == []


def test_deepspeed_config_is_zero3_and_saves_loadable_weights():
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.utils.constants import DEEPSPEED_MULTINODE_LAUNCHERS

    ds = load_config_from_file(str(CONFIGS / "accelerate" / "deepspeed_zero3.yaml")).deepspeed_config
    assert ds["zero_stage"] == 3
    assert ds["zero3_save_16bit_model"] is True  # else final_adapter/ holds ZeRO shards only
    assert ds["zero3_init_flag"] is True
    assert ds["offload_optimizer_device"] in ("none", "cpu", "nvme")  # accelerate config's choices
    assert ds["offload_param_device"] in ("none", "cpu", "nvme")
    assert ds["deepspeed_multinode_launcher"] in DEEPSPEED_MULTINODE_LAUNCHERS
    # The accumulation comes from the sqlgrpo config; a second value here could contradict it.
    assert "gradient_accumulation_steps" not in ds


def test_fsdp_config_values_are_accelerates_and_its_launcher_accepts_them():
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.constants import (
        FSDP_AUTO_WRAP_POLICY,
        FSDP_BACKWARD_PREFETCH,
        FSDP_SHARDING_STRATEGY,
        FSDP_STATE_DICT_TYPE,
    )
    from accelerate.utils.launch import prepare_multi_gpu_env

    path = str(CONFIGS / "accelerate" / "fsdp.yaml")
    fsdp = load_config_from_file(path).fsdp_config
    assert fsdp["fsdp_version"] == 1
    assert fsdp["fsdp_reshard_after_forward"] in FSDP_SHARDING_STRATEGY and fsdp["fsdp_reshard_after_forward"] == "FULL_SHARD"
    assert fsdp["fsdp_auto_wrap_policy"] in FSDP_AUTO_WRAP_POLICY
    assert fsdp["fsdp_backward_prefetch"] in FSDP_BACKWARD_PREFETCH
    # FULL_STATE_DICT: transformers' save_model writes no weights at all under SHARDED_STATE_DICT.
    assert fsdp["fsdp_state_dict_type"] in FSDP_STATE_DICT_TYPE and fsdp["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    assert fsdp["fsdp_use_orig_params"] is True  # frozen base + trainable LoRA in one FSDP1 unit

    # The launcher's own checks and environment, short of starting processes: it refuses
    # cpu_ram_efficient_loading without sync_module_states, for one.
    args = launch_command_parser().parse_args(["--config_file", path, "-m", "sqlgrpo.cli", "train"])
    args, _, _ = _validate_launch_command(args)
    env = prepare_multi_gpu_env(args)
    assert env["ACCELERATE_USE_FSDP"] == "true"
    assert env["FSDP_STATE_DICT_TYPE"] == "FULL_STATE_DICT"
    assert env["FSDP_USE_ORIG_PARAMS"] == "true"
    assert env["FSDP_CPU_RAM_EFFICIENT_LOADING"] == "true" and env["FSDP_SYNC_MODULE_STATES"] == "true"
    assert env["ACCELERATE_MIXED_PRECISION"] == "bf16"


def test_fsdp_activation_checkpointing_is_not_doubled_with_the_gpu_configs():
    # transformers raises when FSDP's activation checkpointing and the training argument are both on.
    data = yaml.safe_load((CONFIGS / "accelerate" / "fsdp.yaml").read_text(encoding="utf-8"))
    for path in GPU_CONFIGS:
        assert not (data["fsdp_config"]["fsdp_activation_checkpointing"]
                    and resolve("train", path).section.gradient_checkpointing)


# --------------------------------------------------------------------------------------------
# Known bugs (strict xfail: they start failing, loudly, once fixed)


def test_misspelled_vllm_mode_is_refused_before_training(tmp_path):
    path = write_yaml(tmp_path / "typo.yaml", {"train": {"use_vllm": True, "vllm_mode": "colocated"}})
    with pytest.raises((ConfigError, TrainError, ValueError), match=r"vllm[_-]mode"):
        grpo_config_kwargs(resolve("train", path), has_gpu=True)
