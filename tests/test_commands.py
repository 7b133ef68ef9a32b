"""Every shell command in the README and the docs runs as written.

The fenced ``bash``, ``sh``, ``shell`` and ``console`` blocks of ``README.md``,
``config/README.md`` and ``docs/*.md`` are split into commands: ``\\`` continuation lines joined,
``#`` comments cut off, a ``$ `` prompt removed (in a ``console`` block only the prompt lines are
commands), ``&&``, ``||``, ``;`` and ``|`` separating commands, leading ``NAME=value`` assignments
dropped. Each command is checked against the project:

- ``hgad SUB ...``: the real parser (:func:`hgad.cli.build_parser`) accepts it (subcommands,
  options, choices);
- ``make TARGET ... VAR=value``: ``make -n`` of it succeeds (the target exists; nothing is built);
- ``snakemake ...``: every option is one that ``snakemake --help`` lists, a ``--profile`` folder
  holds ``config.yaml``, a ``--configfile`` of the repository passes validation;
- ``python SCRIPT ...``: the script exists and every option appears in its ``--help`` (its
  subcommand's, when the first argument is one);
- a script of the repository (``bench/gpu_check.sh``): it exists and is executable;
- ``source .venv/bin/activate``, which ``make`` creates;
- any other program must be on ``PATH``;
- every argument whose first path component is a tracked top-level file or folder of the
  repository (``config/...``, ``bench/...``, ``profiles/...``) names a file that exists.

Marking: a command whose comment says ``needs: WHAT`` needs something a fresh clone does not have
(``gpu``, ``dataset``, ``demo`` for the outputs of ``make demo``, ``slurm``, ``network``,
``conda``). It is checked as above but not run, and its program need not be on ``PATH``. Every
unmarked ``hgad`` command is run from the repository's root (the documented ones take seconds:
``hgad --help``, ``hgad check-config --config config/demo.yaml``) and must exit with status 0.
Nothing else is run. The convention is documented in docs/install.md.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHELL_FENCES = {"bash", "sh", "shell", "console"}
FENCE = re.compile(r"^\s*```\s*([\w-]*)")
NEEDS = re.compile(r"\bneeds:\s*([\w-]+)")
PROMPT = "$ "
OPERATORS = {"&&", "||", ";", "|"}
ASSIGNMENT = re.compile(r"^[A-Za-z_]\w*=")
OPTION = re.compile(r"--?[A-Za-z][\w-]*")
VENV_ACTIVATE = ".venv/bin/activate"
RUN_TIMEOUT_S = 120
# A rule in make's database: "target: prerequisites" (not a variable's "name := value").
TARGET_LINE = re.compile(r"^([^\s:#=][^:=]*?)::?(?!=)\s*(.*)$")


@dataclass(frozen=True)
class Command:
    """One command of a document: where it is, its words, and what it needs (None: nothing)."""

    source: str
    line: int
    text: str
    words: tuple[str, ...]
    needs: str | None

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}: {self.text}"


def documents(root: Path = REPO) -> list[Path]:
    """The Markdown files whose commands are checked."""
    return [root / "README.md", root / "config" / "README.md",
            *sorted((root / "docs").glob("*.md"))]


def split_comment(line: str) -> tuple[str, str]:
    """``line`` as (code, comment): the comment starts at a ``#`` outside quotes that begins a
    word."""
    quote = None
    for index, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index].rstrip(), line[index + 1:].strip()
    return line.rstrip(), ""


def _shell_lines(text: str) -> list[tuple[int, str, bool]]:
    """(line number, line, is console) of every line inside a shell fence."""
    lines, language = [], None
    for number, line in enumerate(text.splitlines(), start=1):
        fence = FENCE.match(line)
        if fence:
            language = None if language is not None else fence.group(1) or ""
        elif language in SHELL_FENCES:
            lines.append((number, line.strip(), language == "console"))
    return lines


def _words(code: str) -> list[list[str]]:
    """The words of each command of one shell line (split at the operators)."""
    lexer = shlex.shlex(code, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    commands = [[]]
    for word in lexer:
        if word in OPERATORS:
            commands.append([])
        else:
            commands[-1].append(word)
    return [words for words in commands if words]


def shell_commands(path: Path, root: Path = REPO) -> list[Command]:
    """The commands of the shell fences of the Markdown file ``path``."""
    commands, pending, start = [], "", 0
    source = str(path.relative_to(root))
    for number, line, console in _shell_lines(path.read_text(encoding="utf-8")):
        if not pending:
            if console and not line.startswith(PROMPT):
                continue  # a console block's output
            line, start = line.removeprefix(PROMPT), number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        code, comment = split_comment(pending + line)
        pending = ""
        needs = NEEDS.search(comment)
        for words in _words(code):
            while words and ASSIGNMENT.match(words[0]):
                words = words[1:]
            if words:
                commands.append(Command(source, start, code, tuple(words),
                                        needs.group(1) if needs else None))
    return commands


def all_commands(root: Path = REPO) -> list[Command]:
    return [command for path in documents(root) if path.is_file()
            for command in shell_commands(path, root)]


# --- the checks --------------------------------------------------------------------------------


@functools.cache
def tracked_top_level(root: Path) -> frozenset[str]:
    """The first path components of the files git tracks (the checkout's own names)."""
    listed = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True)
    if listed.returncode == 0 and listed.stdout:
        return frozenset(name.split("/", 1)[0] for name in listed.stdout.splitlines())
    return frozenset(p.name for p in root.iterdir() if not p.name.startswith("."))


@functools.cache
def help_text(*argv: str) -> str:
    """The output of ``argv --help`` (empty when it fails)."""
    done = subprocess.run([*argv, "--help"], cwd=REPO, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S)
    return done.stdout if done.returncode == 0 else ""


def _options(words: tuple[str, ...]) -> list[str]:
    return [word.split("=", 1)[0] for word in words if OPTION.fullmatch(word.split("=", 1)[0])]


def _value(words: tuple[str, ...], option: str) -> str | None:
    for index, word in enumerate(words):
        if word == option and index + 1 < len(words):
            return words[index + 1]
        if word.startswith(option + "="):
            return word.split("=", 1)[1]
    return None


def missing_paths(words: tuple[str, ...], root: Path) -> list[str]:
    """The arguments naming a file of the repository that does not exist."""
    top = tracked_top_level(root)
    missing = []
    for word in words:
        value = word.split("=", 1)[1] if word.startswith("-") and "=" in word else word
        if value.split("/", 1)[0] in top and not (root / value).exists():
            missing.append(f"{value} does not exist")
    return missing


def check_hgad(args: tuple[str, ...]) -> list[str]:
    """The real parser's complaint about ``hgad args``, if any."""
    from hgad.cli import build_parser

    errors = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(errors):
        try:
            build_parser().parse_args(list(args))
        except SystemExit as stop:
            if stop.code:
                lines = errors.getvalue().strip().splitlines()
                return [lines[-1] if lines else f"hgad: exit status {stop.code}"]
    return []


def defined_targets(database: str) -> set[str]:
    """The targets in ``make -p``'s database that have prerequisites or a recipe (a name that is
    only declared ``.PHONY`` has neither, and ``make -n`` alone would accept it)."""
    defined, name = set(), None
    for line in database.split("\n# Files\n", 1)[-1].splitlines():
        if not line.strip():
            name = None
        elif name is None and (match := TARGET_LINE.match(line)):
            name = match.group(1)
            if match.group(2).strip():
                defined.add(name)
        elif name and line.startswith("#  recipe to execute"):
            defined.add(name)
    return defined


def check_make(args: tuple[str, ...], root: Path) -> list[str]:
    """``make -n args`` (a dry run: nothing is built) succeeds and each goal has a rule."""
    done = subprocess.run(["make", "-n", "-p", *args], cwd=root, capture_output=True,
                          text=True, timeout=RUN_TIMEOUT_S)
    if done.returncode:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        return [f"make -n: {lines[-1]}"]
    defined = defined_targets(done.stdout)
    return [f"make: no rule for target '{goal}'" for goal in args
            if not ASSIGNMENT.match(goal) and not goal.startswith("-") and goal not in defined]


def check_snakemake(args: tuple[str, ...], root: Path) -> list[str]:
    known = set(OPTION.findall(help_text(sys.executable, "-m", "snakemake")))
    problems = [f"snakemake has no option {option}" for option in _options(args)
                if option not in known]
    profile = _value(args, "--profile")
    if profile and not (root / profile / "config.yaml").is_file():
        problems.append(f"--profile {profile}: no {profile}/config.yaml")
    config = _value(args, "--configfile")
    if config and (root / config).is_file():
        from hgad.runtime.config import load_config

        try:
            load_config(root / config)
        except (ValueError, FileNotFoundError) as error:
            problems.append(f"--configfile {config}: {error}")
    return problems


def check_python(args: tuple[str, ...], root: Path) -> list[str]:
    if not args or args[0] == "-m":
        return []
    script = root / args[0]
    if not script.is_file():
        return [f"{args[0]} does not exist"]
    text = help_text(sys.executable, str(script))
    if len(args) > 1 and not args[1].startswith("-"):
        text = help_text(sys.executable, str(script), args[1]) or text
    return [f"{args[0]} has no option {option}" for option in _options(args[1:])
            if option not in OPTION.findall(text)]


def problems(command: Command, root: Path = REPO) -> list[str]:
    """What is wrong with ``command`` (empty: it is valid)."""
    program, args = command.words[0], command.words[1:]
    found = missing_paths(command.words, root)
    if program == "hgad":
        found += check_hgad(args)
    elif program == "make":
        found += check_make(args, root)
    elif program == "snakemake":
        found += check_snakemake(args, root)
    elif program in ("python", "python3"):
        found += check_python(args, root)
    elif program in ("source", "."):
        if args != (VENV_ACTIVATE,):
            found.append(f"source: only {VENV_ACTIVATE} is documented")
    elif "/" in program:
        if (root / program).is_file() and not os.access(root / program, os.X_OK):
            found.append(f"{program} is not executable")
    elif command.needs is None and shutil.which(program) is None:
        found.append(f"{program}: not found (mark what it needs: '# needs: ...')")
    return found


COMMANDS = all_commands()


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: f"{c.source}:{c.line}")
def test_documented_command_is_valid(command):
    assert problems(command) == [], command.where


def _hgad() -> list[str]:
    entry = Path(sys.executable).parent / "hgad"
    return [str(entry)] if entry.is_file() else [sys.executable, "-m", "hgad.cli"]


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.words[0] == "hgad" and not c.needs],
                         ids=lambda c: f"{c.source}:{c.line}")
def test_documented_hgad_command_runs(command):
    done = subprocess.run([*_hgad(), *command.words[1:]], cwd=REPO, capture_output=True,
                          text=True, timeout=RUN_TIMEOUT_S)
    assert done.returncode == 0, f"{command.where}\n{done.stderr[-2000:]}"


def test_the_documents_hold_commands_of_every_kind():
    programs = {command.words[0] for command in COMMANDS}
    assert {"hgad", "make", "snakemake", "source", "python"} <= programs
    assert any(c.words[0] == "hgad" and not c.needs for c in COMMANDS)


# --- the checker finds what is planted ---------------------------------------------------------

PLANTED = """# Planted

```bash
hgad predict --model m.pt --images x --out o --confg c.yaml   # needs: demo
make no-such-target
snakemake --cors 2 --configfile config/nope.yaml
python bench/scale.py --jsn out.json
hgdd --help
source other/activate
```

```console
$ make demo \\
    TORCH=cpu
output line
$ hgad --version && A=1 hgad check-config --config config/x.yaml  # needs: dataset
```

```yaml
not: a command
```
"""


@pytest.fixture
def planted(tmp_path) -> Path:
    """A copy of the repository's Makefile, bench/scale.py and config/ beside a planted page."""
    for name in ("Makefile", "requirements.lock", "pyproject.toml"):
        shutil.copy(REPO / name, tmp_path / name)
    for name in ("bench", "config"):
        shutil.copytree(REPO / name, tmp_path / name)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "planted.md").write_text(PLANTED)
    return tmp_path


def test_commands_are_split_joined_and_marked(planted):
    commands = shell_commands(planted / "docs" / "planted.md", planted)
    assert [(c.line, c.words[:2], c.needs) for c in commands] == [
        (4, ("hgad", "predict"), "demo"),
        (5, ("make", "no-such-target"), None),
        (6, ("snakemake", "--cors"), None),
        (7, ("python", "bench/scale.py"), None),
        (8, ("hgdd", "--help"), None),
        (9, ("source", "other/activate"), None),
        (13, ("make", "demo"), None),
        (16, ("hgad", "--version"), "dataset"),
        (16, ("hgad", "check-config"), "dataset"),
    ]
    assert commands[6].words == ("make", "demo", "TORCH=cpu")


def test_the_check_finds_planted_mistakes(planted, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "tracked_top_level",
                        lambda root: frozenset(p.name for p in root.iterdir()))
    found = {c.line: problems(c, planted)
             for c in shell_commands(planted / "docs" / "planted.md", planted)}
    assert found[4] == ["hgad: error: unrecognized arguments: --confg c.yaml"]
    assert found[5] and "no-such-target" in found[5][0]
    assert found[6] == ["config/nope.yaml does not exist", "snakemake has no option --cors"]
    assert found[7] == ["bench/scale.py has no option --jsn"]
    assert found[8] == ["hgdd: not found (mark what it needs: '# needs: ...')"]
    assert found[9] == ["source: only .venv/bin/activate is documented"]
    assert found[13] == []


def test_a_target_only_declared_phony_is_missing(planted):
    makefile = planted / "Makefile"
    makefile.write_text(makefile.read_text().replace("\ndemo: ", "\nrenamed-demo: "))
    command = Command("docs/planted.md", 1, "make demo", ("make", "demo"), None)
    assert problems(command, planted) == ["make: no rule for target 'demo'"]
