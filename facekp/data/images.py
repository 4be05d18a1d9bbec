"""Decode image files once (JPEG, PNG, BMP, GIF; by content, whatever the extension) into crops.

RGBA PNGs named `.jpg`, grayscale and RGB files all decode to the requested channels. Each image
becomes a square crop around its face box, so the training pipeline never decodes again.

Every image is decoded as viewers show it: a photo stored turned, with an EXIF orientation (what
phones write for a portrait shot), is turned upright (`upright`, `upright_tensor`), and labels
and sizes are in the upright image's pixels, as 300-W, menpo and PIL give them.
"""

from __future__ import annotations

import contextlib
import math
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from facekp.data import augment
from facekp.data.geometry import crop_map
from facekp.errors import InputError, first_line
from facekp.opencv import cv2


GRAY_WEIGHTS = np.array([[0.2989, 0.587, 0.114]], np.float32)  # TF's rgb_to_grayscale: gray = RGB @ these

ORIENTATION_TAG = 0x0112  # EXIF: how the stored pixels are turned from the picture (1: not at all)
# What turns each EXIF orientation's stored pixels upright: (transpose, then mirror x, then mirror y).
TURNS = {
    1: (False, False, False),
    2: (False, True, False),
    3: (False, True, True),  # 180 degrees
    4: (False, False, True),
    5: (True, False, False),
    6: (True, True, False),  # stored turned a quarter anticlockwise: a phone's portrait shot
    7: (True, True, True),
    8: (True, False, True),
}


def orientation_of(image: Image.Image) -> int:
    """The EXIF orientation (1..8) of an opened image; 1 (as stored) without one, or with a
    damaged or unknown one."""
    try:
        value = image.getexif().get(ORIENTATION_TAG, 1)
    except Exception:  # PIL raises many types for a damaged EXIF block: the pixels are shown as stored
        return 1
    return value if isinstance(value, int) and value in TURNS else 1


_PIXEL_LIMIT = threading.Lock()  # PIL's limit is one global: lifted by one thread at a time


@contextlib.contextmanager
def header(file: str | BinaryIO) -> Iterator[Image.Image]:
    """An image file (a path or an open binary file) opened by PIL for its header, no pixels
    decoded, whatever its size (PIL's decompression-bomb limit lifted: callers have their own)."""
    with _PIXEL_LIMIT:
        limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            image = Image.open(file)
        finally:
            Image.MAX_IMAGE_PIXELS = limit
    with image:
        yield image


def file_orientation(path: str) -> int:
    """orientation_of an image file, from its header; 1 when PIL cannot parse it (the decoder then
    says what is wrong)."""
    try:
        with header(path) as image:
            return orientation_of(image)
    except Exception:  # PIL raises many types for a file it cannot parse
        return 1


def upright_size(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    """The (width, height) shown of an image stored `size` under an EXIF orientation."""
    return (size[1], size[0]) if TURNS[orientation][0] else (size[0], size[1])


def upright(image: np.ndarray, orientation: int) -> np.ndarray:
    """An (H, W, ...) image decoded as stored, as viewers show it under its EXIF orientation: the
    image itself for 1, else a turned copy (OpenCV's; numpy's copy of a transposed view is slower)."""
    if orientation == 1:
        return image
    transpose, flip_x, flip_y = TURNS[orientation]
    turned = cv2.transpose(image) if transpose else image
    if flip_x or flip_y:
        turned = cv2.flip(turned, -1 if flip_x and flip_y else 1 if flip_x else 0)
    return turned.reshape(*turned.shape[:2], *image.shape[2:])  # OpenCV drops a single channel's axis


def upright_tensor(image: tf.Tensor, orientation: tf.Tensor) -> tf.Tensor:
    """upright for a decoded (H, W, C) tensor and its orientation (an int32 scalar), in a graph."""
    transpose, flip_x, flip_y = tf.unstack(tf.gather(tf.constant(list(TURNS.values())), orientation - 1))
    image = tf.cond(transpose, lambda: tf.transpose(image, [1, 0, 2]), lambda: image)
    image = tf.cond(flip_x, lambda: tf.reverse(image, [1]), lambda: image)
    return tf.cond(flip_y, lambda: tf.reverse(image, [0]), lambda: image)


def decode(path: str | tf.Tensor, channels: int, orientation: int | tf.Tensor = 1) -> tf.Tensor:
    """One image file -> (H, W, channels) float32 pixel values 0..255, upright under its EXIF
    `orientation` (file_orientation: TensorFlow's decoders ignore it)."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    image = tf.image.convert_image_dtype(image, tf.float32)  # 0..1, gray replicated to 3
    if channels == 1:
        image = tf.image.rgb_to_grayscale(image)
    # turned as floats: oneDNN's uint8 transpose logs an error line on CPUs without AVX-512
    return upright_tensor(image, tf.cast(orientation, tf.int32)) * 255.0


def crop_with_map(
    image: tf.Tensor, center: tf.Tensor, side: tf.Tensor, out_size: int
) -> tuple[tf.Tensor, tuple[tf.Tensor, tf.Tensor]]:
    """Crop the square (center, side) of one (H,W,C) float image to out_size pixels.

    Shrinks with antialiasing first when the crop is larger than out_size, then warps. Returns
    the crop and the affine (A (1,2,2), t (1,2)) from crop pixels to the image's pixels.
    """
    center = tf.cast(center, tf.float32)
    side = tf.cast(side, tf.float32)
    shape = tf.cast(tf.shape(image)[:2], tf.float32)  # (h, w)
    shrink = tf.minimum(1.0, out_size / side)
    size = tf.maximum(tf.round(shape * shrink), 1.0)
    small = tf.image.resize(image, tf.cast(size, tf.int32), antialias=True)
    factor = (size / shape)[::-1]  # (fx, fy): resize maps x to (x + 0.5) * fx - 0.5
    A, t = augment.crop_affine(((center + 0.5) * factor - 0.5)[None], (side * factor[0])[None], out_size)
    crop = augment.warp_images(small[None], A, t, out_size)[0]
    return crop, (A / factor[:, None][None], (t + 0.5) / factor[None] - 0.5)


def _window(to_source, out_w, out_h, shape, pad):
    """(x0, y0, x1, y1): the pixels of an image of `shape` that an inverse map (2x3, output pixel ->
    image pixel) reads for an out_w x out_h output, `pad` pixels wider, clipped to the image (in
    plain floats: numpy's per-call cost was a fifth of a keypoint pass)."""
    (a, b, c), (d, e, f) = np.asarray(to_source, np.float64).tolist()
    corners = ((-0.5, -0.5), (out_w - 0.5, -0.5), (-0.5, out_h - 0.5), (out_w - 0.5, out_h - 0.5))
    xs = [_finite(a * u + b * v + c) for u, v in corners]
    ys = [_finite(d * u + e * v + f) for u, v in corners]
    h, w = shape[:2]
    x0, y0 = min(max(math.floor(min(xs)) - pad, 0), w - 1), min(max(math.floor(min(ys)) - pad, 0), h - 1)
    return x0, y0, min(max(math.ceil(max(xs)) + pad + 1, x0 + 1), w), min(max(math.ceil(max(ys)) + pad + 1, y0 + 1), h)


def _finite(value: float) -> float:
    """np.nan_to_num for one float: NaN -> 0, infinities -> the largest finite floats."""
    return 0.0 if math.isnan(value) else min(max(value, -sys.float_info.max), sys.float_info.max)


def warp_window(
    image: np.ndarray, to_source: np.ndarray, out_size: tuple[int, int], interpolation: int = cv2.INTER_LINEAR
) -> np.ndarray:
    """cv2.warpAffine of an (H,W,C) image (uint8 or float) through `to_source` (2x3: output pixel
    -> image pixel) into an (out_h, out_w, C) float32 image, edges replicated. Only the window the
    map reads is converted to float, so a large photo is never copied whole."""
    out_w, out_h = out_size
    x0, y0, x1, y1 = _window(to_source, out_w, out_h, image.shape, pad=2)
    shifted = np.asarray(to_source, np.float64) - [[0, 0, x0], [0, 0, y0]]
    out = cv2.warpAffine(
        np.asarray(image[y0:y1, x0:x1], np.float32),
        shifted,
        (out_w, out_h),
        flags=interpolation | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return out.reshape(out_h, out_w, -1)


def crop_with_map_fast(
    image: np.ndarray, center: np.ndarray, side: float, out_size: int, angle: float = 0.0
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """crop_with_map for one numpy (H,W,C) image (uint8 or float 0..255), with OpenCV: the same map
    (A (1,2,2), t (1,2)) and a float32 crop, about 50x faster at inference than eager TF ops; the
    crop may be turned by `angle` (radians, image axes).

    Only the window of the image under the crop is shrunk (antialiased, when the crop is larger
    than out_size) and warped, so memory does not grow with the photo.
    """
    h, w = image.shape[:2]
    side = max(float(side), 1e-3)  # a box of points collapsed onto one spot (an untrained model): still a crop
    shrink = min(1.0, out_size / side)
    size = np.maximum(np.round(np.array([h, w]) * shrink), 1.0)  # (h, w), as crop_with_map
    factor = (size / np.array([h, w]))[::-1]  # (fx, fy)
    small_side = float(side) * factor[0]  # the map on the shrunk image, then back to the image's pixels
    to_small = crop_map((np.asarray(center, np.float64) + 0.5) * factor - 0.5, small_side, small_side, out_size, angle)
    A, t = (to_small[:, :2] / factor[:, None])[None], ((to_small[:, 2] + 0.5) / factor - 0.5)[None]
    to_source, source = np.concatenate([A[0], t[0][:, None]], axis=1), image
    if shrink < 1.0:
        x0, y0, x1, y1 = _window(to_source, out_size, out_size, image.shape, pad=int(np.ceil(2 / shrink)) + 2)
        small_w, small_h = max(1, round((x1 - x0) * factor[0])), max(1, round((y1 - y0) * factor[1]))
        source = cv2.resize(image[y0:y1, x0:x1], (small_w, small_h), interpolation=cv2.INTER_AREA).reshape(
            small_h, small_w, -1
        )
        sx, sy = small_w / (x1 - x0), small_h / (y1 - y0)  # image pixel -> window pixel: (x - x0 + 0.5) s - 0.5
        to_window = np.array([[sx, 0, (0.5 - x0) * sx - 0.5], [0, sy, (0.5 - y0) * sy - 0.5]])
        to_source = to_window[:, :2] @ to_source + np.outer(to_window[:, 2], [0, 0, 1])  # crop -> window
    return warp_window(source, to_source, (out_size, out_size)), (A, t)


def decode_crops(
    paths: Sequence[str],
    centers: np.ndarray,
    sides: np.ndarray,
    out_size: int,
    channels: int,
    desc: str | None = "decoding images",
) -> tuple[np.ndarray, np.ndarray]:
    """Decode every file and crop the square (center, side) to out_size pixels, as uint8.

    Returns the crops (N, out_size, out_size, channels) uint8 and each image's (width, height),
    all upright (EXIF orientation applied). A progress bar named `desc` shows for 200 images or
    more (`desc=None`: none).
    A file that cannot be decoded (corrupt, truncated, not an image) raises InputError naming it.
    """

    def decode_and_crop(path, orientation, center, side):
        image = decode(path, channels, orientation)
        return crop_with_map(image, center, side, out_size)[0], tf.reverse(tf.shape(image)[:2], [0])  # (w, h)

    orientations = np.array([file_orientation(path) for path in paths], np.int32)
    ds = tf.data.Dataset.from_tensor_slices(
        (list(paths), orientations, np.asarray(centers, np.float32), np.asarray(sides, np.float32))
    )
    ds = ds.map(decode_and_crop, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    out = np.empty((len(paths), out_size, out_size, channels), np.uint8)
    sizes = np.empty((len(paths), 2), np.int32)
    it = iter(ds)
    for i in tqdm(
        range(len(paths)),
        desc=desc,
        unit="img",
        leave=False,
        disable=desc is None or len(paths) < 200,
        mininterval=0.5 if sys.stderr.isatty() else 30.0,
    ):
        try:
            crop, size = next(it)
        except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError, tf.errors.DataLossError) as e:
            raise InputError(f"{paths[i]}: unreadable image ({first_line(e)})")
        out[i] = np.clip(np.round(crop.numpy()), 0, 255).astype(np.uint8)
        sizes[i] = size.numpy()
    return out, sizes


def to_crop_coords(
    points: np.ndarray, centers: np.ndarray, sides: np.ndarray, out_size: int, chunk: int = 4096
) -> np.ndarray:
    """Map source-image points (N,K,2) into the crops made by decode_crops (`chunk` faces at a
    time, so TensorFlow's temporaries stay small whatever N)."""
    out = np.empty(np.shape(points), np.float32)
    for start in range(0, len(out), chunk):
        part = slice(start, start + chunk)
        A, t = augment.crop_affine(np.asarray(centers[part], np.float32), np.asarray(sides[part], np.float32), out_size)
        out[part] = augment.points_to_output(tf.constant(points[part], tf.float32), A, t).numpy()
    return out


@dataclass(frozen=True)
class CropSource:
    """Crops not decoded yet: image files and the square (centre, side) each crop covers. The
    disk cache decodes them a chunk at a time, so they never all sit in memory."""

    paths: list
    centers: np.ndarray  # (N, 2)
    sides: np.ndarray  # (N,)
    size: int  # crop side in pixels
    channels: int

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: slice | np.ndarray) -> CropSource:
        picked = np.arange(len(self))[index]
        paths = [self.paths[i] for i in picked]
        return CropSource(paths, self.centers[picked], self.sides[picked], self.size, self.channels)

    @property
    def shape(self) -> tuple:
        """(N, S, S, C), as the decoded crops will be."""
        return (len(self), self.size, self.size, self.channels)

    def decode(self, desc: str | None = "decoding images") -> np.ndarray:
        return decode_crops(self.paths, self.centers, self.sides, self.size, self.channels, desc)[0]


def pixels(images: np.ndarray | CropSource, **decode_options: Any) -> np.ndarray:
    """Images as a uint8 array, decoded now when they are still to read (a CropSource, or
    identities.FaceFiles: any source with `decode`, which takes `decode_options`, e.g. desc=None
    for no progress bar)."""
    return images if isinstance(images, np.ndarray) else images.decode(**decode_options)


def image_sizes(paths: Sequence[str]) -> np.ndarray:
    """Each image's (width, height) as shown (upright under its EXIF orientation) from its header
    alone; a file that is not an image raises InputError naming it."""
    sizes = np.empty((len(paths), 2), np.int32)
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as image:
                sizes[i] = upright_size(image.size, orientation_of(image))
        except (OSError, UnidentifiedImageError) as e:
            raise InputError(f"{path}: unreadable image ({first_line(e)})")
    return sizes
