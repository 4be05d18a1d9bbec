"""`python ensemble.py`: the same program as the console script `facekp-ensemble`
(facekp/commands/ensemble.py); see `--help`."""

from facekp.commands.ensemble import main, run  # noqa: F401 (tests call main)

if __name__ == "__main__":
    run()
