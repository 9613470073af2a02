"""One YAML config file for every stage: shared fields at the top, a section per stage.

    model: embedded                 # shared fields: every stage reads them
    train_file: data/cleaned_train_queries.jsonl
    train:                          # the `train` stage's own section
      max_steps: 10
      learning_rate: 1.0e-4

Each section is a dataclass whose fields carry a help string; every field is also a command-line
flag (`--max-steps 2`, `--no-bf16`, `--reward-weights execution_reward=2 soft_format_reward=1`),
and flags override the file, which overrides the defaults. An unknown key is an error that names
it and lists the valid ones. The resolved config is written next to every output
(`resolved_config.yaml`), so a run can be repeated exactly.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sqlgrpo.common import paths
from sqlgrpo.common.errors import SqlgrpoError
from sqlgrpo.common.files import atomic_write_text

DEFAULT_MODEL = "Qwen/Qwen2.5-Coder-7B-Instruct"  # the original recipe's base model
RESOLVED_CONFIG_NAME = "resolved_config.yaml"
LORA_ALL_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class ConfigError(SqlgrpoError, ValueError):
    """A config file or flag is wrong; the message names the file, key and what would fix it."""


def _help(text: str, default: Any = dataclasses.MISSING, default_factory: Any = dataclasses.MISSING,
          choices: tuple[str, ...] | None = None, secret: bool = False) -> Any:
    # secret: a credential (an API key), written as null wherever the config is written out
    metadata = {"help": text, "choices": choices, "secret": secret}
    if default_factory is not dataclasses.MISSING:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class SharedConfig:
    """Fields every stage reads (the top level of the YAML file)."""

    model: str = _help("base model: a hub id, a local checkpoint folder, or 'embedded' (SmolLM2-135M-Instruct, "
                       "shipped with sqlgrpo)", DEFAULT_MODEL)
    train_file: str = _help("prepared training records (JSONL from `sqlgrpo prepare`)",
                            str(paths.data_dir() / paths.TRAIN_FILE_NAME))
    eval_file: str = _help("prepared held-out records", str(paths.data_dir() / paths.EVAL_FILE_NAME))
    prepare_input: str | None = _help("when the train file does not exist, run `sqlgrpo prepare` on this input "
                                      "first (e.g. 'embedded'); null: fail instead", None)
    backend: str = _help("engine the SQL runs on; also the dialect the prompt asks for", "sqlite",
                         choices=("sqlite", "duckdb"))
    system_prompt: str | None = _help("system prompt; null uses sqlgrpo.llm.prompts.DEFAULT_SYSTEM_PROMPT "
                                      "({dialect} is replaced by the backend's name)", None)
    include_inserts: bool = _help("show the context's INSERT rows in the prompt, not only CREATE TABLE", False)
    max_seq_length: int = _help("prompt plus completion budget in tokens; longer prompts are dropped (counted "
                                "in the log), never truncated", 1024)
    seed: int = _help("random seed", 42)


@dataclass
class TrainerSection:
    """The fields every trainer stage (sft, contrastive, train) has, declared once. A stage's
    section subclasses it and overrides only defaults, and help texts where the stage means
    something more specific, in its class statement:

        class SftConfig(TrainerSection, defaults={"max_steps": 60}, helps={"max_steps": "..."}):

    An overridden field keeps its place (shared fields first in `--help` and resolved_config.yaml,
    then the stage's own)."""

    output_dir: str = _help("where checkpoints, final_adapter and trainer_state.json go", str(paths.output_dir("train")))
    max_steps: int = _help("optimizer steps", 60)
    learning_rate: float = _help("peak learning rate", 2e-4)
    lr_scheduler_type: str = _help("learning-rate schedule (transformers SchedulerType)", "cosine")
    warmup_ratio: float = _help("share of steps spent warming up the learning rate", 0.1)
    per_device_train_batch_size: int = _help("examples per device per micro-step", 4)
    gradient_accumulation_steps: int = _help("micro-steps per optimizer step", 1)
    lora_r: int = _help("LoRA rank", 32)
    lora_alpha: int = _help("LoRA alpha", 32)
    lora_dropout: float = _help("LoRA dropout", 0.05)
    lora_target_modules: list[str] = _help("modules that get LoRA adapters (all attention and MLP projections)",
                                           default_factory=lambda: list(LORA_ALL_PROJECTIONS))
    logging_steps: int = _help("log every N steps", 1)
    save_steps: int = _help("save a checkpoint every N steps", 50)
    save_total_limit: int = _help("keep at most this many checkpoints", 2)
    report_to: list[str] = _help("logging integrations: tensorboard, wandb, none", default_factory=lambda: ["tensorboard"])
    bf16: bool = _help("bfloat16: on a GPU weights and compute in bf16; on a CPU with AVX512_BF16 or AMX, bf16 "
                       "autocast over fp32 weights (~1.8x faster); on other CPUs fp32 (logged)", False)
    gradient_checkpointing: bool = _help("trade compute for memory on large models", False)

    def __init_subclass__(cls, *, defaults: dict[str, Any] | None = None, helps: dict[str, str] | None = None,
                          **kwargs: Any) -> None:
        # Runs when the subclass statement is executed, before @dataclass reads its fields: each
        # override becomes a field of the subclass with the base field's type, help and choices.
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("__annotations__")
        if own is None:
            cls.__annotations__ = own = {}
        base = TrainerSection.__dataclass_fields__
        for name in {**(defaults or {}), **(helps or {})}:
            if name not in base:
                raise TypeError(f"{cls.__name__}: {name!r} is not a TrainerSection field")
            field_ = base[name]
            value = (defaults or {}).get(name, field_.default)
            factory = field_.default_factory if name not in (defaults or {}) else dataclasses.MISSING
            if isinstance(value, (list, dict)):
                value, factory = dataclasses.MISSING, (lambda v=value: type(v)(v))
            own[name] = field_.type
            setattr(cls, name, _help((helps or {}).get(name, field_.metadata["help"]), value, factory,
                                     field_.metadata["choices"]))


@dataclass
class TrainConfig(TrainerSection,
                  defaults={"output_dir": str(paths.output_dir("train")), "max_steps": 225, "learning_rate": 5e-6,
                            "gradient_accumulation_steps": 2, "save_total_limit": 3},
                  helps={"output_dir": "where checkpoints, logs, the final adapter and trainer_state.json go",
                         "per_device_train_batch_size": "completions per device per micro-step, as TRL counts them"}):
    """The `train` section: GRPO with TRL's GRPOTrainer and a LoRA adapter (PEFT)."""

    num_generations: int = _help("completions sampled per prompt (the GRPO group)", 8)
    max_completion_length: int = _help("completion budget in tokens (part of max_seq_length)", 256)
    temperature: float = _help("sampling temperature of the rollouts", 1.0)
    top_p: float = _help("nucleus sampling of the rollouts", 1.0)
    beta: float = _help("KL coefficient against the reference model (0 skips the reference model)", 0.0)
    loss_type: str = _help("TRL's GRPO loss", "dapo",
                           choices=("grpo", "bnpo", "dr_grpo", "dapo", "cispo", "sapo", "luspo", "vespo"))
    scale_rewards: str = _help("advantage scaling", "group", choices=("group", "batch", "none"))
    num_iterations: int = _help("optimization passes per generation batch (mu in the GRPO paper)", 1)
    epsilon: float = _help("clipping range of the policy ratio", 0.2)
    reward_weights: dict[str, float] = _help("weight per reward of sqlgrpo.scoring.rewards.REWARDS; weight 0 is "
                                             "still computed and logged", default_factory=lambda: _default_weights())
    init_adapter: str | None = _help("start from this LoRA adapter (an earlier stage's final_adapter) instead of "
                                     "a fresh one", None)
    resume: bool = _help("resume from the last complete checkpoint in output_dir", False)
    max_prompts: int | None = _help("use at most this many training prompts (null: all)", None)
    heldout_steps: int = _help("every N steps, measure execution accuracy and format compliance on a fixed "
                               "held-out subset, as the eval stage defines them (0: off)", 0)
    heldout_samples: int = _help("size of that held-out subset", 16)
    log_completions: bool = _help("print and log sample completions each logging step", True)
    use_vllm: bool = _help("generate rollouts with vLLM (GPU; pip install -e '.[gpu]')", False)
    vllm_mode: str = _help("colocate (vLLM in the training process) or server (`trl vllm-serve`)", "colocate",
                           choices=("colocate", "server"))
    vllm_gpu_memory_utilization: float = _help("share of GPU memory vLLM may take in colocate mode", 0.3)
    vllm_server_host: str = _help("host of `trl vllm-serve` in server mode", "0.0.0.0")
    vllm_server_port: int = _help("port of `trl vllm-serve` in server mode", 8000)
    load_in_4bit: bool = _help("QLoRA: load the base model in 4-bit NF4 (GPU, bitsandbytes); not with use_vllm "
                               "(huggingface/trl#4973) unless through Unsloth", False)
    use_unsloth: bool = _help("load the model through Unsloth's FastLanguageModel (GPU; an environment of its own: "
                              "configs/unsloth-requirements.txt); with use_vllm, Unsloth's own vLLM engine generates",
                              False)
    merge_final: bool = _help("also save the base model with the adapter merged into DIR/merged (on the main process, "
                              "onto a fresh copy of the base in host RAM: works under ZeRO-3/FSDP and after QLoRA)",
                              False)


def _default_weights() -> dict[str, float]:
    from sqlgrpo.scoring.rewards import DEFAULT_WEIGHTS

    return dict(DEFAULT_WEIGHTS)


@dataclass
class EvalConfig:
    """The `eval` section: generate on held-out records, score, judge, report."""

    output_dir: str = _help("where results, metrics and the report go", str(paths.output_dir("eval")))
    adapter: str | None = _help("a LoRA adapter to evaluate on top of the model (its base model is used when "
                                "model is not set)", None)
    limit: int = _help("evaluate the first N records (0: all)", 50)
    batch_size: int = _help("prompts generated together (left padding)", 8)
    num_samples: int = _help("answers per question; above 1, sampling, pass@k and self-consistency", 1)
    temperature: float = _help("sampling temperature when num_samples > 1 (otherwise greedy)", 0.7)
    top_p: float = _help("nucleus sampling when num_samples > 1", 0.95)
    max_new_tokens: int = _help("answer budget in tokens", 256)
    bf16: bool = _help("generate with the weights in bfloat16 on a CPU with AVX512_BF16 or AMX (decoding reads half "
                       "the bytes: ~1.3x faster; answers can differ from fp32's by rounding); fp32 on other CPUs "
                       "(logged); a GPU generates in bf16 either way", False)
    judge: bool = _help("ask an LLM judge (needs OPENAI_API_KEY or judge_base_url; skipped otherwise)", True)
    judge_model: str = _help("judge model name", "gpt-4o-mini")
    judge_base_url: str | None = _help("OpenAI-compatible endpoint (vLLM, llama.cpp, Ollama, transformers serve)",
                                       None)
    judge_concurrency: int = _help("judge requests in flight at once", 4)
    resume: bool = _help("continue an interrupted run: reuse saved generations and cached verdicts", False)
    reward_weights: dict[str, float] = _help("weights of sqlgrpo.scoring.rewards.REWARDS for the answers' mean_reward in "
                                             "metrics.json (use the train section's to compare with training)",
                                             default_factory=lambda: _default_weights())
    use_vllm: bool = _help("generate with vLLM (GPU, pip install -e '.[gpu]')", False)
    match: str = _help("the comparison behind correct and execution_accuracy: 'ours' (test-suite semantics, "
                       "DISTINCT kept, the record's test suite too), 'spider' (the official Spider execution match: "
                       "DISTINCT removed, order only when the gold says 'order by') or 'bird' (the official BIRD "
                       "rule: the same set of rows); the rewards always use 'ours'", "ours",
                       # sqlgrpo.scoring.matching.MATCH_CONVENTIONS spelled out: importing the scoring layer
                       # would load both SQL engines for `sqlgrpo --help` (tests/test_conventions.py checks them)
                       choices=("ours", "spider", "bird"))
    query_timeout_s: float = _help("time limit per query on the answers, in seconds (2 as in training; BIRD's "
                                   "official evaluation gives 30)", 2.0)
    predictions: str | None = _help("score the answers in this file instead of generating any (no model is loaded): "
                                    "Spider's .sql/.txt (one SQL per line, line i = question i of the source file), "
                                    "BIRD's .json or .jsonl (index or id, sql or completion); --limit applies only "
                                    "when given", None)
    generation_base_url: str | None = _help("generate through this running OpenAI-compatible server instead of loading "
                                            "the model (vLLM `vllm serve --enable-lora`, SGLang, `transformers serve`, "
                                            "llama.cpp's server), e.g. http://127.0.0.1:8000/v1; needs "
                                            "generation_model", None)
    generation_model: str | None = _help("the model name the generation server serves (its /v1/models lists them); "
                                         "for an adapter, the NAME of vLLM's --lora-modules NAME=PATH", None)
    generation_api_key: str | None = _help("API key of the generation server (null: OPENAI_API_KEY, else a "
                                           "placeholder, which local servers accept); never written to "
                                           "resolved_config.yaml", None, secret=True)
    generation_concurrency: int = _help("generation requests in flight at once", 8)
    generation_max_attempts: int = _help("attempts per generation request on HTTP 5xx, 429 or 408, a timeout or a "
                                         "connection error; a question still unanswered after them stops the run, "
                                         "the generations before it kept for --resume", 5)
    generation_timeout_s: float = _help("time limit per generation request, in seconds", 300.0)


@dataclass
class ContrastiveConfig(TrainerSection,
                        defaults={"output_dir": str(paths.output_dir("contrastive")), "max_steps": 50,
                                  "learning_rate": 5e-5, "per_device_train_batch_size": 2},
                        helps={"output_dir": "where preferences.jsonl, checkpoints and final_adapter go",
                               "per_device_train_batch_size": "preference pairs per device per micro-step"}):
    """The `contrastive` section: verified near-miss SQL as rejected answers, gold as chosen, DPO
    with TRL's DPOTrainer on a LoRA adapter."""

    beta: float = _help("DPO temperature: how far the policy may move from the reference", 0.1)
    loss_type: str = _help("TRL DPO loss", "sigmoid", choices=("sigmoid", "ipo", "hinge", "robust", "bco_pair",
                                                                "sppo_hard", "nca_pair", "apo_zero", "apo_down"))
    sft_weight: float = _help("weight of an added negative log-likelihood loss on the chosen answer (RPO, Pang et "
                              "al. 2024): keeps the gold likely while the margin grows; 0 is plain DPO", 0.0)
    pairs_per_question: int = _help("near-misses (rejected answers) kept per question", 2)
    question_contrast: bool = _help("also use another question's gold on the same schema as a rejected answer "
                                    "when its outcome differs", True)
    max_questions: int | None = _help("use at most this many training questions (null: all)", None)
    init_adapter: str | None = _help("continue from this adapter (e.g. the SFT stage's final_adapter); the "
                                     "reference is the base model", None)


@dataclass
class SftConfig(TrainerSection, defaults={"output_dir": str(paths.output_dir("sft"))},
                helps={"output_dir": "where checkpoints and final_adapter go",
                       "learning_rate": "peak learning rate (LoRA on a small model learns the format fast)"}):
    """The `sft` section: a supervised warm-up on gold answers in the target format (TRL's
    SFTTrainer, LoRA, loss on the answer only)."""

    max_questions: int | None = _help("use at most this many training questions (null: all)", None)


# The stages and their sections. Later stages add theirs here.
SECTIONS: dict[str, type] = {"sft": SftConfig, "train": TrainConfig, "eval": EvalConfig,
                             "contrastive": ContrastiveConfig}


@dataclass
class StageConfig:
    """What one stage runs with: the shared fields and its own section."""

    stage: str
    shared: SharedConfig
    section: Any
    source: str | None = None  # the YAML file, if any
    explicit: set[str] = field(default_factory=set)  # fields set by the file or a flag, not defaults

    def to_dict(self) -> dict:
        """The config as resolved_config.yaml holds it; a secret field (an API key) is null there,
        so that a key never lands in an output folder (the reloaded config falls back to the
        environment for it)."""
        return {**_without_secrets(self.shared), self.stage: _without_secrets(self.section)}

    def write(self, out_dir: str | Path) -> Path:
        """Write the resolved config to `out_dir/resolved_config.yaml`."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        path = out / RESOLVED_CONFIG_NAME
        header = f"# resolved config of `sqlgrpo {self.stage}`" + (f" (from {self.source})" if self.source else "")
        atomic_write_text(path, header + "\n" + yaml.safe_dump(self.to_dict(), sort_keys=False))
        return path


def _without_secrets(section: Any) -> dict:
    values = dataclasses.asdict(section)
    for f in dataclasses.fields(section):
        if f.metadata.get("secret"):
            values[f.name] = None
    return values


# --------------------------------------------------------------------------------------------
# Types

def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0], True
    return tp, False


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check (and gently convert) a YAML value against a field type; errors name `where`."""
    base, optional = _strip_optional(tp)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{where}: null is not allowed here (expected {_type_name(base)})")
    origin = typing.get_origin(base)
    if base is bool:
        if isinstance(value, bool):
            return value
    elif base is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif base is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML reads 5e-6 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif base is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    elif origin is list:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            (item,) = typing.get_args(base)
            return [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    elif origin is dict:
        if isinstance(value, dict):
            _, val_tp = typing.get_args(base)
            return {str(k): _coerce(v, val_tp, f"{where}.{k}") for k, v in value.items()}
    raise ConfigError(f"{where}: {value!r} is not {_type_name(base)}")


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is list:
        return "a list"
    if origin is dict:
        return "a mapping"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(tp, str(tp))


def _check_choices(obj: Any, where: str) -> None:
    """Fields with a fixed set of values: a typo must fail now, not after the model loaded."""
    for f in dataclasses.fields(obj):
        choices = f.metadata.get("choices")
        value = getattr(obj, f.name)
        if choices and value not in choices:
            raise ConfigError(f"{where}: {f.name} is {value!r}; expected one of {', '.join(choices)}")


def _build(cls: type, values: dict, where: str) -> Any:
    hints = _hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in values if k not in names]
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(names)}")
    built = cls(**{k: _coerce(v, hints[k], f"{where}: {k}") for k, v in values.items()})
    _check_choices(built, where)
    return built


# --------------------------------------------------------------------------------------------
# Loading

def load_yaml(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the top level must be a mapping of keys, got {type(data).__name__}")
    return data


def resolve(stage: str, config_file: str | Path | None = None, overrides: dict | None = None) -> StageConfig:
    """Defaults, then the YAML file's shared fields and `stage` section, then `overrides`
    (flag values by field name; shared and section fields alike)."""
    if stage not in SECTIONS:
        raise ConfigError(f"unknown stage {stage!r}; stages with a config section: {', '.join(SECTIONS)}")
    data = load_yaml(config_file) if config_file else {}
    where = str(config_file) if config_file else "config"
    shared_names = {f.name for f in dataclasses.fields(SharedConfig)}
    shared_values, sections = {}, {}
    for key, value in data.items():
        if key in SECTIONS:
            if value is not None and not isinstance(value, dict):
                raise ConfigError(f"{where}: section {key!r} must be a mapping")
            sections[key] = value or {}
        elif key in shared_names:
            shared_values[key] = value
        else:
            raise ConfigError(f"{where}: unknown key {key!r}; valid top-level keys: "
                              f"{', '.join(sorted(shared_names))}, and the sections {', '.join(SECTIONS)}")
    # Sections of other stages are validated too: a typo there should not wait for that stage.
    built = {name: _build(SECTIONS[name], values, f"{where}: {name}") for name, values in sections.items()}
    shared = _build(SharedConfig, shared_values, where)
    section = built.get(stage) or SECTIONS[stage]()
    for key, value in (overrides or {}).items():
        target = shared if key in shared_names else section
        if not hasattr(target, key):
            raise ConfigError(f"unknown option {key!r} for `sqlgrpo {stage}`")
        setattr(target, key, _coerce(value, _hints(type(target))[key], f"--{key.replace('_', '-')}"))
    _check_choices(shared, "options")
    _check_choices(section, "options")
    explicit = set(shared_values) | set(sections.get(stage, {})) | set(overrides or {})
    return StageConfig(stage=stage, shared=shared, section=section, source=str(config_file) if config_file else None,
                       explicit=explicit)


# --------------------------------------------------------------------------------------------
# Command-line flags

class _KeyValues(argparse.Action):
    """`--reward-weights a=1 b=0.5` into {"a": 1.0, "b": 0.5}."""

    def __call__(self, parser, namespace, values, option_string=None):
        out = {}
        for item in values:
            key, sep, value = item.partition("=")
            if not sep:
                parser.error(f"{option_string} takes NAME=VALUE pairs, got {item!r}")
            try:
                out[key] = float(value)
            except ValueError:
                parser.error(f"{option_string}: {value!r} in {item!r} is not a number")
        setattr(namespace, self.dest, out)


def add_config_arguments(parser: argparse.ArgumentParser, stage: str) -> None:
    """`--config FILE` and one flag per shared and `stage` field. Flags not given stay unset,
    so that they do not override the file."""
    parser.add_argument("--config", default=None, metavar="FILE.yaml",
                        help="YAML config (shared fields at the top, a section per stage); flags override it")
    for cls, title in ((SharedConfig, "shared options (top level of the config file)"),
                       (SECTIONS[stage], f"{stage} options (the `{stage}:` section)")):
        group = parser.add_argument_group(title)
        hints = _hints(cls)
        for f in dataclasses.fields(cls):
            flag = "--" + f.name.replace("_", "-")
            base, optional = _strip_optional(hints[f.name])
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            help_text = f"{f.metadata.get('help', '')} (default: {default})".replace("%", "%%")
            kwargs: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": help_text}
            origin = typing.get_origin(base)
            if base is bool:
                group.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
            elif origin is dict:
                group.add_argument(flag, nargs="+", action=_KeyValues, metavar="NAME=VALUE", **kwargs)
            elif origin is list:
                group.add_argument(flag, nargs="+", metavar="ITEM", **kwargs)
            elif f.metadata.get("choices"):
                group.add_argument(flag, choices=f.metadata["choices"], **kwargs)
            else:
                group.add_argument(flag, type=str if base is str else base, metavar=f.name.upper(), **kwargs)


def resolve_from_args(stage: str, args: argparse.Namespace) -> StageConfig:
    """The stage's config from parsed flags (see `add_config_arguments`)."""
    names = {f.name for f in dataclasses.fields(SharedConfig)} | {f.name for f in dataclasses.fields(SECTIONS[stage])}
    overrides = {k: v for k, v in vars(args).items() if k in names}
    return resolve(stage, getattr(args, "config", None), overrides)
