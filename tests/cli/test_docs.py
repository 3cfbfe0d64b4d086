"""The command lines the docs show are ones `cutout` accepts, and the docs name every option."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from cutout.cli.main import parser

DOCS = Path(__file__).resolve().parents[2] / "docs"
# rembg 2.0's commands and flags (rembg/commands/*.py): the switching page maps each one.
REMBG_COMMANDS = ("i", "p", "b", "s", "d")
REMBG_FLAGS = ("-m", "-a", "-af", "-ab", "-ae", "-om", "-ppm", "-bgc", "-x", "-w", "-d", "-dc")


def cutout_argv(command: str) -> list[str]:
    """The arguments of the `cutout ...` part of a shell line (pipes and redirects cut off)."""
    start = re.search(r"(?:^|\s)cutout\s", command).end() - len("cutout ")
    words = shlex.split(command[start:].replace("\\|", "|"))
    for stop in ("|", ">", "<"):
        if stop in words:
            words = words[:words.index(stop)]
    assert words[0] == "cutout"
    return words[1:]


def accepted(argv: list[str]) -> bool:
    try:
        parser().parse_args(argv)
    except SystemExit:
        return False
    return True


def rembg_rows() -> list[tuple[str, str]]:
    rows = []
    for line in (DOCS / "rembg.md").read_text().splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) >= 2 and cells[0].startswith("`rembg"):
            rows.append((cells[0].strip("`").replace("\\|", "|"), cells[1]))
    return rows


def test_every_rembg_command_and_flag_is_mapped() -> None:
    rows = rembg_rows()
    mapped = [shlex.split(rembg.replace("|", " ").replace(">", " ")) for rembg, _ in rows]
    commands = {words[words.index("rembg") + 1] for words in mapped}
    assert set(REMBG_COMMANDS) <= commands
    flags = {word for words in mapped for word in words if word.startswith("-") and word != "-"}
    assert set(REMBG_FLAGS) <= flags, set(REMBG_FLAGS) - flags


@pytest.mark.parametrize("rembg, cutout", [row for row in rembg_rows() if row[1].startswith("`cutout")],
                         ids=lambda value: value[:40])
def test_the_cutout_side_of_each_rembg_row_is_a_valid_command(rembg: str, cutout: str) -> None:
    argv = cutout_argv(cutout.strip("`"))
    assert accepted(argv), f"{rembg} -> cutout {shlex.join(argv)} is refused"


def recipe_lines() -> list[str]:
    text = (DOCS / "recipes.md").read_text() + (DOCS / "cli.md").read_text()
    lines = []
    for block in re.findall(r"```(?:sh|ini)\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if "cutout " in line and "cutout remove" in line or "cutout serve" in line:
                lines.append(line.split("ExecStart=")[-1].replace("/opt/cutout/.venv/bin/", ""))
    return lines


@pytest.mark.parametrize("line", recipe_lines())
def test_each_command_in_the_recipes_and_the_cli_page_is_accepted(line: str) -> None:
    argv = cutout_argv(line)
    if "xargs cutout" in line:
        argv.append("photo.jpg")  # what xargs appends
    assert accepted(argv), line


def test_the_cli_page_names_every_option_of_remove_and_serve() -> None:
    page = (DOCS / "cli.md").read_text()
    commands = parser()._subparsers._group_actions[0].choices
    for name in ("remove", "serve"):
        for action in commands[name]._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert f"`{option}" in page or f"{option} " in page, f"docs/cli.md: {name} {option}"


def test_the_readme_sends_command_line_users_to_the_cli_page() -> None:
    readme = (DOCS.parent / "README.md").read_text()
    assert "docs/cli.md" in readme
