"""`python verify.py`: the same program as the console script `facekp-verify` (facekp/commands/verify.py);
see `--help`."""

from facekp.commands.verify import main, run  # noqa: F401 (tests call main)

if __name__ == "__main__":
    run()
