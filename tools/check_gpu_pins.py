"""Check that the GPU pins resolve: the `gpu` extra beside the core pins, or a separate requirements file.

What it is for: the `gpu` extra of pyproject.toml (vllm, bitsandbytes, deepspeed) and the separate
Unsloth environment (configs/unsloth-requirements.txt) are never installed on the CPU machines that
run the tests, so nothing else notices when one of them stops resolving, or when the extra would
silently move a core pin (torch, transformers, trl, ...). This script asks the package registry,
without installing anything: it makes a throwaway venv in a temporary folder and runs pip's dry run,

    pip install --dry-run --ignore-installed --report <json> '<repo>[gpu]' 'torch==<core pin>'
    pip install --dry-run --ignore-installed --report <json> -r <FILE>          # with --requirements

then prints the versions pip picked for the interesting packages next to the core pins and to what
the CPU venv (`.venv` at the repo root) has.

The extra (default). It FAILs (exit 1) when
  * the resolution fails (pip's conflict explanation is printed, then the extra is resolved alone,
    beside the torch pin only, to show which core pins it would have to move),
  * the resolution picks a version other than a core pin of `[project] dependencies`,
  * an entry of the extra is not pinned with `==` (after --candidate overrides).
Packages that the core does not pin (numpy, ...) are reported, CPU venv versus resolution, not failed.

--requirements FILE resolves that file on its own, torch pinned as the file pins it (the core pin
is added only if the file has no torch line). It is meant for an environment that moves core pins
on purpose (Unsloth caps trl, transformers and datasets below them) and is completed with
`pip install --no-deps -e .`. It FAILs when
  * the resolution fails (pip's conflict explanation is printed),
  * a line of the file is not a requirement pinned with `==` (an option such as `-r` or `-c`, a URL,
    a range),
  * a core dependency is installed neither by the file nor by what it pulls in, so that
    `--no-deps -e .` would leave sqlgrpo without it.
For each core pin it prints whether the file keeps it or moves it: a moved pin is reported, with
the packages whose requirements cap it, not failed.

How to run (from the repo root; needs Python >= 3.11 for tomllib, and the package registry):

    python tools/check_gpu_pins.py                       # the gpu extra as pyproject has it
    python tools/check_gpu_pins.py --candidate 'vllm==0.31.0'   # try a pin without editing pyproject
    python tools/check_gpu_pins.py --requirements configs/unsloth-requirements.txt
    python tools/check_gpu_pins.py --python python3.12   # the interpreter of the throwaway venv

A --candidate naming a package of the extra replaces that entry; one naming another package is
added. A candidate that replaces a core pin needs --allow-core-override, and then that pin is
reported as overridden instead of failed (--requirements is the way to check a whole environment
that moves core pins).
Exit codes: 0 pass, 1 fail, 2 the check itself could not run (bad arguments, venv or pip broken).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: no tomllib in the standard library
    tomllib = None

REPO_ROOT = Path(__file__).resolve().parent.parent
EXTRAS = ("gpu",)
# The packages shown for the extra, and for a --requirements file (normalized names)
INTERESTING = [
    "vllm", "bitsandbytes", "deepspeed", "torch", "transformers", "trl", "peft", "numpy", "datasets", "accelerate",
]
INTERESTING_REQUIREMENTS = [
    "unsloth", "unsloth-zoo", "vllm", "bitsandbytes", "torch", "transformers", "trl", "peft", "datasets",
    "accelerate", "numpy",
]
REQ_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")
PIN_RE = re.compile(r"^==\s*([^\s,;*=<>!~]+)$")


def normalize(name: str) -> str:
    """PEP 503 name: lower case, runs of -_. as one dash."""
    return re.sub(r"[-_.]+", "-", name).lower()


def split_requirement(req: str) -> tuple[str, str, str]:
    """('name', 'specifier', 'marker') of a requirement string, without the `packaging` library.

    >>> split_requirement("transformers[serving]==5.24.0")
    ('transformers', '==5.24.0', '')
    >>> split_requirement("xformers>=0.0.27; sys_platform == 'linux'")
    ('xformers', '>=0.0.27', "sys_platform == 'linux'")
    """
    body, _, marker = req.partition(";")
    match = REQ_RE.match(body)
    if not match:
        raise ValueError(f"can't read the requirement {req!r}")
    return match.group(1), match.group(3).strip(), marker.strip()


def pinned_version(req: str) -> str | None:
    """The version of an exact `==` pin, else None.

    >>> pinned_version("vllm==0.30.0"), pinned_version("vllm"), pinned_version("vllm>=0.30,<0.31")
    ('0.30.0', None, None)
    >>> pinned_version("numpy==2.*") is None
    True
    """
    match = PIN_RE.match(split_requirement(req)[1])
    return match.group(1) if match else None


def public_version(version: str) -> str:
    """A version without its local label: a `2.13.0+cpu` wheel satisfies the pin `torch==2.13.0`.

    >>> public_version("2.13.0+cpu")
    '2.13.0'
    """
    return version.split("+", 1)[0]


def read_pyproject(root: Path) -> dict:
    if tomllib is None:
        raise SystemExit("check_gpu_pins: needs Python >= 3.11 (tomllib) to read pyproject.toml")
    with open(root / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)


def cpu_venv_versions(python: Path | None) -> dict[str, str]:
    """Versions of the interesting packages in the CPU venv, by normalized name (empty if no venv)."""
    if python is None or not python.exists():
        return {}
    code = (
        "import importlib.metadata as m, json\n"
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions() if d.metadata['Name']}))"
    )
    try:
        out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=120, check=True)
    except (OSError, subprocess.SubprocessError):
        return {}
    return {normalize(name): version for name, version in json.loads(out.stdout).items()}


def venv_python(venv_dir: Path) -> Path:
    return venv_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def make_venv(python: str, venv_dir: Path, upgrade_pip: bool) -> Path:
    subprocess.run([python, "-m", "venv", str(venv_dir)], check=True, capture_output=True, text=True)
    vpython = venv_python(venv_dir)
    if upgrade_pip:
        subprocess.run([str(vpython), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
    return vpython


def resolve(vpython: Path, requirements: list[str], report: Path, timeout: float, isolated: bool):
    """Run pip's dry-run resolution.

    Returns (ok, {name: version picked}, {name: ["who version: specifier", ...]}, pip's output), names normalized.
    """
    cmd = [str(vpython), "-m", "pip"]
    if isolated:
        cmd.append("--isolated")
    cmd += ["install", "--dry-run", "--ignore-installed", "--report", str(report), *requirements]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return False, {}, {}, out + f"\n(pip did not finish in {timeout:.0f} s)"
    output = proc.stdout + proc.stderr
    if proc.returncode != 0 or not report.exists():
        return False, {}, {}, output
    data = json.loads(report.read_text())
    picked, constraints = {}, {}
    for item in data.get("install", []):
        meta = item["metadata"]
        picked[normalize(meta["name"])] = meta["version"]
        for req in meta.get("requires_dist") or []:
            name, spec, marker = split_requirement(req)
            # Only the specifiers that can hold a version down; markers other than extras are shown, not evaluated
            if re.search(r"<|==|~=", spec) and "extra" not in marker:
                when = f"  (if {marker})" if marker else ""
                constraints.setdefault(normalize(name), []).append(f"{meta['name']} {meta['version']}: {spec}{when}")
    return True, picked, constraints, output


def explain_failure(output: str, limit: int = 40) -> str:
    """The part of pip's output that names the conflict: its ERROR lines and "The conflict is caused by" block.

    >>> print(explain_failure("Collecting x\\nThe conflict is caused by:\\n    x 1 depends on y==2\\n"
    ...                       "To fix this you could try to:\\nERROR: Cannot install x"))
    ERROR: Cannot install x
    The conflict is caused by:
        x 1 depends on y==2
    """
    # "WARNING: Location ... is ignored" is pip's noise about index folders of this machine's pip config
    lines = [line for line in output.splitlines() if line.strip() and not line.startswith("WARNING: Location")]
    errors = [line for line in lines if line.startswith("ERROR")]
    start = next((i for i, line in enumerate(lines) if line.startswith("The conflict is caused by")), None)
    if start is None:
        return "\n".join(errors or lines[-limit:])
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("To fix this")), len(lines))
    return "\n".join(errors + lines[start:end][:limit])


def apply_candidates(entries: list[str], candidates: list[str]) -> list[str]:
    """The extra's entries with each --candidate replacing the entry of the same package, or added.

    >>> apply_candidates(["vllm", "deepspeed"], ["vllm==0.30.0", "numpy==2.3.5"])
    ['vllm==0.30.0', 'deepspeed', 'numpy==2.3.5']
    """
    by_name = {normalize(split_requirement(c)[0]): c for c in candidates}
    result = []
    for entry in entries:
        name = normalize(split_requirement(entry)[0])
        result.append(by_name.pop(name, entry))
    return result + list(by_name.values())


def read_requirements_file(text: str) -> tuple[list[str], list[str]]:
    """(requirements, problems) of a requirements file: comments and blank lines dropped, `\\` lines joined.

    A problem is a line that is not a requirement pinned with `==`: an option (`-r`, `-c`, `--index-url`,
    `-e`), a URL, a range or a bare name.

    >>> read_requirements_file("# header\\nvllm==0.31.0  # why\\n\\ntrl>=1.15\\n-r other.txt\\n")
    (['vllm==0.31.0'], ["line 4: 'trl>=1.15' is not pinned with ==", "line 5: '-r other.txt' is an option, not a pinned requirement"])
    """
    requirements, problems = [], []
    lines = text.splitlines()
    number = 0
    while number < len(lines):
        first = number + 1
        line = lines[number]
        while line.endswith("\\") and number + 1 < len(lines):
            number += 1
            line = line[:-1] + lines[number]
        number += 1
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        if not line:
            continue
        if line.startswith("-"):
            problems.append(f"line {first}: {line!r} is an option, not a pinned requirement")
            continue
        try:
            pinned = pinned_version(line)
        except ValueError:
            pinned = None
        if pinned is None:
            problems.append(f"line {first}: {line!r} is not pinned with ==")
        else:
            requirements.append(line)
    return requirements, problems


def make_throwaway_venv(args: argparse.Namespace, venv_dir: Path) -> Path | None:
    """The python of a new venv in venv_dir (its pip version printed), or None when it can't be made."""
    try:
        vpython = make_venv(args.python, venv_dir, args.upgrade_pip)
        pip_version = subprocess.run([str(vpython), "-m", "pip", "--version"], capture_output=True,
                                     text=True, check=True).stdout.split(" from ")[0]
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"check_gpu_pins: could not make a venv with {args.python}: {exc}")
        return None
    print(f"  venv: {args.python} ({pip_version})")
    return vpython


@contextlib.contextmanager
def throwaway_resolver(args: argparse.Namespace):
    """A function that resolves requirements (pip's dry run) in a new venv of a temporary folder,
    removed on exit; None when the venv cannot be made."""
    with tempfile.TemporaryDirectory(prefix="check_gpu_pins-") as tmp:
        vpython = make_throwaway_venv(args, Path(tmp) / "venv")
        if vpython is None:
            yield None
            return

        def resolve_here(requirements: list[str], report_name: str = "report.json"):
            return resolve(vpython, requirements, Path(tmp) / report_name, args.timeout, args.isolated)

        yield resolve_here


def print_failures(failures: list[str]) -> bool:
    """Print the FAIL verdict and its reasons; whether there were any."""
    if failures:
        print("\nFAIL")
        for failure in failures:
            print(f"  - {failure}")
    return bool(failures)


def print_caps(name: str, constraints: dict[str, list[str]]) -> None:
    for line in constraints.get(name, []):
        print(f"{'':<14} capped by {line}")


def check_requirements(args: argparse.Namespace, core: dict[str, str], core_pins: dict[str, str | None]) -> int:
    """--requirements FILE: resolve the file on its own and compare it with the core pins."""
    path = Path(args.requirements)
    if not path.is_absolute() and not path.exists():
        path = REPO_ROOT / path
    try:
        text = path.read_text()
    except OSError as exc:
        print(f"check_gpu_pins: can't read the requirements file {args.requirements}: {exc}")
        return 2
    requirements, failures = read_requirements_file(text)
    file_pins = {normalize(split_requirement(r)[0]): pinned_version(r) for r in requirements}
    cmd_reqs = ["-r", str(path.resolve())]
    torch_note = f"torch=={file_pins['torch']} as the file pins it" if "torch" in file_pins else ""
    if "torch" not in file_pins:
        cmd_reqs.append(f"torch=={core_pins['torch']}")
        torch_note = f"torch=={core_pins['torch']} (the core pin: the file has no torch line)"

    cpu_python = Path(args.cpu_python) if args.cpu_python else venv_python(REPO_ROOT / ".venv")
    cpu = cpu_venv_versions(cpu_python)

    print(f"check_gpu_pins: requirements file {args.requirements} ({len(requirements)} pinned lines)")
    print(f"  resolving it on its own, with {torch_note}")
    with throwaway_resolver(args) as resolve_here:
        if resolve_here is None:
            return 2
        ok, picked, constraints, output = resolve_here(cmd_reqs)
    if not ok:
        failures.insert(0, "the resolution failed")
        print("\nRESOLUTION FAILED; pip says:")
        print(explain_failure(output))

    print("\ncore pins of pyproject.toml in this file:")
    print(f"{'package':<14} {'core pin':<12} {'file':<14} {'resolved':<14} status")
    moved = []
    for name, req in core.items():
        pin = core_pins.get(name)
        in_file = file_pins.get(name)
        got = picked.get(name)
        if not ok:
            status = "kept" if in_file == pin else (f"MOVED {pin} -> {in_file}" if in_file else "not in the file")
        elif got is None:
            status = "MISSING: neither the file nor its dependencies install it"
            failures.append(f"{name}: not installed by the file, so `pip install --no-deps -e .` leaves it out")
        elif pin and public_version(got) == pin:
            status = "kept" if in_file else "kept (not in the file; pulled in at the core pin)"
        elif pin:
            status = f"MOVED {pin} -> {got}" + ("" if in_file else " (not in the file; pulled in)")
            moved.append(f"{name} {pin} -> {got}")
        else:
            status = f"core requires {split_requirement(req)[1] or 'any version'}; resolved {got}"
        print(f"{name:<14} {pin or '-':<12} {in_file or '-':<14} {got or '-':<14} {status}")
        if status.startswith("MOVED") and ok:
            print_caps(name, constraints)

    others = [n for n in INTERESTING_REQUIREMENTS if n not in core]
    others += [n for n in file_pins if n not in core and n not in others]
    print("\nother packages (the file's own and the interesting ones):")
    print(f"{'package':<14} {'file':<14} {'CPU venv':<14} {'resolved':<14} status")
    for name in others:
        got = picked.get(name)
        status = ""
        if not ok:
            pass
        elif got is None:
            status = "not installed by this resolution"
        elif name not in file_pins and cpu.get(name) and public_version(cpu[name]) != public_version(got):
            status = f"differs from the CPU venv ({cpu[name]} there)"
        print(f"{name:<14} {file_pins.get(name, '-'):<14} {cpu.get(name, '-'):<14} {got or '-':<14} {status}")
        if status.startswith("differs"):
            print_caps(name, constraints)

    if print_failures(failures):
        return 1
    print(f"\nPASS: {args.requirements} resolves on its own, every line is pinned with ==, and it installs every "
          "core dependency" + (f"; core pins moved on purpose: {', '.join(moved)}" if moved else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--extra", default="gpu", choices=EXTRAS, help="the optional-dependencies extra to check")
    parser.add_argument("--requirements", metavar="FILE", default=None,
                        help="check this requirements file on its own instead of the extra, e.g. "
                             "configs/unsloth-requirements.txt")
    parser.add_argument("--python", default=sys.executable, help="interpreter for the throwaway venv")
    parser.add_argument("--candidate", action="append", default=[], metavar="REQ",
                        help="a pin to try instead of the extra's entry, e.g. 'vllm==0.30.0' (repeatable)")
    parser.add_argument("--allow-core-override", action="store_true",
                        help="let a --candidate replace a core pin (reported as overridden, not failed)")
    parser.add_argument("--cpu-python", default=None,
                        help="interpreter of the CPU venv to compare with (default: <repo>/.venv)")
    parser.add_argument("--upgrade-pip", action="store_true", help="upgrade pip in the throwaway venv first")
    parser.add_argument("--isolated", action="store_true",
                        help="run pip with --isolated (ignore pip config files and PIP_* variables)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds for one pip resolution")
    parser.add_argument("--no-explain", action="store_true",
                        help="on failure, skip resolving the extra alone beside the torch pin")
    args = parser.parse_args(argv)

    pyproject = read_pyproject(REPO_ROOT)
    project = pyproject["project"]
    extras = project.get("optional-dependencies", {})
    if not args.requirements and args.extra not in extras:
        print(f"check_gpu_pins: no extra {args.extra!r} in pyproject.toml (have: {', '.join(extras)})")
        return 2
    core = {normalize(split_requirement(req)[0]): req for req in project.get("dependencies", [])}
    core_pins = {name: pinned_version(req) for name, req in core.items()}
    torch_pin = core_pins.get("torch")
    if not torch_pin:
        print("check_gpu_pins: the core dependencies have no `torch==` pin to resolve beside")
        return 2
    if args.requirements:
        if args.candidate or args.allow_core_override:
            print("check_gpu_pins: --candidate and --allow-core-override are for the extra, not --requirements")
            return 2
        return check_requirements(args, core, core_pins)

    candidates = list(args.candidate)
    try:
        for cand in candidates:
            split_requirement(cand)
    except ValueError as exc:
        print(f"check_gpu_pins: {exc}")
        return 2
    core_overrides = {normalize(split_requirement(c)[0]): c for c in candidates
                      if normalize(split_requirement(c)[0]) in core}
    if core_overrides and not args.allow_core_override:
        print(f"check_gpu_pins: --candidate {', '.join(core_overrides.values())} replaces a core pin; "
              "pass --allow-core-override to try another environment on purpose")
        return 2
    extra_candidates = [c for c in candidates if normalize(split_requirement(c)[0]) not in core]
    original = list(extras[args.extra])
    entries = apply_candidates(original, extra_candidates)

    failures: list[str] = []
    for entry in entries:
        if pinned_version(entry) is None:
            failures.append(f"extra [{args.extra}] entry {entry!r} is not pinned with ==")

    # The project itself brings the core pins in, unless a candidate replaces an entry that pyproject
    # already pins (pip would intersect the two) or a core pin: then its requirements are listed one by one.
    replaces_pin = any(
        normalize(split_requirement(o)[0]) in {normalize(split_requirement(c)[0]) for c in extra_candidates}
        and pinned_version(o) is not None
        for o in original
    )
    if core_overrides or replaces_pin:
        core_reqs = [core_overrides.get(name, req) for name, req in core.items()]
        requirements = [*core_reqs, *entries]
        mode = "core dependencies and extra entries listed one by one (a candidate replaces a pin)"
    else:
        requirements = [f"{REPO_ROOT}[{args.extra}]", *extra_candidates]
        mode = f"the project '{REPO_ROOT}[{args.extra}]'"
    torch_req = core_overrides.get("torch", f"torch=={torch_pin}")
    requirements.append(torch_req)

    cpu_python = Path(args.cpu_python) if args.cpu_python else venv_python(REPO_ROOT / ".venv")
    cpu = cpu_venv_versions(cpu_python)

    print(f"check_gpu_pins: extra [{args.extra}] = {original}")
    if candidates:
        print(f"  candidates: {candidates}")
    print(f"  resolving {mode}, with {torch_req}")
    with throwaway_resolver(args) as resolve_here:
        if resolve_here is None:
            return 2
        ok, picked, constraints, output = resolve_here(requirements)
        table_of = "the resolution"

        if not ok:
            failures.append("the resolution failed")
            print("\nRESOLUTION FAILED; pip says:")
            print(explain_failure(output))
            if not args.no_explain:
                alone = [*entries, torch_req]
                print(f"\n  resolving the extra alone beside {torch_req}: {alone}")
                ok_alone, picked, constraints, output_alone = resolve_here(alone, "report-alone.json")
                table_of = f"the extra resolved alone beside {torch_req} (not the project)"
                if not ok_alone:
                    print("  the extra does not resolve even beside the torch pin alone; pip says:")
                    print(explain_failure(output_alone))

    names = list(INTERESTING)
    names += [normalize(split_requirement(e)[0]) for e in entries if normalize(split_requirement(e)[0]) not in names]
    print(f"\nversions picked by {table_of}:")
    print(f"{'package':<14} {'core pin':<12} {'CPU venv':<14} {'resolved':<14} status")
    for name in names:
        pin = core_pins.get(name)
        got = picked.get(name)
        status = ""
        if name in core_overrides:
            status = f"overridden by --candidate {core_overrides[name]}"
        elif pin and got and public_version(got) != pin:
            status = f"CHANGES the core pin {pin} -> {got}"
            failures.append(f"{name}: the resolution picks {got}, the core pins {pin}")
        elif pin and got:
            status = "ok"
        elif not pin and got and cpu.get(name) and public_version(cpu[name]) != public_version(got):
            status = f"differs from the CPU venv ({cpu[name]} there); not pinned in core"
        elif got is None and picked:
            status = "not installed by this resolution"
        print(f"{name:<14} {pin or '-':<12} {cpu.get(name, '-'):<14} {got or '-':<14} {status}")
        if status.startswith(("differs", "CHANGES")):
            print_caps(name, constraints)

    if print_failures(failures):
        return 1
    if core_overrides:
        print(f"\nPASS, with core pins overridden on purpose ({', '.join(core_overrides.values())}): the extra "
              "resolves beside the other core pins and every entry is pinned with ==")
    else:
        print("\nPASS: the extra resolves beside the core pins and every entry is pinned with ==")
    return 0


if __name__ == "__main__":
    sys.exit(main())
