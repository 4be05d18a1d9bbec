"""Write a Kaggle submission from a trained run, or check an existing submission.

    python infer_and_submit.py --task kaggle15 --run runs/k15                # submission-<time>.csv
    python infer_and_submit.py --task kaggle15 --run runs/k15 --data DIR --out sub.csv
    python infer_and_submit.py --task kaggle15 --check sub.csv --data DIR    # validate a file
"""
import argparse
import os
import time

from facekp.cli import run_main
from facekp.errors import InputError

TASKS = ("kaggle15",)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", required=True, help=f"which competition: {' | '.join(TASKS)}")
    parser.add_argument("--run", help="trained run directory (its best checkpoint is used)")
    parser.add_argument("--data", help="folder with test.csv/.zip and IdLookupTable.csv (default: the run's data)")
    parser.add_argument("--out", help="submission path (default: submission-<timestamp>.csv here)")
    parser.add_argument("--check", metavar="FILE", help="only validate FILE against IdLookupTable.csv")
    parser.add_argument("--flip-tta", action="store_true",
                        help="average with the mirrored image's prediction (helps only with left/right-unbiased labels)")
    return parser.parse_args()


def submit_kaggle15(args):
    from facekp import plots, submission
    from facekp.data import kaggle_fkd

    if args.check:
        if not args.data:
            raise InputError("--check needs --data (the folder with IdLookupTable.csv)")
        problems = submission.check_keypoint_submission(args.check, kaggle_fkd.read_lookup(args.data))
        if problems:
            raise InputError("; ".join(problems))
        print(f"{args.check}: valid submission")
        return
    if not args.run:
        raise InputError("--run: needed to make a submission")
    from facekp.inference import Predictor
    predictor = Predictor.from_run(args.run)
    if predictor.cfg.task != "kaggle15" or predictor.cfg.input_size != kaggle_fkd.SIDE:
        raise InputError(f"{args.run}: a kaggle15 run at input size {kaggle_fkd.SIDE} is needed, "
                         f"this one is {predictor.cfg.task} at {predictor.cfg.input_size}")
    data = args.data or predictor.cfg.data
    lookup = kaggle_fkd.read_lookup(data)
    image_ids, images = kaggle_fkd.read_test(data)
    points = predictor.predict(images / 255.0, flip_tta=args.flip_tta)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = args.out or f"submission-{stamp}.csv"
    submission.write_keypoint_submission(out, lookup, submission.keypoint_locations(lookup, image_ids, points))
    plot = os.path.join(os.path.dirname(os.path.abspath(out)), f"plot-{stamp}.png")
    plots.save_keypoint_figure(plot, images[:16] / 255.0, points[:16], titles=[f"ImageId {i}" for i in image_ids[:16]])
    print(f"wrote {out} ({len(lookup)} rows) and {plot}")


def main():
    args = parse_args()
    if args.task not in TASKS:
        raise InputError(f"--task: unknown task '{args.task}' (choose from {', '.join(TASKS)})")
    submit_kaggle15(args)


if __name__ == "__main__":
    run_main(main)
