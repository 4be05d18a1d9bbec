"""`python infer_and_submit.py`: the same program as the console script `facekp-submit` (facekp/commands/submit.py);
see `--help`."""

from facekp.commands.submit import main, run  # noqa: F401 (tests call main)

if __name__ == "__main__":
    run()
