"""Benchmark: the shipped 68-point model as predict.py runs it, on whole frames of validation
people (never seen in training): detection (--detector, default MTCNN), the start box (--start:
its five landmarks' fit, or its calibrated box), then 0 and 1 refinement passes.

    python benchmarks/predict68.py --data ../shared/data/youtube-faces-68 [--run facekp/shipped/keypoints68] [--dlib]

Prints one JSON line: for each refinement setting, NME mean / median / share above 10% against
the true keypoints and ms per face for Predictor.predict_faces (crops, network passes, map back to
the frame) on all cores and on one thread, each call right after a detection of its frame as
predict.py runs them (the detector runs again before each timed call), and (`_back_to_back`)
all frames' calls in a row on all cores, as for a folder of face crops (no detector between
calls to cool the caches); the bare network's ms per
face at batch 1 and 32 for both engines (TFLite/XNNPACK, TensorFlow); how many frames had no
detection (the image centre then starts the search) and the detector's ms per image.

With --convention youtube (or 300w), a model with a head per labelling convention (--conventions
heads) is measured by that head's points; the YouTube frames' truth is in the youtube convention.

With --refine-margins 1.1,1.2,..., the NME with one refinement pass at each of these refinement
margins too (the shipped model's 1.2 was chosen so, on --people training).

With --worst FILE.png, the 5% of frames with the largest NME (refinement 1) are drawn in a grid
(truth green, prediction red, each with its NME and file) and the JSON line says how much of the
mean error they carry: the hard faces that issue 18 asks about.

With --dlib (pip install -e .[dlib]: dlib-bin + face_recognition_models, which ships the .dat), dlib's
68-point predictor runs on the same frames in the same process, twice: as its users run it (its
HOG detector, then the predictor on the largest detection), and on the same detector boxes as ours.
"""

import argparse
import dataclasses
import itertools
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import dlib_models, dlib_points, inference_ms, nme_figures, save_small_png  # noqa: E402
from facekp import detect, metrics, photos, plots  # noqa: E402
from facekp.checkpoints import load_run  # noqa: E402
from facekp.data import youtube68  # noqa: E402
from facekp.data.samples import split_by_group  # noqa: E402
from facekp.config import SHIPPED_KEYPOINTS  # noqa: E402
from facekp.inference import Predictor  # noqa: E402
from facekp.schemes import CONVENTIONS, IBUG68  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data", default=os.path.join(os.environ.get("FACEKP_DATA", "../shared/data"), "youtube-faces-68")
    )
    parser.add_argument("--run", default=SHIPPED_KEYPOINTS)
    parser.add_argument("--dlib", action="store_true", help="also measure dlib's 68-point predictor")
    parser.add_argument("--detector", choices=detect.DETECTORS, default=detect.DEFAULT_DETECTOR)
    parser.add_argument("--start", choices=detect.STARTS, default=detect.DEFAULT_START)
    parser.add_argument("--worst", metavar="FILE.png", help="draw the 5%% worst faces (refinement 1) here")
    parser.add_argument(
        "--refine-margins",
        metavar="M1,M2",
        help="also NME with 1 refinement pass (not mirrored) at each of these --refine-margin",
    )
    parser.add_argument(
        "--convention", choices=CONVENTIONS, help="which head's points (a model with one per convention)"
    )
    parser.add_argument("--no-mirror", action="store_true", help="no mirrored refinement pass (mirror_offsets unused)")
    parser.add_argument(
        "--people",
        choices=("validation", "training"),
        default="validation",
        help="frames of the validation people, or as many frames of training people (to choose settings on)",
    )
    args = parser.parse_args()
    if args.people == "training" and (args.worst or args.dlib):
        parser.error("--worst and --dlib measure the validation people")
    cfg, model = load_run(args.run)  # one model: each Predictor below converts it for its engine
    if cfg.task != "keypoints68":
        parser.error(f"{args.run}: a {cfg.task} run; this measures 68-point runs")
    if args.no_mirror:
        cfg = dataclasses.replace(cfg, mirror_offsets=())
    predictors = {
        "all_cores": Predictor(cfg, model, convention=args.convention),
        "1_thread": Predictor(cfg, model, threads=1, convention=args.convention),
    }
    try:
        margins = [float(m) for m in args.refine_margins.split(",")] if args.refine_margins else []
    except ValueError:
        parser.error(f"--refine-margins: numbers separated by commas, not {args.refine_margins!r}")
    at_margin = {
        m: Predictor(dataclasses.replace(cfg, refine_margin=m, mirror_offsets=()), model, convention=args.convention)
        for m in margins
    }
    ann = youtube68.load(args.data)
    train, val = split_by_group(ann.groups, cfg.val_fraction, cfg.split_seed)
    if args.people == "training":
        val = np.sort(np.random.default_rng(0).choice(train, len(val), replace=False))
    preds, seconds, missed, detect_s, boxes = {0: [], 1: []}, {}, 0, 0.0, []
    margin_preds = {m: [] for m in margins}
    calls = []  # (image, starts) of every frame, timed again back to back
    for i in val:
        rgb = photos.read_image(ann.paths[i])
        image = detect.as_channels(rgb, cfg.channels)
        start = time.perf_counter()
        detections = photos.detect_in(rgb, args.detector)
        detect_s += time.perf_counter() - start
        missed += not detections
        boxes.append(max(detections, key=lambda d: d.box[2] * d.box[3]).box if detections else None)
        _, _, starts = photos.face_starts(detections, rgb.shape, find_all=False, start=args.start)
        calls.append((image, starts))
        for k, (refine, (threads, predictor)) in enumerate(itertools.product(preds, predictors.items())):
            if k:  # each timed call right after a detection of its frame, as predict.py calls it
                photos.detect_in(rgb, args.detector)
            start = time.perf_counter()
            points = predictor.predict_faces(image, starts, refine)[0]
            seconds[refine, threads] = seconds.get((refine, threads), 0.0) + time.perf_counter() - start
            if threads == "all_cores":
                preds[refine].append(points)
        for margin, predictor in at_margin.items():
            margin_preds[margin].append(predictor.predict_faces(image, starts, 1)[0])
    true = ann.keypoints[val]
    figures = {
        "benchmark": "predict68",
        "run": args.run,
        "detector": args.detector,
        "start": args.start,
        "refine_margin": cfg.refinement_margin,
        "convention": predictors["all_cores"].convention,
        "people": args.people,
        "faces": len(val),
        "people_count": len(set(ann.groups[j] for j in val)),
        "no_detection": missed,
        "detector_ms_per_image": round(1000 * detect_s / len(val), 1),
    }
    for refine, points in preds.items():
        figures[f"refine{refine}"] = {
            **nme_figures(points, true),
            **{
                f"ms_per_face_{threads}": round(1000 * seconds[refine, threads] / len(val), 2) for threads in predictors
            },
        }
        start = time.perf_counter()
        for image, starts in calls:
            predictors["all_cores"].predict_faces(image, starts, refine)
        back_to_back_ms = 1000 * (time.perf_counter() - start) / len(val)
        figures[f"refine{refine}"]["ms_per_face_back_to_back"] = round(back_to_back_ms, 2)
    for margin, points in margin_preds.items():
        figures[f"refine1_margin{margin}"] = nme_figures(points, true)
    for name, predictor in [
        ("tflite", predictors["all_cores"]),
        ("tflite_1_thread", predictors["1_thread"]),
        ("tf", Predictor(cfg, model, engine="tf")),
    ]:
        for batch in (1, 32):
            figures[f"network_ms_per_face_{name}_batch{batch}"] = round(
                inference_ms(predictor, batch, max(640 // batch, 5)), 2
            )
    if args.worst:
        paths = [ann.paths[i] for i in val]
        figures["worst_5pct"] = worst_faces(args.worst, paths, np.array(preds[1]), true)
    if args.dlib:
        figures.update(dlib_figures([ann.paths[i] for i in val], true, boxes))
    print(json.dumps(figures))


WORST_SHARE = 0.05


def worst_faces(path, paths, pred, true, columns=6):
    """Draw the WORST_SHARE of faces with the largest NME at `path`; their figures."""
    nme = metrics.nme_per_face(pred, true, np.ones(true.shape[:2]), IBUG68.norm_points)
    count = max(1, int(np.ceil(WORST_SHARE * len(nme))))
    worst = np.argsort(-nme)[:count]
    rows = -(-count // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.4 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), worst):
        image = photos.read_image(paths[i])
        (x0, y0), (x1, y1) = true[i].min(0), true[i].max(0)
        pad = 0.35 * max(x1 - x0, y1 - y0)
        left, top = int(max(0, x0 - pad)), int(max(0, y0 - pad))
        ax.imshow(image[top : int(y1 + pad), left : int(x1 + pad)])
        for points, color in ((true[i], plots.TRUE_COLOR), (pred[i], plots.PRED_COLOR)):
            ax.scatter(points[:, 0] - left, points[:, 1] - top, s=2, c=[color])
        ax.set_title(f"{100 * nme[i]:.1f}% {os.path.basename(paths[i])[:22]}", fontsize=6)
    save_small_png(path, fig)
    return {
        "faces": count,
        "nme_mean": round(float(nme[worst].mean()), 4),
        "share_of_error": round(float(nme[worst].sum() / nme.sum()), 3),
        "nme_mean_of_the_rest": round(float(np.delete(nme, worst).mean()), 4),
        "files": [os.path.basename(paths[i]) for i in worst],
    }


def dlib_figures(paths, true, our_boxes):
    """dlib's HOG detector + 68-point predictor on the same frames (NME over the faces it found),
    and its predictor on our detector's boxes (frames without one are left out, as for dlib's misses)."""
    import cv2

    import dlib

    detector, predictor = dlib_models()
    shape = lambda image, rect: dlib_points(predictor, image, rect)

    own, own_idx, same, same_idx, det_s, pred_s = [], [], [], [], 0.0, 0.0
    for i, path in enumerate(paths):
        image = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
        start = time.perf_counter()
        rects = detector(image, 1)  # one upsampling, as face_recognition does by default
        det_s += time.perf_counter() - start
        if len(rects):
            points, seconds = shape(image, max(rects, key=lambda r: r.area()))
            own.append(points)
            own_idx.append(i)
            pred_s += seconds
        if our_boxes[i] is not None:
            x, y, w, h = (int(round(v)) for v in our_boxes[i][:4])
            same.append(shape(image, dlib.rectangle(x, y, x + w, y + h))[0])
            same_idx.append(i)

    def figures(pred, index):
        t = true[index]
        return metrics.keypoint_metrics(np.array(pred), t, np.ones(t.shape[:2]), IBUG68.norm_points)

    mine, boxed = figures(own, own_idx), figures(same, same_idx)
    return {
        "dlib_nme": round(mine["nme"], 4),
        "dlib_nme_median": round(mine["nme_median"], 4),
        "dlib_failure_rate_10pct": round(mine["failure_rate"], 4),
        "dlib_no_detection": len(paths) - len(own),
        "dlib_nme_our_boxes": round(boxed["nme"], 4),
        "dlib_nme_median_our_boxes": round(boxed["nme_median"], 4),
        "dlib_detector_ms_per_image": round(1000 * det_s / len(paths), 1),
        "dlib_predictor_ms_per_face": round(1000 * pred_s / max(len(own), 1), 2),
    }


if __name__ == "__main__":
    main()
