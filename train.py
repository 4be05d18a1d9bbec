"""`python train.py`: the same program as the console script `facekp-train` (facekp/commands/train.py);
see `--help`."""

from facekp.commands.train import main, parse_args, run, run_main  # noqa: F401 (tests call them)

if __name__ == "__main__":
    run()
