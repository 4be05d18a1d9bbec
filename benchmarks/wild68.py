"""Benchmark: a 68-point model as predict.py runs it on whole images, on the held-out faces of the
in-the-wild set (wild-68: 300-W's annotations of HELEN and AFW photos): detection (--detector,
default MTCNN), the start box (--start), then 0 and 1 refinement passes.

    python benchmarks/wild68.py --data ../shared/data/wild-68 [--run facekp/shipped/keypoints68] [--dlib]

The faces measured are the validation part of the run's own split (split_by_group by photo, the
run's val_fraction and split_seed, as training splits wild-68 as --data); a model that never
trained on wild-68 (the shipped one) is measured on the same faces, so figures compare.

Each image is a window around ONE annotated face, but other people's faces may show: of the
detector's faces, the one whose box has the highest IoU with the true keypoints' box starts the
search (not the largest). When none reaches an IoU of MATCH_IOU (or nothing is found) the image
counts as `no_detection` and the search starts from the image centre, as predict.py's crops mode
does; those faces stay in every figure.

Prints one JSON line: faces, photos, faces per subset (helen, afw), no_detection, the detector's
ms per image; for refinement 0 and 1, NME mean / median (outer eye corners 36/45), fail@10% (share
of faces with NME > 10%), AUC@10% (area under the cumulative error distribution from 0 to 10% NME
over 0.1, in [0, 1], as 300-W and MMPose compute it; here exactly, mean(max(0, 1 - NME / 0.1)))
and ms per face of Predictor.predict_faces (all cores, warmed up; each refinement's call in turn);
the same figures per subset with refinement 1.

With --dlib (pip install -e .[dlib]: dlib-bin + face_recognition_models, which ships the .dat),
dlib's 68-point predictor with its own HOG detector (one upsampling) on the same faces, the same
matching rule: NME, median, fail@10% and AUC@10% over the faces its detector found (it has no
fallback), its `no_detection` count, and fail@10% and AUC@10% over all faces with its misses
counted as failures (`_misses_failed`). dlib's .dat was trained on iBUG's 300-W, whose training
part holds these HELEN and AFW photos: its figures here are on faces it has most likely seen.

--ced PATH.png (default docs/ced-wild68.png) draws the cumulative error distributions (share of
all faces with NME at most x, x from 0 to 10%) of refinement 1 and dlib's ("" draws none).
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import data_default, matching, dlib_models, dlib_points, nme_figures, save_small_png  # noqa: E402
from facekp import detect, metrics, photos  # noqa: E402
from facekp.checkpoints import load_run  # noqa: E402
from facekp.config import SHIPPED_KEYPOINTS  # noqa: E402
from facekp.data import landmark_files  # noqa: E402
from facekp.data.samples import split_by_group  # noqa: E402
from facekp.errors import InputError  # noqa: E402
from facekp.inference import Predictor  # noqa: E402
from facekp.schemes import CONVENTIONS, IBUG68  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

CED_LIMIT = 0.10  # fail@ and AUC@ this NME; the CED plot's x range
DEFAULT_CED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "ced-wild68.png")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=data_default("wild-68"))
    parser.add_argument("--run", default=SHIPPED_KEYPOINTS)
    parser.add_argument(
        "--convention", choices=CONVENTIONS, help="which head's points (a model with one per convention)"
    )
    parser.add_argument("--dlib", action="store_true", help="also measure dlib's 68-point predictor")
    parser.add_argument("--detector", choices=detect.DETECTORS, default=detect.DEFAULT_DETECTOR)
    parser.add_argument("--start", choices=detect.STARTS, default=detect.DEFAULT_START)
    parser.add_argument("--ced", metavar="PATH.png", default=DEFAULT_CED, help='the CED plot ("": none)')
    parser.add_argument("--limit", type=int, help="only the first N validation faces (a quick check)")
    args = parser.parse_args()
    cfg, model = load_run(args.run)
    if cfg.task != "keypoints68":
        parser.error(f"{args.run}: a {cfg.task} run; this measures 68-point runs")
    try:
        predictor = Predictor(cfg, model, convention=args.convention)
    except InputError as e:
        parser.error(str(e))
    ann = landmark_files.load(args.data)
    _, val = split_by_group(ann.groups, cfg.val_fraction, cfg.split_seed)
    val = val[: args.limit]
    paths, true = [ann.paths[i] for i in val], ann.keypoints[val]
    subsets = np.array([ann.groups[i].split("/")[0] for i in val])

    preds, seconds, missed, detect_s = {0: [], 1: []}, {0: 0.0, 1: 0.0}, np.zeros(len(val), bool), 0.0
    for n, path in enumerate(paths):
        rgb = photos.read_image(path)
        image = detect.as_channels(rgb, cfg.channels)
        if not n:  # the detector's and the interpreter's first calls set them up: not timed
            predictor.predict_faces(image, photos.face_starts([], rgb.shape, find_all=False)[2], 1)
            photos.detect_in(rgb, args.detector)
        start = time.perf_counter()
        detections = photos.detect_in(rgb, args.detector)
        detect_s += time.perf_counter() - start
        match = matching([face.box for face in detections], true[n])
        missed[n] = match is None
        found = [] if match is None else [detections[match]]
        _, _, starts = photos.face_starts(found, rgb.shape, find_all=False, start=args.start)
        for refine in preds:
            start = time.perf_counter()
            preds[refine].append(predictor.predict_faces(image, starts, refine)[0])
            seconds[refine] += time.perf_counter() - start

    names = sorted(set(subsets), key=list(subsets).index)
    figures = {
        "benchmark": "wild68",
        "run": args.run,
        "convention": predictor.convention,
        "detector": args.detector,
        "start": args.start,
        "faces": len(val),
        "photos": len({ann.groups[i] for i in val}),
        "subsets": {name: int((subsets == name).sum()) for name in names},
        "no_detection": int(missed.sum()),
        "detector_ms_per_image": round(1000 * detect_s / len(val), 1),
    }
    for refine, points in preds.items():
        figures[f"refine{refine}"] = {
            **ced_figures(np.array(points), true),
            "ms_per_face": round(1000 * seconds[refine] / len(val), 2),
        }
    figures["refine1_subsets"] = {
        name: {
            **ced_figures(np.array(preds[1])[subsets == name], true[subsets == name]),
            "no_detection": int(missed[subsets == name].sum()),
        }
        for name in names
    }
    curves = {
        f"facekp {os.path.basename(os.path.normpath(args.run))}, refinement 1": face_nme(np.array(preds[1]), true)
    }
    if args.dlib:
        figures["dlib"], curves["dlib (HOG detector)"] = dlib_figures(paths, true, subsets, names)
    if args.ced:
        draw_ced(args.ced, curves, f"{os.path.basename(os.path.normpath(args.data))}: {len(val)} validation faces")
    print(json.dumps(figures))


def face_nme(points, true):
    return metrics.nme_per_face(points, true, np.ones(true.shape[:2]), IBUG68.norm_points)


def auc(nme, faces=None):
    """AUC@CED_LIMIT of the CED of these NMEs over `faces` (default: as many as NMEs; more: the
    missing ones never reach the limit), exactly: the mean of max(0, 1 - NME / limit)."""
    return round(float(np.clip(1.0 - nme / CED_LIMIT, 0.0, None).sum() / (faces or len(nme))), 4)


def ced_figures(points, true):
    """nme_figures and AUC@10% of predicted (N, 68, 2) points."""
    return {**nme_figures(points, true), "auc_10pct": auc(face_nme(points, true))}


def dlib_figures(paths, true, subsets, names):
    """dlib's HOG detector (one upsampling) + 68-point predictor on the detection that matches each
    face: (figures, each found face's NME) as the docstring says."""
    detector, predictor = dlib_models()
    points, found, detect_s, predict_s = [], np.zeros(len(paths), bool), 0.0, 0.0
    for n, path in enumerate(paths):
        rgb = photos.read_image(path)
        start = time.perf_counter()
        rects = detector(rgb, 1)
        detect_s += time.perf_counter() - start
        match = matching([(r.left(), r.top(), r.width(), r.height()) for r in rects], true[n])
        if match is not None:
            face, seconds = dlib_points(predictor, rgb, rects[match])
            points.append(face)
            found[n] = True
            predict_s += seconds
    points = np.array(points).reshape(-1, *true.shape[1:])

    def figures(faces):
        mine, their_true = points[faces[found]], true[faces & found]  # the found faces of `faces`
        nme = face_nme(mine, their_true)
        return {
            **ced_figures(mine, their_true),
            "no_detection": int((~found[faces]).sum()),
            "failure_rate_10pct_misses_failed": round(float(1.0 - (nme <= CED_LIMIT).sum() / faces.sum()), 4),
            "auc_10pct_misses_failed": auc(nme, int(faces.sum())),
        }

    everyone = np.ones(len(paths), bool)
    result = {
        **figures(everyone),
        "detector_ms_per_image": round(1000 * detect_s / len(paths), 1),
        "predictor_ms_per_face": round(1000 * predict_s / max(found.sum(), 1), 2),
        "subsets": {name: figures(subsets == name) for name in names},
    }
    return result, face_nme(points, true[found])


def draw_ced(path, curves, title):
    """The CED curves ({label: NMEs of the faces found, out of N faces}, N the first curve's) at `path`."""
    faces = len(next(iter(curves.values())))
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for label, nme in curves.items():
        x = np.sort(nme[nme <= CED_LIMIT])
        share = np.arange(1, len(x) + 1) / faces
        x, share = np.r_[0.0, x, CED_LIMIT], np.r_[0.0, share, share[-1] if len(share) else 0.0]
        missed = f", {faces - len(nme)} not detected" if len(nme) < faces else ""
        ax.plot(100 * x, share, drawstyle="steps-post", label=f"{label}: AUC@10% {auc(nme, faces):.3f}{missed}")
    ax.set(xlim=(0, 100 * CED_LIMIT), ylim=(0, 1), xlabel="NME (% of outer eye-corner distance)")
    ax.set(ylabel="share of faces", title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    save_small_png(path, fig, dpi=100)


if __name__ == "__main__":
    main()
