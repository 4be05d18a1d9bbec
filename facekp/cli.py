"""Command-line plumbing shared by the scripts: flags from config fields, one-line errors."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import typing
from collections.abc import Callable
from typing import Any, NoReturn

from facekp import __version__
from facekp.config import CONFIG_CLASSES, TrainConfig
from facekp.errors import EXIT_BAD_INPUT, InputError, TrainingStopped
from facekp.tfenv import quiet_tensorflow


class ArgumentParser(argparse.ArgumentParser):
    """argparse with a bad flag reported as one line (`error: ...`, exit 2), not the usage text,
    and `--version`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_argument("--version", action="version", version=f"facekp {__version__}")

    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see --help)", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)

    def parse_args(self, *args, **kwargs) -> argparse.Namespace:
        """argparse's, with an empty --out or --run refused (it would read as not given: the
        default place, the shipped model)."""
        parsed = super().parse_args(*args, **kwargs)
        for name in ("out", "run"):
            if getattr(parsed, name, None) == "":
                self.error(f"--{name}: empty (name the file or folder)")
        return parsed


def check_out_folder(out: str | None, holds: str) -> None:
    """Refuse an --out that exists and is not a folder, before any work: `holds` says what goes in it."""
    if out and os.path.exists(out) and not os.path.isdir(out):
        raise InputError(f"{out}: not a folder (--out names the folder {holds})")


def check_range(flag: str, value: int | None, least: int, most: int) -> None:
    """Refuse a given flag value outside [least, most] with one line."""
    if value is not None and not least <= value <= most:
        raise InputError(f"{flag}: must be from {least} to {most}, got {value}")


def add_config_flags(parser: argparse.ArgumentParser, *config_classes: type[TrainConfig]) -> None:
    """One --flag per field of the config classes (default None = not given), typed and documented
    from the field; in --help, the flags of every class come first, then each class's own, in a
    group named after its tasks (a field in several classes gets one flag)."""
    fields = {}
    for cls in config_classes:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.metadata.get("flag", True):
                fields.setdefault(f.name, (f, hints[f.name], {}))[2][cls] = f.default
    groups = {}
    for name, (f, hint, defaults) in fields.items():
        owners = tuple(defaults) if len(defaults) < len(config_classes) else ()
        if owners not in groups:
            groups[owners] = parser.add_argument_group(_group_title(owners))
        _add_flag(groups[owners], f, hint, defaults, config_classes)


def _group_title(owners):
    """The --help heading of the flags that only `owners` have (none: every task's flags)."""
    if not owners:
        return "common to every task"
    return " and ".join(f"{cls.FAMILY} tasks (--task {', '.join(cls.TASKS)})" for cls in owners)


def _add_flag(group, f, hint, defaults, config_classes):
    flag = "--" + f.name.replace("_", "-")
    help_text = f.metadata.get("help", "") + _default_text(f, defaults)
    if hint is bool:
        group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        return
    choices = [c for cls in config_classes for c in _field_choices(cls, f.name)]
    choices = list(dict.fromkeys(choices)) or None
    group.add_argument(
        flag,
        type=hint,
        default=None,
        help=help_text,
        choices=choices,
        metavar="|".join(map(str, choices)) if choices else f.name.upper(),
    )


def _default_text(f, defaults):
    """' (default: ...)' for a field's help: its default, or each task family's where they differ;
    nothing where the help already says it or the default is empty."""
    if "default:" in f.metadata.get("help", ""):
        return ""
    shown = {cls: _shown(value) for cls, value in defaults.items()}
    if f.name == "task" or len(set(shown.values())) == 1:  # --task picks the class; none: the first
        first = next(iter(shown.values()))
        return f" (default: {first})" if first else ""
    return " (default: " + ", ".join(f"{value} for {cls.FAMILY} tasks" for cls, value in shown.items()) + ")"


def _shown(value):
    """A default as --help writes it: on/off for a switch, nothing for an empty string."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _field_choices(config_class, name):
    """The choices a config class's field accepts (empty if any value of its type may do)."""
    field = {f.name: f for f in dataclasses.fields(config_class)}.get(name)
    return (field.metadata.get("choices") or ()) if field else ()


def given_fields(args: argparse.Namespace, config_class: type[TrainConfig]) -> dict[str, Any]:
    """The config fields the user set on the command line; a flag of another task is an error."""
    names = {f.name for f in dataclasses.fields(config_class)}
    any_config = {f.name for cls in CONFIG_CLASSES.values() for f in dataclasses.fields(cls)}
    given = {key: value for key, value in vars(args).items() if value is not None}
    foreign = [key for key in given if key in any_config and key not in names]
    if foreign:
        flags = ", ".join("--" + key.replace("_", "-") for key in sorted(foreign))
        raise InputError(f"{flags}: not a setting of {config_class.__name__} (task {given.get('task', '')})")
    return {key: value for key, value in given.items() if key in names}


def run_main(main: Callable[[], Any], quiet: bool = True) -> Any:
    """Run `main()`; bad input becomes one line on stderr and exit code 2, never a traceback."""
    if quiet:
        quiet_tensorflow()
    try:
        return main()
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    except OSError as e:  # a failed read or write (disk full, permissions): name the file
        print(f"error: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    except TrainingStopped as e:
        print(f"stopped: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:  # where a command has nothing of its own to say (its outputs are written whole)
        print("interrupted", file=sys.stderr)
        sys.exit(130)
