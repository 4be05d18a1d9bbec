"""Face-recognition data: per-person image folders, the Kaggle LFW 2017 arrays, LFW's pairs files.

A folder `DIR/<person>/*.jpg` (any image type) is how users bring their own people; the LFW 2017
folder holds `X_train.npy` (N x 50*37, 0..255), `y_train.npy`, `X_test.npy`, `target_names.txt`.
Every face becomes a square uint8 image of the model's input size (a face box is resized to it).
"""

from __future__ import annotations

import os
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Collection, Sequence
import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np
from tqdm import tqdm

from facekp.config import RecognitionConfig
from facekp.data import youtube68
from facekp.data.geometry import face_boxes
from facekp.data.images import file_orientation, pixels, upright
from facekp.errors import InputError, first_line
from facekp.fileio import IMAGE_EXTENSIONS, open_text
from facekp import opencv

LFW2017_SHAPE = (50, 37)  # rows, columns of one X_train face
CHUNK = 256  # files read (and aligned) at a time
# Bump when how a face is cut from its file changes (alignment template, refinement passes, start
# boxes, the fixed crops): aligned faces in disk caches made before are then not reused.
FACE_CUT_VERSION = 1
TRAINED_PEOPLE_FILE = "trained_people.txt"  # in an embedding run: whom it trained on, canonical names
# The people of the Kaggle LFW 2017 competition (LFW people with at least 70 photos).
LFW2017_PEOPLE = (
    "Ariel_Sharon",
    "Colin_Powell",
    "Donald_Rumsfeld",
    "George_W_Bush",
    "Gerhard_Schroeder",
    "Hugo_Chavez",
    "Tony_Blair",
)
# scikit-learn's LFW face box (rows 70:195, columns 78:172 of the 250x250 LFW photo), which is
# the framing of the LFW 2017 arrays; the shared 160x160 photos are the 250's centre.
LFW_FACE_BOX = {250: (70, 195, 78, 172), 160: (25, 150, 33, 127)}
# Where the keypoint search starts in an LFW photo (keypoint box: centre x, centre y, side): the
# median of the shipped model's boxes started from MTCNN on 300 LFW photos; in a 50x37 LFW 2017
# array, the same box through its crop (LFW_FACE_BOX[250]) and scale (0.4).
LFW_KEYPOINT_BOX = {250: (126.4, 144.2, 98.9), 160: (81.4, 99.2, 98.9)}
ARRAY_KEYPOINT_BOX = (18.75, 29.4, 39.6)

# An aligner (facekp.aligner.Aligner): (images (H, W, C) uint8, start keypoint boxes or None) ->
# (N, S, S, C) aligned faces.
AlignFn = Callable[[Sequence[np.ndarray], Sequence[tuple | None]], np.ndarray]


@dataclass(frozen=True)
class FaceFiles:
    """Faces not read yet: image files, each face's keypoint search start (None: its framing's),
    and how they are cut. The disk cache reads them a chunk at a time, so they never all sit in
    memory; `decode` reads them all."""

    paths: list
    starts: list  # a keypoint box (x, y, side) or None per file
    size: int
    channels: int
    face_crop: str
    aligner: AlignFn | None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: slice | np.ndarray) -> FaceFiles:
        picked = np.arange(len(self))[index]
        return dataclasses.replace(self, paths=[self.paths[i] for i in picked], starts=[self.starts[i] for i in picked])

    def __add__(self, other: FaceFiles) -> FaceFiles:
        return dataclasses.replace(self, paths=self.paths + other.paths, starts=self.starts + other.starts)

    @property
    def shape(self) -> tuple:
        return (len(self), self.size, self.size, self.channels)

    def decode(self, desc: str | None = "faces") -> np.ndarray:
        return read_faces(self.paths, self.size, self.channels, self.face_crop, self.aligner, self.starts, desc)


@dataclass
class Faces:
    images: np.ndarray | FaceFiles  # (N, S, S, C) uint8 faces at the model's input size, or still to read
    labels: np.ndarray  # (N,) int32 index into class_names
    class_names: list  # person names
    names: list  # file (or array row) of each face, for messages

    def __len__(self):
        return len(self.images)

    def subset(self, index: Sequence[int] | np.ndarray) -> Faces:
        index = np.asarray(index, int)
        return Faces(self.images[index], self.labels[index], self.class_names, [self.names[i] for i in index])

    @property
    def groups(self) -> list[str]:
        return [self.class_names[i] for i in self.labels]

    def read(self) -> Faces:
        """These faces with their images in memory (read now if they are FaceFiles)."""
        return dataclasses.replace(self, images=pixels(self.images))


def canonical(name: str) -> str:
    """`George W Bush`, `george_w_bush` -> `george_w_bush`: how names are compared."""
    return re.sub(r"[\s_]+", "_", name.strip()).lower()


def is_arrays_folder(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "X_train.npy"))


def square_face(image: np.ndarray, size: int, face_crop: str = "auto") -> np.ndarray:
    """The face part of one (H, W[, C]) image, resized to size x size."""
    h, w = image.shape[:2]
    if face_crop == "lfw" or (face_crop == "auto" and h == w and h in LFW_FACE_BOX):
        if h != w or h not in LFW_FACE_BOX:
            raise InputError(f"--face-crop lfw: needs 250 or 160 px square LFW photos, got {w}x{h}")
        top, bottom, left, right = LFW_FACE_BOX[h]
        image = image[top:bottom, left:right]
    interpolation = cv2.INTER_AREA if image.shape[0] > size else cv2.INTER_LINEAR
    face = cv2.resize(image, (size, size), interpolation=interpolation)
    return face.reshape(size, size, -1)


def _load_npy(path):
    """One numeric array from a .npy file, or an InputError naming the file and what is wrong."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise InputError(f"{path}: cannot read ({first_line(e)})")
    if not isinstance(array, np.ndarray):
        array.close()
        raise InputError(f"{path}: an .npz archive of arrays, expected one .npy array")
    if array.ndim == 0:
        raise InputError(f"{path}: a single number, expected an array")
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise InputError(f"{path}: holds {array.dtype} values, expected numbers")
    return array


def read_target_names(folder: str) -> list[str]:
    path = os.path.join(folder, "target_names.txt")
    try:
        with open_text(path) as f:
            return [line.strip() for line in f if line.strip()]
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})")


def arrays_to_faces(x: np.ndarray, path: str, size: int, channels: int, aligner: AlignFn | None = None) -> np.ndarray:
    """(N, 1850) LFW 2017 rows -> (N, size, size, channels) uint8 faces: the whole array resized,
    or aligned by the aligner."""
    rows, cols = LFW2017_SHAPE
    if x.ndim != 2 or x.shape[1] != rows * cols:
        raise InputError(f"{path}: expected an (N, {rows * cols}) array of {rows}x{cols} faces, got {x.shape}")
    if not np.isfinite(x).all():
        raise InputError(f"{path}: holds NaN or infinite pixel values")
    if len(x) and (x.min() < -0.5 or x.max() > 255.5):
        raise InputError(f"{path}: pixel values from {x.min():g} to {x.max():g}, expected 0..255")
    faces = np.clip(np.rint(x), 0, 255).astype(np.uint8).reshape(-1, rows, cols, 1)
    if not len(faces):
        return np.zeros((0, size, size, channels), np.uint8)
    if aligner:
        return aligner(list(faces), [ARRAY_KEYPOINT_BOX] * len(faces))
    out = np.stack([square_face(face, size, "full") for face in faces])
    return np.repeat(out, channels, axis=-1) if channels == 3 else out


def load_arrays(folder: str, size: int, channels: int, aligner: AlignFn | None = None) -> Faces:
    """The LFW 2017 training arrays as Faces (labels = y_train, names = target_names.txt)."""
    x_path, y_path = os.path.join(folder, "X_train.npy"), os.path.join(folder, "y_train.npy")
    x, y = _load_npy(x_path), _load_npy(y_path)
    class_names = read_target_names(folder)
    if y.shape != (len(x),):
        raise InputError(f"{y_path}: {y.shape} labels for {len(x)} faces in X_train.npy")
    if len(y) and (y.min() < 0 or y.max() >= len(class_names) or np.any(y != np.round(y))):
        raise InputError(f"{y_path}: labels must be whole numbers 0..{len(class_names) - 1} (target_names.txt)")
    faces = arrays_to_faces(x, x_path, size, channels, aligner)
    return Faces(faces, y.astype(np.int32), class_names, [f"X_train row {i}" for i in range(len(x))])


def load_test_arrays(folder: str, size: int, channels: int, aligner: AlignFn | None = None) -> np.ndarray:
    path = os.path.join(folder, "X_test.npy")
    x = _load_npy(path)
    if not len(x):
        raise InputError(f"{path}: no faces to predict")
    return arrays_to_faces(x, path, size, channels, aligner)


def read_image(path: str, channels: int) -> np.ndarray:
    """One image file -> (H, W, channels) uint8 (RGB or gray) as viewers show it (upright under
    its EXIF orientation, as photos.read_image and training's decode), or an InputError naming the file."""
    flags = (cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR) | cv2.IMREAD_IGNORE_ORIENTATION
    image = opencv.imread(path, flags)
    if image is None:
        raise InputError(f"{path}: not a readable image")
    image = image[..., None] if channels == 1 else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return upright(image, file_orientation(path))


def framing_start(shape: tuple) -> tuple | None:
    """The keypoint search's start box in an LFW-framed photo (250 or 160 px square), else None."""
    h, w = shape[:2]
    return LFW_KEYPOINT_BOX[h] if h == w and h in LFW_KEYPOINT_BOX else None


def read_faces(
    paths: Sequence[str],
    size: int,
    channels: int,
    face_crop: str,
    aligner: AlignFn | None = None,
    starts: Sequence[tuple] | None = None,
    desc: str | None = "faces",
) -> np.ndarray:
    """(N, size, size, channels) uint8 faces of image files: with face_crop "aligned", aligned by
    `aligner` (a chunk of files at a time) from `starts` (keypoint boxes; default, or None: each
    image's framing_start); else the face_crop square resized. desc: the progress bar's (None: none)."""
    if face_crop == "aligned" and aligner is None:
        raise ValueError("aligned faces need an aligner")
    if starts is not None and len(starts) != len(paths):
        raise ValueError(f"{len(starts)} start boxes for {len(paths)} files")
    faces = [np.zeros((0, size, size, channels), np.uint8)]
    chunks = range(0, len(paths), CHUNK)
    for first in tqdm(chunks, desc=desc, unit="chunk", disable=desc is None or len(paths) < 2 * CHUNK):
        images = [read_image(path, channels) for path in paths[first : first + CHUNK]]
        if face_crop == "aligned":
            given = starts[first : first + CHUNK] if starts is not None else [None] * len(images)
            faces.append(aligner(images, [start or framing_start(i.shape) for start, i in zip(given, images)]))
        else:
            faces.append(np.stack([square_face(image, size, face_crop) for image in images]))
    return np.concatenate(faces)


def person_folders(folder: str) -> dict[str, list[str]]:
    """{person: [image paths]} of DIR/<person>/<images>, people and files sorted."""
    if not os.path.isdir(folder):
        raise InputError(f"{folder}: data folder not found")
    people = {}
    for person in sorted(os.listdir(folder)):
        sub = os.path.join(folder, person)
        if os.path.isdir(sub) and not person.startswith("."):  # .ipynb_checkpoints, .git: nobody
            files = sorted(f for f in os.listdir(sub) if f.lower().endswith(IMAGE_EXTENSIONS))
            if files:
                people[person] = [os.path.join(sub, f) for f in files]
    if not people:
        raise InputError(f"{folder}: no <person>/<image> files in it")
    return people


def load_folders(
    folder: str,
    size: int,
    channels: int,
    face_crop: str = "auto",
    exclude: Collection[str] = (),
    min_images: int = 1,
    aligner: AlignFn | None = None,
) -> Faces:
    """Faces of every person in DIR/<person>/ not in `exclude` (canonical names), with enough images."""
    excluded = set(exclude)
    people = {
        p: files
        for p, files in person_folders(folder).items()
        if canonical(p) not in excluded and len(files) >= min_images
    }
    if not people:
        raise InputError(f"{folder}: no person left with at least {min_images} images after exclusions")
    paths = [(i, path) for i, files in enumerate(people.values()) for path in files]
    return Faces(
        FaceFiles([path for _, path in paths], [None] * len(paths), size, channels, face_crop, aligner),
        np.array([i for i, _ in paths], np.int32),
        list(people),
        [os.path.relpath(path, folder) for _, path in paths],
    )


def is_youtube68_folder(path: str) -> bool:
    return os.path.isfile(os.path.join(path, youtube68.CSV_NAME))


def load_youtube68(folder: str, cfg: RecognitionConfig, exclude: Collection[str], aligner: AlignFn | None) -> Faces:
    """The people of a YouTube-Faces-68 folder (the person is the file name before its last `_`),
    their frames aligned from their own keypoint boxes."""
    if cfg.face_crop != "aligned":
        raise InputError(f"{folder}: YouTube-Faces frames are read aligned only (--face-crop aligned)")
    ann = youtube68.load(folder)
    excluded = set(exclude)
    frames = Counter(ann.groups)
    keep = [
        i
        for i, person in enumerate(ann.groups)
        if canonical(person) not in excluded and frames[person] >= cfg.min_images
    ]
    if not keep:
        raise InputError(f"{folder}: no person left with at least {cfg.min_images} frames after exclusions")
    people = sorted({ann.groups[i] for i in keep})
    label = {person: i for i, person in enumerate(people)}
    centers, sides = face_boxes(ann.keypoints[keep])
    starts = [(float(x), float(y), float(side)) for (x, y), side in zip(centers, sides)]
    return Faces(
        FaceFiles([ann.paths[i] for i in keep], starts, cfg.input_size, cfg.channels, "aligned", aligner),
        np.array([label[ann.groups[i]] for i in keep], np.int32),
        people,
        [os.path.relpath(ann.paths[i], folder) for i in keep],
    )


def merged(first: Faces, second: Faces) -> Faces:
    """The faces of both, one class per person (names compared canonically)."""
    names = list(first.class_names)
    index = {canonical(name): i for i, name in enumerate(names)}
    for name in second.class_names:
        if canonical(name) not in index:
            index[canonical(name)] = len(names)
            names.append(name)
    relabel = np.array([index[canonical(name)] for name in second.class_names], np.int32)
    both = (first.images, second.images)
    return Faces(
        first.images + second.images
        if all(isinstance(images, FaceFiles) for images in both)
        else np.concatenate([pixels(images) for images in both]),
        np.concatenate([first.labels, relabel[second.labels]]).astype(np.int32),
        names,
        first.names + second.names,
    )


def load_faces(
    folder: str, cfg: RecognitionConfig, exclude: Collection[str] = (), aligner: AlignFn | None = None
) -> Faces:
    """LFW 2017 arrays, a per-person folder or a YouTube-Faces-68 folder, whichever `folder` holds;
    faces of image files are not read yet (FaceFiles: Faces.read() reads them)."""
    if is_arrays_folder(folder):
        faces = load_arrays(folder, cfg.input_size, cfg.channels, aligner)
        excluded = set(exclude)
        return faces.subset(
            [i for i, label in enumerate(faces.labels) if canonical(faces.class_names[label]) not in excluded]
        )
    if is_youtube68_folder(folder):
        return load_youtube68(folder, cfg, exclude, aligner)
    return load_folders(folder, cfg.input_size, cfg.channels, cfg.face_crop, exclude, cfg.min_images, aligner)


def trained_people(cfg: RecognitionConfig) -> set[str]:
    """Canonical names of the people a recognition run trained on: its data and extra data, minus
    its exclusions."""
    names = [name for folder in [cfg.data, *cfg.extra_folders] for name in people_in(folder)]
    return {canonical(n) for n in names} - read_exclusions(cfg.exclude_people)


def saved_trained_people(run_dir: str) -> set[str] | None:
    """The names an embedding run saved in TRAINED_PEOPLE_FILE (None for a run without one)."""
    path = os.path.join(run_dir, TRAINED_PEOPLE_FILE)
    if not os.path.isfile(path):
        return None
    with open_text(path) as f:
        return {line.strip() for line in f if line.strip()}


def people_in(folder: str) -> list[str]:
    """The people of any folder load_faces reads."""
    if is_arrays_folder(folder):
        return read_target_names(folder)
    if is_youtube68_folder(folder):
        return sorted(set(youtube68.load(folder).groups))
    return list(person_folders(folder))


# ---- LFW verification pairs (pairs.txt, pairsDevTrain.txt, pairsDevTest.txt)


@dataclass(frozen=True)
class Pair:
    name1: str
    number1: int
    name2: str
    number2: int

    @property
    def same(self) -> bool:
        return self.name1 == self.name2


def read_pairs(path: str) -> list[list[Pair]]:
    """Folds of Pairs: header `folds per_fold` (View 2) or `per_fold` (View 1), then per fold
    `per_fold` same-person lines `name n1 n2` and `per_fold` different-person lines `name1 n1 name2 n2`."""
    try:
        with open_text(path) as f:
            lines = [line.split() for line in f if line.strip()]
    except OSError as e:
        raise InputError(f"{path}: cannot read pairs file ({e.strerror})")
    if not lines:
        raise InputError(f"{path}: empty pairs file")
    try:
        header = [int(v) for v in lines[0]]
        folds, per_fold = header if len(header) == 2 else (1, header[0])
        pairs = []
        for number, fields in enumerate(lines[1:], start=2):
            if len(fields) == 3:
                pairs.append(Pair(fields[0], int(fields[1]), fields[0], int(fields[2])))
            elif len(fields) == 4:
                pairs.append(Pair(fields[0], int(fields[1]), fields[2], int(fields[3])))
            else:
                raise ValueError(f"line {number}: expected 3 or 4 fields, got {len(fields)}")
    except (ValueError, IndexError) as e:
        raise InputError(f"{path}: not an LFW pairs file ({e})")
    if folds < 1 or per_fold < 1:
        raise InputError(f"{path}: header promises {folds} folds of {2 * per_fold} pairs: none to judge")
    if len(pairs) != folds * 2 * per_fold:
        raise InputError(f"{path}: header promises {folds} folds of {2 * per_fold} pairs, found {len(pairs)} pairs")
    split = [pairs[i * 2 * per_fold : (i + 1) * 2 * per_fold] for i in range(folds)]
    for number, fold in enumerate(split, start=1):
        if len({pair.same for pair in fold}) < 2:
            raise InputError(f"{path}: fold {number} holds only {'same' if fold[0].same else 'different'}-person pairs")
    return split


def parse_folds(spec: str, count: int, path: str) -> list[int]:
    """`1-5,7` -> [0, 1, 2, 3, 4, 6] (folds are numbered from 1 on the command line)."""
    chosen = set()
    for part in filter(None, spec.split(",")):
        try:
            lo, _, hi = part.partition("-")
            chosen.update(range(int(lo), int(hi or lo) + 1))
        except ValueError:
            raise InputError(f"{path}: bad fold list '{spec}' (e.g. 1-5 or 1,3)")
    if not chosen or min(chosen) < 1 or max(chosen) > count:
        raise InputError(f"{path}: folds must be within 1-{count}, got '{spec}'")
    return sorted(f - 1 for f in chosen)


def pair_path(folder: str, name: str, number: int) -> str:
    return os.path.join(folder, name, f"{name}_{number:04d}.jpg")


def people_of_pairs(folds: Sequence[Sequence[Pair]]) -> set[str]:
    return {canonical(name) for fold in folds for p in fold for name in (p.name1, p.name2)}


def read_exclusions(spec: str) -> set[str]:
    """Canonical names from a comma list of: person names, files of names (one a line),
    PAIRS.txt[:FOLDS] (the people in those folds), or `lfw2017` (its 7 people)."""
    names = set()
    for item in filter(None, (part.strip() for part in spec.split(","))):
        path, _, folds = item.partition(":") if ":" in item and not os.path.isfile(item) else (item, "", "")
        if item == "lfw2017":
            names.update(canonical(n) for n in LFW2017_PEOPLE)
        elif os.path.isfile(path) and _looks_like_pairs(path):
            all_folds = read_pairs(path)
            chosen = parse_folds(folds, len(all_folds), path) if folds else range(len(all_folds))
            names |= people_of_pairs([all_folds[i] for i in chosen])
        elif os.path.isfile(path):
            with open_text(path) as f:
                names.update(canonical(line) for line in f if line.strip())
        elif folds or os.sep in item:
            raise InputError(f"--exclude-people: {path}: file not found")
        else:
            names.add(canonical(item))
    return names


def _looks_like_pairs(path):
    with open_text(path) as f:
        first = f.readline().split()
    return 1 <= len(first) <= 2 and all(v.isdigit() for v in first)
