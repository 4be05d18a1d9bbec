"""Keypoints for image files: face crops (one face each) or, with detection, photos of many faces.

Writes `prediction-<timestamp>.csv` (one row per face: file, face, box, score, x0, y0, ...) and
`plot-<timestamp>.png` (every file with its faces' keypoints), both atomically, the stem
`<timestamp>-2`, `-3`, ... when another run of the same second took it (RunFiles).

Memory stays bounded by the photo's own pixels (3 bytes each): each file is decoded once as
uint8, the detector sees a copy shrunk to DETECT_MAX_SIDE, keypoint and recognition crops are cut
from windows of it, the plot keeps a thumbnail, and files over MAX_PIXELS are refused unread.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator

import numpy as np
from PIL import Image
from tqdm import tqdm

from facekp import detect, overlay as overlays, plots
from facekp.data import images as image_ops
from facekp.data.geometry import face_boxes, image_to_crop
from facekp.data.identities import person_folders
from facekp.errors import InputError, first_line
from facekp.fileio import IMAGE_EXTENSIONS, atomic_write_bytes, atomic_write_text, printable
from facekp.inference import Predictor
from facekp.opencv import cv2, file_problem, utf8_name
from facekp.recognise import UNKNOWN, Gallery, Recogniser
from facekp.tfenv import STDERR_REDIRECT

Face = tuple[tuple[float, float, float, float], float, np.ndarray]  # box (x, y, w, h), score, points (K, 2)

MAX_PIXELS = 250_000_000  # larger files are refused from their header (750 MB decoded)
DETECT_MAX_SIDE = 1600  # the detector runs on a copy this long at most; faces from 24 of its pixels
PLOT_MAX_SIDE = 1024  # the plot keeps a thumbnail per file, this long at most
PLOT_MAX_FILES = 48
OVERLAY_MAX_SIDE = 4096  # --overlay images of larger photos are written at this size


def find_images(inputs: list[str]) -> list[str]:
    """Files named, and image files found recursively in folders named, in a stable order."""
    found = []
    for item in inputs:
        if os.path.isdir(item):
            for root, _, files in sorted(os.walk(item)):
                found += [os.path.join(root, f) for f in sorted(files) if f.lower().endswith(IMAGE_EXTENSIONS)]
        else:
            found.append(item)
    return found


def image_header(path: str) -> tuple[tuple[int, int], int] | None:
    """((width, height) as stored, EXIF orientation 1..8) from an image file's header (PIL decodes
    no pixels here), or None if PIL cannot parse it."""
    with open(path, "rb") as f:
        try:
            with image_ops.header(f) as image:  # MAX_PIXELS is the limit here
                return image.size, image_ops.orientation_of(image)
        except Exception:  # PIL raises many types for a file it cannot parse
            return None


@contextlib.contextmanager
def decoder_messages() -> Iterator[list[str]]:
    """Collect, instead of showing, what C libraries print to stderr (fd 2) meanwhile: a list of
    lines, filled on exit. Other threads' redirections of fd 2 (and these) wait meanwhile."""
    lines = []
    with STDERR_REDIRECT, tempfile.TemporaryFile() as log:  # one thread at a time: fd 2 is the process's
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            log.seek(0)
            lines += log.read().decode(errors="replace").splitlines()


def unreadable(path: str, error: Exception) -> str:
    """The one line for a file that could not be used: read_image's own InputError (unreadable,
    too large), else the first line of what the file system or OpenCV raised."""
    return str(error) if isinstance(error, InputError) else f"{path}: unreadable image ({first_line(error)})"


def read_image(path: str) -> np.ndarray:
    """One image file -> (H, W, 3) uint8 RGB as viewers show it, decoded once by OpenCV straight
    into its array as stored, then turned upright under its EXIF orientation (a phone's portrait
    shot is stored turned; the turn is a copy). Raises InputError naming the file when it is
    unreadable, truncated, or over MAX_PIXELS (known from its header, before decoding)."""
    problem = file_problem(path)
    if problem:  # a FIFO or a device would block the read
        raise InputError(f"{path}: unreadable image ({problem})")
    found = image_header(path)
    if found is None:
        raise InputError(
            f"{path}: unreadable image ({'empty file' if not os.path.getsize(path) else 'unknown format'})"
        )
    (width, height), orientation = found
    if width * height > MAX_PIXELS:
        raise InputError(f"{path}: image too large ({width} x {height})")
    # as stored: the orientation is PIL's reading of it, applied below, whatever the format (OpenCV's
    # own turning fails on TIFF and differs from TensorFlow's decoders, which ignore it)
    flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
    named = utf8_name(path)
    if named and not cv2.imcount(path):  # no OpenCV decoder, or a header it cannot read
        raise InputError(f"{path}: unreadable image (unknown format or damaged header)")
    with decoder_messages() as messages:  # libjpeg and libpng print their own warnings
        if named:
            image = cv2.imread(path, np.empty((height, width, 3), np.uint8), flags)
        else:  # a file name that is not UTF-8: decode its bytes from memory
            image = cv2.imdecode(np.fromfile(path, np.uint8), flags)
    truncated = [m for m in messages if "premature end" in m.lower()]  # libjpeg fills a cut JPEG with grey
    if image is None or truncated:
        raise InputError(f"{path}: unreadable image ({(truncated or messages or ['damaged data'])[0]})")
    for top in range(0, len(image), 256):  # BGR -> RGB in place (cvtColor copies a whole image it overwrites)
        rows = image[top : top + 256]
        cv2.cvtColor(rows, cv2.COLOR_BGR2RGB, dst=rows)
    return image_ops.upright(image, orientation)


def shrunk(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, tuple[float, float]]:
    """(the image scaled down with area averaging to `max_side` pixels on its long side, (fx, fy)
    new / old size); the image itself and (1, 1) when it is no larger."""
    h, w = rgb.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1.0:
        return rgb, (1.0, 1.0)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), (size[0] / w, size[1] / h)


def detect_in(rgb: np.ndarray, detector: str = detect.DEFAULT_DETECTOR) -> list[detect.Detection]:
    """Faces ([detect.Detection]) in the photo's pixels, found by `detector` on a copy of at most
    DETECT_MAX_SIDE pixels on its long side."""
    small, (fx, fy) = shrunk(rgb, DETECT_MAX_SIDE)
    return [face.scaled(fx, fy) for face in detect.detector(detector)(small)]


def faces_in(
    path: str,
    predictor: Predictor,
    find_all: bool,
    refine: int = 1,
    detector: str = detect.DEFAULT_DETECTOR,
    start: str = detect.DEFAULT_START,
) -> tuple[list[Face], np.ndarray]:
    """[(box (x, y, w, h), score, keypoints (K, 2))] for one file, and the decoded uint8 RGB image.
    detector: see detect.DETECTORS; start: see detect.STARTS."""
    rgb = read_image(path)
    return keypoint_faces(rgb, detect_in(rgb, detector), predictor, find_all, refine, start), rgb


def keypoint_faces(
    rgb: np.ndarray,
    detections: list[detect.Detection],
    predictor: Predictor,
    find_all: bool,
    refine: int = 1,
    start: str = detect.DEFAULT_START,
    check: bool = True,
) -> list[Face]:
    """[(box (x, y, w, h), score, keypoints (K, 2))] from an image's detections: every face's
    keypoints, all faces in one batch per pass. In photos (find_all), detections whose landmarks
    the keypoints contradict are dropped (detect.confirmed) unless `check` is false."""
    boxes, scores, starts = face_starts(detections, rgb.shape, find_all, start)
    points = predictor.predict_faces(detect.as_channels(rgb, predictor.cfg.channels), starts, refine)
    faces = list(zip(boxes, scores, points))
    if find_all and check and faces:
        keep = detect.confirmed(detections, predictor.scheme.five_points(points), face_boxes(points)[1])
        faces = [face for face, kept in zip(faces, keep) if kept]
    return faces


def face_starts(
    detections: list[detect.Detection], shape: tuple, find_all: bool, start: str = detect.DEFAULT_START
) -> tuple[list[tuple], list[float], list[tuple[float, float, float]]]:
    """(CSV boxes (x, y, w, h), scores, keypoint boxes to start the search from) for one image of
    `shape` (h, w) from its detections ([detect.Detection]).

    Crops (find_all false): the largest detection starts the search, else the whole image; the
    CSV box is the whole image, as for any crop. Photos (find_all true): every detection.
    """
    h, w = shape[:2]
    if find_all:
        starts = [detect.start_box(face, start) for face in detections]
        return [face.box for face in detections], [face.score for face in detections], starts
    largest = max(detections, key=lambda face: face.box[2] * face.box[3]) if detections else None
    # no detection in a crop: assume the face fills the middle of it
    middle = ((w - 1) / 2.0, (h - 1) / 2.0, 0.6 * min(w, h))
    start = detect.start_box(largest, start) if largest else middle
    return [(0.0, 0.0, float(w), float(h))], [1.0], [start]


def csv_text(rows: list[tuple], num_points: int, identities: list[tuple[str, float]] | None = None) -> str:
    """The predictions CSV; with `identities` ((name, distance) per row) two more columns."""
    header = ["file", "face", "box_x", "box_y", "box_w", "box_h", "score"]
    header += [f"{axis}{i}" for i in range(num_points) for axis in ("x", "y")]
    header += ["identity", "distance"] if identities is not None else []
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")  # a name with a comma, quote or line break is quoted
    writer.writerow(header)
    for n, (path, face, box, score, points) in enumerate(rows):
        values = [f"{v:.1f}" for v in box] + [f"{score:.3f}"] + [f"{v:.2f}" for v in np.ravel(points)]
        if identities is not None:
            values += [identities[n][0], f"{identities[n][1]:.4f}"]
        writer.writerow([path, str(face)] + values)
    return text.getvalue()


def recognition_faces(rgb: np.ndarray, faces: list[Face], recogniser: Recogniser) -> np.ndarray:
    """The recognition faces (F, S, S, C) of a file's faces, cut (aligned) at their keypoints
    (Recogniser.faces_at_keypoints)."""
    return recogniser.faces_at_keypoints(rgb, np.stack([points for _, _, points in faces]))


def enrol(
    gallery_dir: str,
    predictor: Predictor,
    recogniser: Recogniser,
    threshold: float,
    detector: str = detect.DEFAULT_DETECTOR,
) -> Gallery:
    """A Gallery of DIR/<person>/<image> (one face per image: the largest found, else the middle)."""
    embeddings, people, folders = [], [], person_folders(gallery_dir)
    if UNKNOWN in folders:
        raise InputError(f"{os.path.join(gallery_dir, UNKNOWN)}: '{UNKNOWN}' names faces of nobody enrolled: rename it")
    for person, files in folders.items():
        for path in files:
            try:
                faces, rgb = faces_in(path, predictor, find_all=False, detector=detector)
            except Exception as e:  # InputError names the file; the file system and OpenCV raise many types
                print(f"{unreadable(path, e)}, not enrolled", file=sys.stderr)
                continue
            embeddings.append(recogniser.outputs(recognition_faces(rgb, faces, recogniser))[0])
            people.append(printable(person))  # a folder name that is not UTF-8, as stderr shows it
    if not people:
        raise InputError(f"{gallery_dir}: no readable face image to enrol")
    print(f"enrolled {len(people)} faces of {len(set(people))} people from {gallery_dir} (threshold {threshold:.3f})")
    return Gallery(np.stack(embeddings), people, threshold)


def face_tiles(rgb: np.ndarray, faces: list[Face]) -> list[tuple[np.ndarray, np.ndarray]]:
    """For the plot: each face (up to plots.MAX_TILES) cut square around its points and scaled to
    plots.TILE pixels, as (uint8 crop, points in the crop's pixels)."""
    tiles = []
    for _, _, points in faces[: plots.MAX_TILES]:
        center, side = face_boxes(points[None])
        crop, (A, t) = image_ops.crop_with_map_fast(rgb, center[0], 1.4 * float(side[0]), plots.TILE)
        tiles.append((np.clip(crop, 0, 255).astype(np.uint8), image_to_crop(points, A[0], t[0])))
    return tiles


class RunFiles:
    """One predict.py run's output files, each named KIND-<stem>REST (prediction-<stem>.csv,
    plot-<stem>.png, overlay-<stem>-NAME.png, ...) with one stem: the run's timestamp, or
    <timestamp>-2, -3, ... when a run of the same second on the same folder took it.

    Each is written (atomically) into a hidden folder of out_dir first; `publish` then gives them
    their names in the order written, each by a hard link, which fails where a name is taken
    rather than replace it: a run that finds any of its names taken takes the next stem. So two
    runs at once never replace each other's files, and the CSV, written last, never stands
    without its plot. A write that fails names the file as it would have been named."""

    def __init__(self, out_dir: str, stamp: str):
        self.out_dir, self.stamp, self.written = out_dir, stamp, []  # [(kind, rest, draft path)]
        try:
            self.folder = tempfile.mkdtemp(prefix=f".tmp-prediction-{stamp}-", dir=out_dir)
        except OSError as e:
            raise OSError(e.errno, e.strerror, out_dir) from e

    def named(self, kind: str, rest: str, stem: str | None = None) -> str:
        return os.path.join(self.out_dir, f"{kind}-{stem or self.stamp}{rest}")

    def write(self, kind: str, rest: str, write: Callable[[str], None]) -> None:
        """write(path) writes the file KIND-<stem>REST (under its draft name for now); a second
        file of that name (an overlay of sub/a.jpg after a.jpg's) replaces the first."""
        draft = os.path.join(self.folder, f"{kind}{rest}")
        try:
            write(draft)
        except OSError as e:
            raise OSError(e.errno, e.strerror, self.named(kind, rest)) from e
        if (kind, rest, draft) not in self.written:
            self.written.append((kind, rest, draft))

    def publish(self) -> str:
        """Give every file written its name, all with the first stem free for all of them; that stem."""
        for n in itertools.count(1):
            stem = self.stamp if n == 1 else f"{self.stamp}-{n}"
            finals = [self.named(kind, rest, stem) for kind, rest, _ in self.written]
            if any(os.path.lexists(final) for final in finals):
                continue
            taken = []  # (draft, final, whether linked) of the names taken so far
            try:
                for (_, _, draft), final in zip(self.written, finals):
                    taken.append((draft, final, _take_name(draft, final)))
                return stem
            except FileExistsError:  # another run of this second took one meanwhile: give ours back
                for draft, final, linked in taken:
                    if linked:
                        os.remove(final)
                    else:
                        os.replace(final, draft)
            except OSError as e:
                raise OSError(e.errno, e.strerror, finals[len(taken)]) from e

    def close(self) -> None:
        """Remove the drafts (published files keep their own links)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def _take_name(draft: str, final: str) -> bool:
    """`draft` named `final` too, a name no other file has (FileExistsError if one has): True,
    by a hard link. Where the file system has none (FAT, some network shares): False, the name
    taken by creating it exclusively and the draft renamed onto it."""
    try:
        os.link(draft, final)
        return True
    except FileExistsError:
        raise
    except OSError:
        os.close(os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
        os.replace(draft, final)
        return False


def write_extras(
    path: str,
    rgb: np.ndarray,
    faces: list[Face],
    predictor: Predictor,
    files: RunFiles,
    overlay: tuple[str, np.ndarray] | None,
    feature_maps: bool,
) -> None:
    """Per-file outputs: the face filter applied to every face (on a copy of the photo of at most
    OVERLAY_MAX_SIDE pixels on its long side); the first face's feature maps."""
    stem = os.path.splitext(os.path.basename(path))[0]
    if overlay is not None:
        image, factor = shrunk(rgb, OVERLAY_MAX_SIDE)
        image = image.copy() if image is rgb else image  # drawn on in place
        for _, _, points in faces:
            scaled = (points + 0.5) * factor - 0.5  # pixel centres of the photo -> of the copy
            overlays.apply_overlay(image, overlay[1], *overlays.placement(scaled, overlay[0]))
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        files.write("overlay", f"-{stem}.png", lambda draft: atomic_write_bytes(draft, buffer.getvalue()))
    if feature_maps and faces:
        center, side = face_boxes(faces[0][2][None])
        crop, _ = image_ops.crop_with_map_fast(
            detect.as_channels(rgb, predictor.cfg.channels),
            center[0],
            float(side[0]) * predictor.cfg.margin,
            predictor.cfg.input_size,
        )
        files.write(
            "features", f"-{stem}.png", lambda draft: plots.save_feature_maps(draft, predictor.model, crop / 255.0)
        )


def predict_files(
    paths: list[str],
    predictor: Predictor,
    out_dir: str,
    find_all: bool,
    overlay: tuple[str, np.ndarray] | None = None,
    feature_maps: bool = False,
    refine: int = 1,
    identify: tuple[Recogniser, Gallery] | None = None,
    detector: str = detect.DEFAULT_DETECTOR,
    start: str = detect.DEFAULT_START,
) -> tuple[str | None, str | None, int]:
    """Run every file; report unreadable ones and faceless photos by name, then write CSV + plot
    (and, when asked, a filtered image and a feature-map picture per file), named as RunFiles
    says: prediction-<timestamp>.csv, or -<timestamp>-2.csv when a run of that second took it.

    overlay: (kind, RGBA image) from facekp.overlay, or None. identify: (Recogniser, Gallery)
    to name every face, or None. Returns (csv path, plot path, number of files read).
    """
    os.makedirs(out_dir, exist_ok=True)
    files = RunFiles(out_dir, time.strftime("%Y%m%d-%H%M%S"))
    try:
        extras = overlay, feature_maps, refine, identify, detector, start
        return _predict_files(paths, predictor, files, find_all, *extras)
    finally:
        files.close()


def say(message: str) -> None:
    """One line on stderr about one file, above the progress bar if one is shown (file_bar)."""
    tqdm.write(message, file=sys.stderr)


def file_bar(paths: list[str], desc: str) -> Iterator[str]:
    """`paths`, iterated under a progress bar named `desc` for 5 files or more, on a terminal only:
    in a log its redraws (carriage returns, no line ends) glue onto the lines about files. Those
    lines go through `say`, which keeps them above the bar."""
    return tqdm(paths, desc=desc, unit="img", disable=len(paths) < 5 or not sys.stderr.isatty())


def _predict_files(paths, predictor, files, find_all, overlay, feature_maps, refine, identify, detector, start):
    """predict_files, its outputs written through `files` (a RunFiles)."""
    rows, shown, read, names = [], [], 0, ([] if identify else None)
    for path in file_bar(paths, "predict"):
        try:
            faces, rgb = faces_in(path, predictor, find_all, refine, detector, start)
        except Exception as e:  # InputError names the file; the file system and OpenCV raise many types
            say(f"{unreadable(path, e)}, skipped")
            continue
        read += 1
        if not faces:
            say(f"{path}: no face found")
        rows += [(path, i, box, score, points) for i, (box, score, points) in enumerate(faces)]
        labels = []
        if identify and faces:
            recogniser, gallery = identify
            labels = gallery.identify(recogniser.outputs(recognition_faces(rgb, faces, recogniser)))
            names += labels
        if len(shown) < PLOT_MAX_FILES:
            tiles = face_tiles(rgb, faces) if find_all and len(faces) > 1 else []
            thumbnail = shrunk(rgb, PLOT_MAX_SIDE)[0]
            shown.append(
                plots.PlotEntry(printable(os.path.basename(path)), thumbnail, rgb.shape[1::-1], faces, labels, tiles)
            )
        write_extras(path, rgb, faces, predictor, files, overlay, feature_maps)
        del rgb  # the next file is decoded without this one in memory
    if not read:
        return None, None, 0
    files.write("plot", ".png", lambda draft: plots.save_predictions_plot(draft, shown))  # the plot first
    text = csv_text(rows, predictor.scheme.num_points, names)
    files.write("prediction", ".csv", lambda draft: atomic_write_text(draft, text))
    stem = files.publish()
    csv_path, plot_path = files.named("prediction", ".csv", stem), files.named("plot", ".png", stem)
    return csv_path, plot_path, read
