"""Command-line plumbing shared by the scripts: flags from config fields, one-line errors."""
import argparse
import dataclasses
import sys
import typing

from facekp.errors import EXIT_BAD_INPUT, InputError, TrainingStopped
from facekp.tfenv import quiet_tensorflow


def add_config_flags(parser, config_class):
    """One --flag per config field (default None = not given), typed and documented from the field."""
    hints = typing.get_type_hints(config_class)
    for f in dataclasses.fields(config_class):
        flag = "--" + f.name.replace("_", "-")
        help_text = f"{f.metadata.get('help', '')} (default: {f.default})"
        if hints[f.name] is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            parser.add_argument(flag, type=hints[f.name], default=None, help=help_text, metavar=f.name.upper())


def given_fields(args, config_class):
    """The config fields the user set on the command line."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(config_class)
            if getattr(args, f.name, None) is not None}


def run_main(main, quiet=True):
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
