"""Keypoints for a folder (recursive) or files of face crops, or with --detect for photos with
any number of faces. Uses the shipped 68-point model unless --run names another.

    facekp-predict data/samples                       # crops: one face each
    facekp-predict --detect photo.jpg other.jpg       # every face in each photo (MTCNN)
    facekp-predict --detect --detector haar photo.jpg # OpenCV's Haar cascades instead
    facekp-predict --run runs/kp68 --out results/ DIR
    facekp-predict --detect --overlay sunglasses photo.jpg    # overlay-<time>-photo.png
    facekp-predict --feature-maps DIR                         # features-<time>-NAME.png
    facekp-predict --detect --identify GALLERY --embedding-run runs/emb photo.jpg
                      # name every face: nearest enrolled person of GALLERY/<person>/*.jpg, or unknown

Writes prediction-<timestamp>.csv and plot-<timestamp>.png into --out (default: the folder of
the first input; <timestamp>-2 when another run of that second took the name). Photos are read
as viewers show them (a phone's photo stored turned is turned upright by its EXIF orientation),
points in the upright photo's pixels. Unreadable files, and photos over 250 megapixels, are reported by name and
skipped; exit code 2 if none could be read. Memory stays near 3 bytes per pixel of the largest
photo on top of the model (faces are found on a copy of at most 1600 pixels a side). The plot
draws each face's points sized by the face, and beside a photo with several faces, every face
enlarged.
"""

from facekp.tfenv import quiet_tensorflow

quiet_tensorflow()  # before TensorFlow's first import (below): no start-up log lines

import argparse
import os
import sys

from facekp import overlay as overlays, photos
from facekp.cli import ArgumentParser, check_out_folder, check_range, run_main
from facekp.config import SHIPPED_EMBEDDING, SHIPPED_KEYPOINTS
from facekp.detect import DEFAULT_DETECTOR, DEFAULT_START, DETECTORS, STARTS
from facekp.errors import InputError
from facekp.inference import MAX_REFINE, MAX_THREADS, Predictor
from facekp.schemes import CONVENTIONS
from facekp.opencv import file_problem
from facekp.recognise import Recogniser


def main():
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", help="image files and/or folders (searched recursively)")
    parser.add_argument("--run", help="run directory to load (default: the shipped facekp/shipped/keypoints68)")
    parser.add_argument("--detect", action="store_true", help="find every face in each photo")
    parser.add_argument(
        "--detector",
        choices=DETECTORS,
        default=DEFAULT_DETECTOR,
        help="mtcnn: MTCNN networks, boxes and five landmarks (default); "
        "haar: OpenCV's Haar cascades, lighter, misses more small and turned faces",
    )
    parser.add_argument(
        "--start",
        choices=STARTS,
        default=DEFAULT_START,
        help="where each face's keypoint search starts: landmarks: the mean face fitted to the "
        "detector's five landmarks (mtcnn; default); box: the detector's box, calibrated",
    )
    parser.add_argument("--out", help="output folder (default: the folder of the first input)")
    parser.add_argument(
        "--overlay", help="face filter: sunglasses | moustache | PATH.png (RGBA; placed like sunglasses)"
    )
    parser.add_argument(
        "--refine",
        type=int,
        default=1,
        help="re-crop each face around its own prediction this many times; the keypoints are the mean of all "
        "passes' (default 1)",
    )
    parser.add_argument(
        "--engine",
        choices=["tflite", "tf"],
        default="tflite",
        help="tflite: XNNPACK, converted in memory at load (default, ~5x faster per face); "
        "tf: the Keras model under tf.function",
    )
    parser.add_argument("--threads", type=int, help="--engine tflite: CPU threads (default: all cores)")
    parser.add_argument(
        "--convention",
        choices=CONVENTIONS,
        help="the labelling convention of the points, for a model with one head per convention "
        "(default: its first; the shipped model's is 300w, 300-W's)",
    )
    parser.add_argument(
        "--feature-maps",
        action="store_true",
        help="also save what the first and last conv layers see for each file's first face",
    )
    parser.add_argument(
        "--identify",
        metavar="GALLERY_DIR",
        help="name each face: the nearest person enrolled from GALLERY_DIR/<person>/*.jpg",
    )
    parser.add_argument(
        "--embedding-run",
        default=SHIPPED_EMBEDDING,
        help="embedding run for --identify (default: the shipped facekp/shipped/face_embedding)",
    )
    parser.add_argument(
        "--threshold", type=float, help="--identify: largest distance still called a match (default: the run's own)"
    )
    args = parser.parse_args()
    check_range("--refine", args.refine, 0, MAX_REFINE)
    check_range("--threads", args.threads, 1, MAX_THREADS)
    if args.threshold is not None and not (args.identify and 0 < args.threshold <= 2):
        raise InputError(f"--threshold {args.threshold}: a distance in (0, 2] between unit embeddings, with --identify")
    check_out_folder(args.out, "the CSV and plot go into")

    overlay = None
    if args.overlay:
        kind = "moustache" if args.overlay == "moustache" else "sunglasses"
        overlay = (kind, overlays.load_overlay(args.overlay))
    paths = photos.find_images(args.inputs)
    problems = {path: file_problem(path) for path in paths}
    for path, problem in problems.items():
        if problem:
            print(f"{path}: {problem}, skipped", file=sys.stderr)
    paths = [path for path, problem in problems.items() if not problem]
    if not paths:
        raise InputError(f"{', '.join(args.inputs)}: no image files found")
    predictor = Predictor.from_run(args.run or SHIPPED_KEYPOINTS, args.engine, args.threads, args.convention)
    identify = None
    if args.identify:
        if not os.path.isdir(args.embedding_run):
            raise InputError(f"--embedding-run {args.embedding_run}: no such run directory")
        recogniser = Recogniser(args.embedding_run)
        threshold = args.threshold if args.threshold is not None else recogniser.threshold()
        if recogniser.cfg.task != "embedding" or threshold is None:
            raise InputError(
                f"--embedding-run {args.embedding_run}: needs a trained embedding run "
                f"(with its recognition.json threshold, or give --threshold)"
            )
        identify = (recogniser, photos.enrol(args.identify, predictor, recogniser, threshold, args.detector))
    first = args.inputs[0]
    out_dir = args.out or (first if os.path.isdir(first) else os.path.dirname(os.path.abspath(first)))
    csv_path, plot_path, read = photos.predict_files(
        paths,
        predictor,
        out_dir,
        args.detect,
        overlay,
        args.feature_maps,
        args.refine,
        identify,
        detector=args.detector,
        start=args.start,
    )
    if not read:
        raise InputError(f"{', '.join(args.inputs)}: none of the {len(paths)} files could be read")
    print(f"wrote {csv_path} and {plot_path} ({read} of {len(paths)} files read)")


def run() -> None:
    """The console script's entry point: bad input is one line and exit code 2."""
    run_main(main)


if __name__ == "__main__":
    run()
