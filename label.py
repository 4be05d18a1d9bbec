"""`python label.py`: the same program as the console script `facekp-label`
(facekp/commands/label.py); see `--help`."""

from facekp.commands.label import main, run  # noqa: F401 (tests call main)

if __name__ == "__main__":
    run()
