"""The command line documents itself: every command and option has help text, `publisher --help`
shows what ``publisher.cli.COMMANDS`` registers, and README's Commands table names every command
(and only options that exist); README's Templates section names every template, its blocks and
a card's fields as they are; README's publisher.toml snippets load, and name every key."""

from __future__ import annotations

import importlib
import re
import shlex
import subprocess
import sys
import tomllib
import typing
from collections.abc import Iterator
from pathlib import Path

import click
import jinja2
import pytest

from publisher.cli import COMMANDS, main
from publisher.config import Config, _keys, parse_config
from publisher.render.card import Card
from publisher.render.engine import DEFAULT_TEMPLATES, template_environment
from publisher.sources.schema import FIELDS, FILM_FIELDS
from tests.fixtures import REPO, run_cli


def walk(command: click.Command, path: tuple[str, ...] = ()
         ) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """``command`` and every command under it, each with the words that invoke it."""
    yield path, command
    if isinstance(command, click.Group):
        ctx = click.Context(command, info_name=" ".join(("publisher", *path)))
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, f"{' '.join(path)} lists {name!r} but cannot load it"
            yield from walk(sub, (*path, name))


COMMAND_TREE = dict(walk(main))


def runnable(command: click.Command) -> bool:
    """A command a user runs: not a group that only holds others."""
    return not isinstance(command, click.Group) or command.invoke_without_command


def readme_commands() -> dict[tuple[str, ...], str]:
    """README's Commands table: {command words: the synopsis after them}."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = readme.split("\n### Commands\n", 1)[1].split("\n#", 1)[0]
    rows = {}
    for synopsis in re.findall(r"^\| `publisher ([^`]*)` \|", table, re.M):
        words = synopsis.split()
        n = next((i for i, w in enumerate(words) if not re.fullmatch(r"[a-z][a-z-]*", w)),
                 len(words))
        rows[tuple(words[:n])] = " ".join(words[n:])
    return rows


@pytest.mark.parametrize("path", COMMAND_TREE, ids=lambda p: " ".join(("publisher", *p)))
def test_every_command_and_option_has_help(path):
    command = COMMAND_TREE[path]
    assert (command.help or "").strip(), f"{path}: no help text"
    options = [p for p in command.params if isinstance(p, click.Option) and not p.hidden]
    for option in options:
        assert (option.help or "").strip(), f"{path}: {option.opts[0]} has no help text"
    result = run_cli(*path, "--help", now=None)
    assert result.exit_code == 0, result.output
    assert len(result.stdout.split("\n\n")[1].strip()) > 20  # the description, not just usage
    for option in options:
        assert option.opts[-1] in result.stdout, f"{path}: --help does not show {option.opts}"


def test_every_command_is_in_the_readme_commands_table():
    documented = readme_commands()
    commands = {path for path, command in COMMAND_TREE.items() if path and runnable(command)}
    assert sorted(commands - documented.keys()) == [], "commands missing from README's table"
    assert sorted(documented.keys() - commands) == [], "README's table names no such command"
    for path, synopsis in documented.items():
        known = {opt for p in COMMAND_TREE[path].params for opt in p.opts}
        for option in re.findall(r"--[a-z][a-z-]*", synopsis):
            assert option in known, f"README: publisher {' '.join(path)} has no {option}"


def test_each_registered_command_is_what_publisher_help_shows():
    result = run_cli("--help", now=None)
    assert result.exit_code == 0, result.output
    section = result.stdout.split("\nCommands:\n", 1)[1]
    # one line each: a one-line help that wraps would read as another command here
    shown = dict(re.findall(r"^  (\S+) +(\S.*)$", section, re.M))
    assert shown == {name: one_line for name, (_, one_line) in COMMANDS.items()}

    ctx = click.Context(main, info_name="publisher")
    for name, (target, one_line) in COMMANDS.items():
        module_name, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(f"publisher.cli.{module_name}"), attribute)
        assert isinstance(command, click.Command), f"{target} is not a click command"
        assert command.name == name, f"COMMANDS[{name!r}] is the command {command.name!r}"
        assert main.get_command(ctx, name) is command
        assert command.get_short_help_str() == one_line


def test_publisher_help_loads_no_command_module():
    # The registry exists so that --help (and a mistyped command) answers without importing
    # the commands and the library behind them.
    code = ("import sys\nfrom publisher.cli import main\ntry:\n    main(['--help'])\n"
            "except SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('publisher.cli.')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def readme_templates() -> tuple[dict[str, str], str]:
    """README's table of templates ({template name: its blocks column}) and its whole
    Templates section."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n### Templates\n", 1)[1].split("\n### ", 1)[0]
    rows = {}
    for names, blocks in re.findall(r"^\| (`[^|]*) \|.*\| ([^|]*) \|$", section, re.M):
        for name in re.findall(r"`([^`]+\.j2)`", names):
            rows[name] = blocks
    return rows, section


def test_readme_names_every_template_with_the_blocks_it_has():
    # A designer writes a template from README: a name or a block it gets wrong is silently
    # nothing (a block that the template extended does not have is an error, since).
    documented, _ = readme_templates()
    packaged = sorted(p.name for p in DEFAULT_TEMPLATES.glob("*.j2"))
    assert sorted(set(packaged) - documented.keys()) == [], "templates missing from README"
    assert sorted(documented.keys() - set(packaged)) == [], "README names no such template"
    env = template_environment(DEFAULT_TEMPLATES)  # the defaults alone
    for name, column in documented.items():
        shown: set[str] = set()
        parent: str | None = name
        while parent is not None:
            tree = env.parse(env.loader.get_source(env, parent)[0])
            shown |= {block.name for block in tree.find_all(jinja2.nodes.Block)}
            extends = tree.find(jinja2.nodes.Extends)
            parent = extends.template.value if extends is not None else None
        for block in re.findall(r"`([a-z_]+)`", column):
            assert block in shown, f"README: {name} has no block {block!r}"


def test_readme_names_a_cards_fields_as_they_are():
    _, section = readme_templates()
    sentence = section.split("A review's `card` holds ", 1)[1].split(";", 1)[0]
    fields = re.findall(r"`([a-z_]+)`", sentence)
    assert len(fields) > 20
    assert [f for f in fields if not hasattr(Card, f) and f not in Card.__dataclass_fields__] == []


def test_readme_example_review_names_every_front_matter_field():
    """An editor correcting a published review looks up `updated` in the example review; a
    field missing there is one nobody learns of."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Review sources: `reviews/*.md`", 1)[1]
    front = section.split("```markdown", 1)[1].split("```", 1)[0].split("---")[1]
    shown = set(re.findall(r"^\s*([a-z_]+):", front, re.MULTILINE))
    assert [f for f in (*FIELDS, *FILM_FIELDS) if f not in shown] == []


def readme_toml() -> list[str]:
    """Every ```toml snippet of README, as written."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    return re.findall(r"^```toml\n(.*?)^```", readme, re.M | re.S)


@pytest.mark.parametrize("snippet", readme_toml(), ids=lambda s: s.split("\n", 1)[0])
def test_each_publisher_toml_snippet_in_the_readme_loads(snippet):
    # Pasted into a publication as shown: a key misspelt or in the wrong table is an error.
    text = snippet if re.search(r"^title =", snippet, re.M) else (
        'title = "T"\nbase_url = "https://reel.test/"\n' + snippet)
    parse_config(text, root=Path("."), path=Path("publisher.toml"))


def test_the_readme_names_every_key_of_publisher_toml_in_a_snippet():
    """The publisher.toml that init writes sends the editor to README "for every key": each
    is in one of its snippets (a line commented out counts), under its own table."""
    named: set[str] = set()
    for snippet in readme_toml():
        table = ""
        for line in snippet.splitlines():
            if header := re.match(r"\[([a-z_]+)\]", line):
                table = header[1] + "."
            elif key := re.match(r"#? ?([a-z_]+) += ", line):
                named.add(table + key[1])
            elif table == "moved." and line.startswith('"'):
                named.add("moved")
    keys = set()
    for name, tp in typing.get_type_hints(Config).items():
        if name not in _keys(Config):
            continue
        if isinstance(tp, type) and hasattr(tp, "__dataclass_fields__"):
            keys |= {f"{name}.{key}" for key in _keys(tp)}
        else:
            keys.add(name)
    assert sorted(keys - named) == [], "keys README's snippets leave out"
    assert sorted(named - keys) == [], "README's snippets name no such key"


#: What README writes for a value of a type the parser checks: an issue's number, a port, a
#: day, a subscriber's status.
PLACEHOLDERS = {"N": "1", "P": "8001", "DATE": "2026-10-02", "S": "active"}


def readme_command_lines() -> list[str]:
    """Every `publisher …` command line README shows, in code spans (the Commands table's
    synopses with every optional part given, the first of two alternatives) and sh blocks."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    found = re.findall(r"`(publisher [^`]*)`", readme)
    for block in re.findall(r"^```sh\n(.*?)^```", readme, re.M | re.S):
        found += re.findall(r"(?:^|&& |bin/)(publisher .*)$", block, re.M)
    lines = []
    for line in found:
        line = re.sub(r"\[([^]]*?) \\\| [^]]*\]", r"\1", line)  # [--last N \| --since D]
        line = re.sub(r"\[([^]]*)\]", r"\1", line).replace("-D/--drafts", "--drafts")
        for command in re.split(r" (?:&&|\\?\|) ", line.replace("-F/--future", "--future")):
            if command.startswith("publisher "):
                lines.append(command)
    return sorted(set(lines))


def unparsed(ctx: click.Context) -> list[str]:
    """What a group left for its subcommand: click 8.2 on keeps the subcommand's name apart."""
    name = getattr(ctx, "_protected_args", None)
    return [*(ctx.protected_args if name is None else name), *ctx.args]


@pytest.mark.parametrize("line", readme_command_lines())
def test_each_command_line_in_the_readme_parses(line):
    # A reader types what README shows: an option that is not there, or in the wrong place
    # (a group's -C or --now after the command), stops at "No such option".
    words = [PLACEHOLDERS.get(w, w) for w in shlex.split(line, comments=True)[1:]]
    try:
        ctx = main.make_context("publisher", list(words))
    except click.exceptions.Exit as done:  # --version
        assert done.exit_code == 0
        return
    command: click.Command = main
    while isinstance(command, click.Group) and (rest := unparsed(ctx)):
        name, found, rest = command.resolve_command(ctx, rest)
        assert found is not None and name is not None
        command = found
        if not rest and any(p.required for p in command.params):
            return  # the command named in a sentence ("`publisher init` makes it")
        ctx = command.make_context(name, rest, parent=ctx)


def test_each_pip_install_in_the_readme_installs_this_checkout_with_extras_it_has():
    # PyPI's "publisher" is another project: `pip install 'publisher[postgres]'` on a fresh
    # host installs that, not psycopg beside this one.
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    installs = re.findall(r"pip install ((?:-[a-zA-Z-]+ )*)('[^']*'|[^\s`-]\S*)", readme)
    assert len(installs) >= 4
    for _, target in installs:
        name, _, extras = target.strip("'").partition("[")
        assert name == ".", f"README: pip install {target} is not this checkout"
        for extra in filter(None, extras.rstrip("]").split(",")):
            assert extra in project["optional-dependencies"], f"README: no extra {extra!r}"
