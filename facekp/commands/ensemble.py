"""Join trained embedding runs into one embedding (an ensemble run): each member embeds the same
aligned face, and the ensemble's embedding is theirs side by side. It is a run directory like any
embedding run's (verify.py, predict.py --identify, export.py --format slim read it), with its own
distance threshold (the members' validation people) and SVM (--classify-data).

    facekp-ensemble --member runs/arc128F --member runs/arc128A --run runs/ens128 \\
        --classify-data ../shared/data/lfw2017

The members must share the face (input size, channels, crop, aligning keypoint model) and the
people they trained on (data, exclusions, validation split).
"""

from facekp.tfenv import quiet_tensorflow

quiet_tensorflow()  # before TensorFlow's first import (below): no start-up log lines

import argparse
import json

from facekp.cli import ArgumentParser, run_main
from facekp.ensemble import make_ensemble


def main():
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--member", action="append", required=True, help="trained embedding run (repeat: 2 or more)")
    parser.add_argument("--run", required=True, help="the ensemble's run directory (new)")
    parser.add_argument("--classify-data", help="fit the SVM on these people (default: the first member's)")
    args = parser.parse_args()
    summary = make_ensemble(args.member, args.run, args.classify_data)
    print(json.dumps({"run": args.run, **summary}))


def run() -> None:
    """The console script's entry point: bad input is one line and exit code 2."""
    run_main(main)


if __name__ == "__main__":
    run()
