"""68-point labels in the formats face tools write: 300-W `.pts` folders and dlib's imglab XML.

`.pts` (300-W, iBUG): `version: 1`, `n_points: 68`, `{`, 68 lines `x y`, `}`, 1-based pixel
coordinates, beside its image (`NAME.pts` + `NAME.jpg`/`.png`), folders searched recursively.
imglab XML (dlib): `<image file=...><box top left width height [ignore='1']><part name x y/>...`,
several faces per image, 0-based pixels; ignored boxes and boxes without parts are not training
faces. Both read into youtube68.Annotations in 0-based pixels, in 300-W's labelling convention.
"""

from __future__ import annotations

import decimal
import os
import re
import xml.etree.ElementTree as ET

import numpy as np

from facekp.data import youtube68
from facekp.data.images import image_sizes
from facekp.errors import InputError
from facekp.fileio import atomic_write_text, open_text

PTS_EXTENSION = ".pts"
NUM_POINTS = youtube68.NUM_POINTS
CONVENTION = "300w"  # what these files hold: 300-W's human annotations (and the tools that follow them)


def read_pts(path: str) -> np.ndarray:
    """One `.pts` file -> (68, 2) float32 keypoints in 0-based pixels; a bad line is one InputError."""
    with open_text(path) as f:
        lines = [(number, line.strip()) for number, line in enumerate(f, start=1) if line.strip()]
    fields = dict(line.split(":", 1) for _, line in lines if ":" in line and "{" not in line)
    count = fields.get("n_points", "").strip()
    if count != str(NUM_POINTS):
        raise InputError(f"{path}: n_points is {count or 'missing'}, expected {NUM_POINTS}")
    try:
        start = next(i for i, (_, line) in enumerate(lines) if line == "{")
        end = next(i for i, (_, line) in enumerate(lines) if line == "}")
    except StopIteration:
        raise InputError(f"{path}: no '{{' ... '}}' block of points")
    body = lines[start + 1 : end]
    if len(body) != NUM_POINTS:
        raise InputError(f"{path}: {len(body)} points between '{{' and '}}', expected {NUM_POINTS}")
    points = np.empty((NUM_POINTS, 2), np.float64)
    for k, (number, line) in enumerate(body):
        values = line.split()
        try:
            points[k] = [float(v) for v in values] if len(values) == 2 else None
        except (TypeError, ValueError):
            raise InputError(f"{path}: line {number}: expected two numbers 'x y', got '{line[:40]}'")
        if not np.all(np.isfinite(points[k])):
            raise InputError(f"{path}: line {number}: coordinates must be finite numbers")
    return (points - 1.0).astype(np.float32)


def _one_based(value: float) -> str:
    """A 0-based float32 coordinate as 300-W writes it, 1-based, in the fewest digits that read back to it."""
    return str(decimal.Decimal(np.format_float_positional(np.float32(value))) + 1)


def write_pts(path: str, points: np.ndarray) -> None:
    """(68, 2) 0-based keypoints -> a 300-W `.pts` file (1-based), written atomically; read_pts
    gives the same float32 values back."""
    rows = "".join(f"{_one_based(x)} {_one_based(y)}\n" for x, y in np.asarray(points, np.float32))
    atomic_write_text(path, f"version: 1\nn_points:  {len(points)}\n{{\n{rows}}}\n")


def image_beside(pts_path: str) -> str:
    """The image a `.pts` file labels: the same name with an image extension."""
    stem = os.path.splitext(pts_path)[0]
    for ext in youtube68.TRAINABLE_EXTENSIONS:
        for candidate in (stem + ext, stem + ext.upper()):
            if os.path.isfile(candidate):
                return candidate
    raise InputError(f"{pts_path}: no image beside it ({os.path.basename(stem)}.jpg or .png not found)")


def photo_of(relative_path: str) -> str:
    """The photo a face comes from, for splits by image: its path without extension and without the
    `_N` face number (AFW's `NAME_1`, `NAME_2` are faces of one photo)."""
    stem = os.path.splitext(relative_path)[0]
    head, _, tail = stem.rpartition("_")
    return head if head and tail.isdigit() else stem


def pts_files(folder: str) -> list[str]:
    """Every `.pts` file under `folder`, hidden folders left out, in a stable order."""
    found = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [os.path.join(root, name) for name in sorted(files) if name.lower().endswith(PTS_EXTENSION)]
    return found


def holds_pts(folder: str) -> bool:
    return os.path.isdir(folder) and any(True for _ in pts_files(folder))


def check_near_image(where: str, points: np.ndarray, size: np.ndarray) -> None:
    """No point lies more than one face box outside the image (the box of the points' 5th to
    95th percentiles, its larger side: a stray point does not widen it)."""
    reach = float((np.percentile(points, 95, axis=0) - np.percentile(points, 5, axis=0)).max())
    outside = (points < -reach) | (points > np.asarray(size, np.float32) - 1 + reach)
    if outside.any():
        k, axis = np.argwhere(outside)[0]
        raise InputError(
            f"{where}: point {k + 1} ({'xy'[axis]} = {points[k, axis]:g}) lies more than a face box outside "
            f"the {size[0]}x{size[1]} image"
        )


def load_pts_folder(folder: str) -> youtube68.Annotations:
    """Every face of a folder of images with `.pts` files beside them."""
    files = pts_files(folder)
    if not files:
        raise InputError(f"{folder}: no {PTS_EXTENSION} files found")
    paths, rows, groups = [], [], []
    for pts in files:
        points = read_pts(pts)
        problem = youtube68.degenerate(points)
        if problem:
            raise InputError(f"{pts}: {problem}")
        paths.append(image_beside(pts))
        rows.append(points)
        groups.append(photo_of(os.path.relpath(pts, folder)))
    for pts, points, size in zip(files, rows, image_sizes(paths)):
        check_near_image(pts, points, size)
    return youtube68.Annotations(paths, np.stack(rows), groups, CONVENTION, from_csv=False)


def _number(element: ET.Element, name: str, where: str) -> float:
    try:
        value = float(element.attrib[name])
    except KeyError:
        raise InputError(f"{where}: <{element.tag}> without '{name}'")
    except ValueError:
        raise InputError(f"{where}: <{element.tag}> {name}='{element.attrib[name][:40]}' is not a number")
    if not np.isfinite(value):
        raise InputError(f"{where}: <{element.tag}> {name} must be a finite number")
    return value


def _box_points(box: ET.Element, where: str) -> np.ndarray:
    """A box's 68 parts (named 0..67, or 00..67 as imglab writes them) as (68, 2)."""
    parts = {}
    for part in box.iter("part"):
        name = part.attrib.get("name", "")
        if not name.isdigit() or not 0 <= int(name) < NUM_POINTS:
            raise InputError(f"{where}: <part name='{name[:20]}'> is not a point number 0..{NUM_POINTS - 1}")
        parts[int(name)] = (_number(part, "x", where), _number(part, "y", where))
    if len(parts) != NUM_POINTS:
        raise InputError(f"{where}: {len(parts)} parts, expected {NUM_POINTS} (named 0..{NUM_POINTS - 1})")
    return np.array([parts[k] for k in range(NUM_POINTS)], np.float32)


def _image_lines(text: str) -> list[int]:
    """The line number of each `<image` tag of an XML text, in order (ElementTree keeps none)."""
    return [text.count("\n", 0, m.start()) + 1 for m in re.finditer(r"<image[\s>/]", text)]


def load_imglab(xml_path: str) -> youtube68.Annotations:
    """Every labelled face of a dlib imglab XML file; image paths are relative to the file's folder."""
    if not os.path.isfile(xml_path):
        raise InputError(f"{xml_path}: {'not a file' if os.path.exists(xml_path) else 'not found'}")
    with open_text(xml_path) as f:
        text = f.read()
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise InputError(f"{xml_path}: malformed XML ({e})")
    folder = os.path.dirname(xml_path)
    paths, rows, groups = [], [], []
    for image, line in zip(root.iter("image"), _image_lines(text)):
        name = image.attrib.get("file")
        if not name:
            raise InputError(f"{xml_path}: line {line}: <image> without file=")
        where = f"{xml_path}: line {line} ({name})"
        boxes = [box for box in image.iter("box") if box.attrib.get("ignore") != "1" and box.find("part") is not None]
        faces = [_box_points(box, where) for box in boxes]
        if not faces:
            continue
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            raise InputError(f"{where}: image {path} not found")
        size = image_sizes([path])[0]
        for points in faces:
            problem = youtube68.degenerate(points)
            if problem:
                raise InputError(f"{where}: {problem}")
            check_near_image(where, points, size)
            paths.append(path)
            rows.append(points)
            groups.append(os.path.normpath(name))
    if not paths:
        raise InputError(f"{xml_path}: no labelled faces (<box> with 68 <part>s, not ignore='1')")
    return youtube68.Annotations(paths, np.stack(rows), groups, CONVENTION, from_csv=False)


def write_imglab(xml_path: str, faces: dict[str, list[np.ndarray]]) -> None:
    """{image file (relative to the XML's folder): [(68, 2) keypoints, ...]} -> an imglab XML file,
    each face's box the box of its points."""
    root = ET.Element("dataset")
    images = ET.SubElement(root, "images")
    for name, face_points in faces.items():
        image = ET.SubElement(images, "image", file=name)
        for points in face_points:
            (left, top), (right, bottom) = np.floor(points.min(0)), np.ceil(points.max(0))
            box = ET.SubElement(
                image, "box", top=f"{top:g}", left=f"{left:g}", width=f"{right - left:g}", height=f"{bottom - top:g}"
            )
            for k, (x, y) in enumerate(points):
                ET.SubElement(box, "part", name=f"{k:02d}", x=repr(float(x)), y=repr(float(y)))
    ET.indent(root)
    atomic_write_text(xml_path, "<?xml version='1.0' encoding='utf-8'?>\n" + ET.tostring(root, "unicode") + "\n")


def is_labelled_files(path: str) -> bool:
    """Whether a source is an imglab XML or a .pts folder (not the YouTube-Faces CSV layout)."""
    if path.lower().endswith(".xml") and not os.path.isdir(path):
        return True
    return os.path.isdir(path) and not os.path.exists(os.path.join(path, youtube68.CSV_NAME)) and holds_pts(path)


def convention_of(path: str) -> str:
    """The labelling convention of a source, without reading its points."""
    return CONVENTION if is_labelled_files(path) else youtube68.read_convention(path)


def load(path: str) -> youtube68.Annotations:
    """Any 68-point source: an imglab `.xml` file, a folder with the YouTube-Faces CSV, or a folder
    of images with `.pts` files."""
    if not is_labelled_files(path):
        return youtube68.load(path)
    return load_imglab(path) if path.lower().endswith(".xml") else load_pts_folder(path)
