"""Export a run's best checkpoint (slim: any run; SavedModel and TFLite: keypoint runs).

    facekp-export --run runs/kp68 --format savedmodel   # runs/kp68/export/savedmodel/
    facekp-export --run runs/kp68 --format tflite       # runs/kp68/export/model.tflite
    facekp-export --run runs/kp68 --format slim --out facekp/shipped/keypoints68  # weights only
    facekp-export --run runs/arcA --format slim --out facekp/shipped/face_embedding  # + threshold, SVM
    facekp-export --run runs/ftA --average runs/ftB runs/ftC --format slim --out runs/soup  # mean weights

The SavedModel and the TFLite model take an image batch (B, H, W, C) float32 of pixel values
0..255 and return keypoints (B, K, 2) in those images' pixels (see facekp/export.py).
"""

from facekp.tfenv import quiet_tensorflow

quiet_tensorflow()  # before TensorFlow's first import (below): no start-up log lines

import argparse
import functools
import os

from facekp.checkpoints import load_run
from facekp.cli import ArgumentParser, run_main
from facekp.errors import InputError
from facekp.fileio import writer_lock
from facekp.export import average_runs, check_export_folder, export_savedmodel, export_slim, export_tflite
from facekp.inference import Predictor


def main(argv=None):
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="trained run directory (best checkpoint)")
    parser.add_argument("--format", required=True, choices=["savedmodel", "tflite", "slim"])
    parser.add_argument("--out", help="default: RUN/export/savedmodel, RUN/export/model.tflite or RUN/export/slim")
    parser.add_argument(
        "--average",
        nargs="+",
        metavar="RUN",
        help="slim: export the mean of the weights of --run and these keypoint runs (a weight soup of "
        "fine-tunes of one model), with --run's config",
    )
    args = parser.parse_args(argv)
    if args.average and args.format != "slim":
        parser.error("--average: only with --format slim")
    default = {"savedmodel": "savedmodel", "tflite": "model.tflite", "slim": "slim"}[args.format]
    out = args.out or os.path.join(args.run, "export", default)
    if args.format != "tflite":  # checked before any model is read
        check_export_folder(out, args.format, [args.run, *(args.average or [])])
    elif os.path.isdir(out):
        raise InputError(f"{out}: a folder; --out names the .tflite file to write")
    if args.format == "slim":
        cfg, model = average_runs([args.run, *args.average]) if args.average else (None, load_run(args.run)[1])
        write = functools.partial(export_slim, model, out, args.run, cfg)
    else:
        export = export_savedmodel if args.format == "savedmodel" else export_tflite
        write = functools.partial(export, Predictor.from_run(args.run), out)
    with writer_lock(out):  # once the run has loaded: no folder made for a run that is not there
        write()
    print(f"wrote {out}")


def run() -> None:
    """The console script's entry point: bad input is one line and exit code 2."""
    run_main(main)


if __name__ == "__main__":
    run()
