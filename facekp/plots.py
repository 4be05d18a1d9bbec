"""Pictures: keypoint grids (TensorBoard, sanity checks), feature maps, and `save_figure`, the one
way every matplotlib figure of facekp (plots, ROC curves, predictions) is written."""

from __future__ import annotations

import io
from dataclasses import dataclass

import keras
import matplotlib
import numpy as np

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from facekp.fileio import atomic_write_bytes  # noqa: E402


def save_figure(path: str, fig: Figure, dpi: int = 100) -> None:
    """Render a matplotlib figure to PNG, write it atomically to `path`, and close it."""
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


TRUE_COLOR = (0.1, 0.9, 0.1)
PRED_COLOR = (1.0, 0.15, 0.15)


def draw_points(image: np.ndarray, points: np.ndarray, color: tuple, radius: int = 1) -> np.ndarray:
    """Draw (K,2) points as small squares on an (H,W,3) float image in [0, 1]; returns a copy."""
    out = image.copy()
    h, w = out.shape[:2]
    for x, y in np.round(np.nan_to_num(points, nan=-100)).astype(int):
        if 0 <= x < w and 0 <= y < h:
            out[max(0, y - radius) : y + radius + 1, max(0, x - radius) : x + radius + 1] = color
    return out


def keypoint_grid(images: np.ndarray, pred: np.ndarray, true: np.ndarray | None = None, columns: int = 4) -> np.ndarray:
    """(N,H,W,C) images in [0, 1] with predicted (red) and true (green) points, tiled into a grid."""
    tiles = []
    for i, image in enumerate(images):
        rgb = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image.copy()
        if true is not None:
            rgb = draw_points(rgb, true[i], TRUE_COLOR)
        tiles.append(draw_points(rgb, pred[i], PRED_COLOR))
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[r : r + columns], axis=1) for r in range(0, len(tiles), columns)]
    return np.concatenate(rows, axis=0)


def save_keypoint_figure(
    path: str, images: np.ndarray, points: np.ndarray, columns: int = 4, titles: list | None = None
) -> None:
    """A matplotlib grid of faces with their keypoints, saved atomically as PNG."""
    rows = max(1, -(-len(images) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.2 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, (image, pts) in enumerate(zip(images, points)):
        ax = axes.ravel()[i]
        ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=1)
        ax.scatter(pts[:, 0], pts[:, 1], s=6, c="#ff3030", marker=".")
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=7)
    save_figure(path, fig)


def save_feature_maps(path: str, model: keras.Model, crop: np.ndarray, channels: int = 16) -> None:
    """What the first and the last convolution layers see for one crop ((S,S,C) in [0, 1]):
    the input, then `channels` activation maps of each layer, saved atomically as PNG."""
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    last = next((layer for layer in convs if layer.name == "heatmaps"), convs[-1])  # not the heatmap head's offsets
    probe = keras.Model(model.input, [convs[0].output, last.output])
    maps = [m[0] for m in probe(crop[None], training=False)]
    fig, axes = plt.subplots(3, channels, figsize=(channels * 0.9, 3 * 1.0), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    axes[0, 0].imshow(crop[..., 0] if crop.shape[-1] == 1 else crop, cmap="gray")
    axes[0, 0].set_title("input", fontsize=6)
    for row, (layer, fmap) in enumerate(zip((convs[0], last), maps), start=1):
        fmap = np.asarray(fmap)
        for c in range(min(channels, fmap.shape[-1])):
            axes[row, c].imshow(fmap[..., c], cmap="viridis")
        axes[row, 0].set_title(f"{layer.name} ({fmap.shape[-1]} maps)", fontsize=6, loc="left")
    save_figure(path, fig)


# ---- predict.py's plot.

BOX_COLOR, POINT_COLOR, LABEL_COLOR = "#30a0ff", "#ff3030", "#ffff40"
TILE = 112  # pixels of each face's tile in the panel beside a photo
MAX_TILES = 30  # faces shown in that panel per photo
MAX_ROWS = 12  # files shown when they have panels (a row each); the CSV has every file


@dataclass
class PlotEntry:
    """One file in predict.py's plot: `thumbnail` is drawn over the photo's pixel extent `size`
    (width, height), so `faces` ((box, score, points (K, 2)) in photo pixels) keep their
    coordinates. labels: (identity, distance) per face, or []. tiles: (crop (S, S, 3) uint8,
    points in its pixels) per face for the panel beside the photo, or [] for none."""

    name: str
    thumbnail: np.ndarray
    size: tuple[int, int]
    faces: list
    labels: list
    tiles: list


def marker_size(face_side: float, points_per_pixel: float) -> float:
    """Scatter marker area (points^2) for a face `face_side` pixels wide drawn at
    `points_per_pixel`: a dot about 3% of the face, 2 to 8 points across."""
    return float(np.clip(0.03 * face_side * points_per_pixel, 2.0, 8.0)) ** 2


def _face_side(points: np.ndarray) -> float:
    return float(np.nanmax(np.ptp(points, axis=0)))


def draw_photo(ax: Axes, entry: PlotEntry, inches: float) -> None:
    """The photo with each face's box, number, points (sized by face) and identity if named."""
    w, h = entry.size
    ax.imshow(entry.thumbnail, extent=(-0.5, w - 0.5, h - 0.5, -0.5))
    points_per_pixel = inches * 72.0 / max(w, h)
    numbered = len(entry.faces) > 1
    for i, (box, _, points) in enumerate(entry.faces):
        ax.add_patch(Rectangle(box[:2], box[2], box[3], fill=False, color=BOX_COLOR, lw=1))
        size = marker_size(_face_side(points), points_per_pixel)
        ax.scatter(points[:, 0], points[:, 1], s=size, c=POINT_COLOR, marker="o", linewidths=0)
        label = " ".join(
            ([str(i)] if numbered else [])
            + ([f"{entry.labels[i][0]} ({entry.labels[i][1]:.2f})"] if i < len(entry.labels) else [])
        )
        if label:
            ax.text(
                box[0],
                box[1],
                label,
                color=LABEL_COLOR,
                fontsize=7,
                va="bottom",
                bbox=dict(facecolor="black", alpha=0.5, lw=0, pad=1),
            )
    ax.set_title(entry.name, fontsize=8)


def draw_tiles(ax: Axes, tiles: list, inches: float) -> None:
    """Every face's tile with its points, numbered as in the photo, in one mosaic."""
    tiles = tiles[:MAX_TILES]
    columns = int(np.ceil(np.sqrt(len(tiles))))
    rows, step = -(-len(tiles) // columns), TILE + 2
    mosaic = np.full((rows * step, columns * step, 3), 255, np.uint8)
    xs, ys = [], []
    for i, (crop, points) in enumerate(tiles):
        top, left = (i // columns) * step, (i % columns) * step
        mosaic[top : top + TILE, left : left + TILE] = crop
        xs.append(points[:, 0] + left)
        ys.append(points[:, 1] + top)
    ax.imshow(mosaic)
    size = marker_size(TILE / 1.4, inches * 72.0 / mosaic.shape[1])
    ax.scatter(np.concatenate(xs), np.concatenate(ys), s=size, c=POINT_COLOR, marker="o", linewidths=0)
    for i in range(len(tiles)):
        ax.text(
            (i % columns) * step + 2,
            (i // columns) * step + 2,
            str(i),
            color=LABEL_COLOR,
            fontsize=6,
            va="top",
            bbox=dict(facecolor="black", alpha=0.5, lw=0, pad=0.5),
        )
    ax.set_title("faces", fontsize=8)


def save_predictions_plot(path: str, entries: list[PlotEntry]) -> None:
    """predict.py's picture of its results, saved atomically as PNG. Files whose faces have tiles
    get a row each (the first MAX_ROWS): the photo, and beside it every face enlarged; otherwise a
    grid of 4 columns."""
    if any(entry.tiles for entry in entries):
        entries = entries[:MAX_ROWS]
        photo_inches, tiles_inches = 7.0, 5.0
        fig, axes = plt.subplots(
            len(entries),
            2,
            figsize=(photo_inches + tiles_inches, 5.0 * len(entries)),
            squeeze=False,
            gridspec_kw={"width_ratios": [photo_inches, tiles_inches]},
        )
        for (photo_ax, tiles_ax), entry in zip(axes, entries):
            draw_photo(photo_ax, entry, photo_inches)
            if entry.tiles:
                draw_tiles(tiles_ax, entry.tiles, tiles_inches)
    else:
        columns = min(4, max(1, len(entries)))
        rows = -(-len(entries) // columns)
        fig, axes = plt.subplots(rows, columns, figsize=(4.5 * columns, 4.5 * rows), squeeze=False)
        for ax, entry in zip(axes.ravel(), entries):
            draw_photo(ax, entry, 4.5)
    for ax in fig.axes:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.axis("off")
    save_figure(path, fig, dpi=100)
