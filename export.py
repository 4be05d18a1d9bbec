"""`python export.py`: the same program as the console script `facekp-export` (facekp/commands/export.py);
see `--help`."""

from facekp.commands.export import main, run  # noqa: F401 (tests call main)

if __name__ == "__main__":
    run()
