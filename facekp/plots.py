"""Pictures: keypoint grids (TensorBoard, sanity checks), feature maps, and `save_figure`, the one
way every matplotlib figure of facekp (plots, ROC curves, predictions) is written."""

import io

import keras
import matplotlib
import numpy as np

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

from facekp.fileio import atomic_write_bytes  # noqa: E402


def save_figure(path: str, fig, dpi: int = 100) -> None:
    """Render a matplotlib figure to PNG, write it atomically to `path`, and close it."""
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


TRUE_COLOR = (0.1, 0.9, 0.1)
PRED_COLOR = (1.0, 0.15, 0.15)


def draw_points(image, points, color, radius=1):
    """Draw (K,2) points as small squares on an (H,W,3) float image in [0, 1]; returns a copy."""
    out = image.copy()
    h, w = out.shape[:2]
    for x, y in np.round(np.nan_to_num(points, nan=-100)).astype(int):
        if 0 <= x < w and 0 <= y < h:
            out[max(0, y - radius) : y + radius + 1, max(0, x - radius) : x + radius + 1] = color
    return out


def keypoint_grid(images, pred, true=None, columns=4):
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


def save_keypoint_figure(path, images, points, columns=4, titles=None):
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


def save_feature_maps(path, model, crop, channels=16):
    """What the first and the last convolution layers see for one crop ((S,S,C) in [0, 1]):
    the input, then `channels` activation maps of each layer, saved atomically as PNG."""
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    probe = keras.Model(model.input, [convs[0].output, convs[-1].output])
    maps = [m[0] for m in probe(crop[None], training=False)]
    fig, axes = plt.subplots(3, channels, figsize=(channels * 0.9, 3 * 1.0), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    axes[0, 0].imshow(crop[..., 0] if crop.shape[-1] == 1 else crop, cmap="gray")
    axes[0, 0].set_title("input", fontsize=6)
    for row, (layer, fmap) in enumerate(zip((convs[0], convs[-1]), maps), start=1):
        fmap = np.asarray(fmap)
        for c in range(min(channels, fmap.shape[-1])):
            axes[row, c].imshow(fmap[..., c], cmap="viridis")
        axes[row, 0].set_title(f"{layer.name} ({fmap.shape[-1]} maps)", fontsize=6, loc="left")
    save_figure(path, fig)
