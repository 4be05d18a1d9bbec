"""`python predict.py`: the same program as the console script `facekp-predict` (facekp/commands/predict.py);
see `--help`."""

from facekp.commands.predict import main, run  # noqa: F401 (tests call main)

if __name__ == "__main__":
    run()
