"""Keypoints for image files: face crops (one face each) or, with detection, photos of many faces.

Writes `prediction-<timestamp>.csv` (one row per face: file, face, box, score, x0, y0, ...) and
`plot-<timestamp>.png` (every file with its faces' keypoints), both atomically.
"""
import io
import os
import sys
import time

import numpy as np
from tqdm import tqdm

from facekp import detect
from facekp.data import images as image_ops
from facekp.errors import InputError
from facekp.fileio import atomic_write_bytes, atomic_write_text

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")


def find_images(inputs):
    """Files named, and image files found recursively in folders named, in a stable order."""
    found = []
    for item in inputs:
        if os.path.isdir(item):
            for root, _, files in sorted(os.walk(item)):
                found += [os.path.join(root, f) for f in sorted(files) if f.lower().endswith(IMAGE_EXTENSIONS)]
        else:
            found.append(item)
    return found


def gray_of(rgb):
    """(H,W,3) float RGB -> (H,W) uint8 luminance (the weights of TF's rgb_to_grayscale)."""
    return np.round(rgb @ np.array([0.2989, 0.587, 0.114], np.float32)).astype(np.uint8)


def model_image(rgb, channels):
    """The image as the model reads it: RGB, or gray with one channel; float 0..255."""
    return rgb if channels == 3 else gray_of(rgb)[..., None].astype(np.float32)


def faces_in(path, predictor, find_all, refine=1):
    """[(box (x, y, w, h), score, keypoints (K, 2))] for one file, and the decoded RGB image."""
    rgb = image_ops.decode(path, 3).numpy()
    gray = gray_of(rgb)
    boxes, scores, starts = face_starts(detect.detect_faces(gray), gray.shape, find_all)
    points = predictor.predict_faces(model_image(rgb, predictor.cfg.channels), starts, refine)
    return list(zip(boxes, scores, points)), rgb


def face_starts(detections, shape, find_all):
    """(CSV boxes (x, y, w, h), scores, keypoint boxes to start the search from) for one image of
    `shape` (h, w) from its detections.

    Crops (find_all false): the largest detection starts the search, else the whole image; the
    CSV box is the whole image, as for any crop. Photos (find_all true): every detection.
    """
    h, w = shape[:2]
    if find_all:
        boxes, scores = [d[:4] for d in detections], [d[4] for d in detections]
        return boxes, scores, [detect.keypoint_box(box) for box in boxes]
    largest = max(detections, key=lambda d: d[2] * d[3]) if detections else None
    # no detection in a crop: assume the face fills the middle of it
    start = detect.keypoint_box(largest) if largest else ((w - 1) / 2.0, (h - 1) / 2.0, 0.6 * min(w, h))
    return [(0.0, 0.0, float(w), float(h))], [1.0], [start]


def csv_text(rows, num_points, identities=None):
    """The predictions CSV; with `identities` ((name, distance) per row) two more columns."""
    header = ["file", "face", "box_x", "box_y", "box_w", "box_h", "score"]
    header += [f"{axis}{i}" for i in range(num_points) for axis in ("x", "y")]
    header += ["identity", "distance"] if identities is not None else []
    lines = [",".join(header)]
    for n, (path, face, box, score, points) in enumerate(rows):
        values = [f"{v:.1f}" for v in box] + [f"{score:.3f}"] + [f"{v:.2f}" for v in np.ravel(points)]
        if identities is not None:
            values += [identities[n][0], f"{identities[n][1]:.4f}"]
        lines.append(",".join([path, str(face)] + values))
    return "\n".join(lines) + "\n"


def recognition_faces(rgb, faces, recogniser):
    """The recognition crops (F, S, S, C) of a file's faces, cut around their keypoints."""
    from facekp.recognition import face_from_keypoints
    image = model_image(rgb, recogniser.cfg.channels)
    return np.stack([face_from_keypoints(image, points, recogniser.cfg.input_size) for _, _, points in faces])


def enrol(gallery_dir, predictor, recogniser, threshold):
    """A Gallery of DIR/<person>/<image> (one face per image: the largest found, else the middle)."""
    from facekp.data.identities import person_folders
    from facekp.recognition import Gallery
    embeddings, people = [], []
    for person, files in person_folders(gallery_dir).items():
        for path in files:
            try:
                faces, rgb = faces_in(path, predictor, find_all=False)
            except Exception as e:  # TF and OpenCV raise many types for a bad file
                print(f"{path}: unreadable image ({type(e).__name__}), not enrolled", file=sys.stderr)
                continue
            embeddings.append(recogniser.outputs(recognition_faces(rgb, faces, recogniser))[0])
            people.append(person)
    if not people:
        raise InputError(f"{gallery_dir}: no readable face image to enrol")
    print(f"enrolled {len(people)} faces of {len(set(people))} people from {gallery_dir} "
          f"(threshold {threshold:.3f})")
    return Gallery(np.stack(embeddings), people, threshold)


def save_plot(path, shown, columns=4, max_files=48):
    """A grid: each file's image with every face's keypoints, detection box and identity if named.

    shown: (name, rgb, faces, labels) per file; labels: (identity, distance) per face, or [].
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    shown = shown[:max_files]
    columns = min(columns, max(1, len(shown)))
    rows = -(-len(shown) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 4 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (name, rgb, faces, labels) in zip(axes.ravel(), shown):
        ax.imshow(rgb.astype(np.uint8))
        for i, (box, _, points) in enumerate(faces):
            ax.add_patch(Rectangle(box[:2], box[2], box[3], fill=False, color="#30a0ff", lw=1))
            ax.scatter(points[:, 0], points[:, 1], s=10, c="#ff3030", marker=".", linewidths=0)
            if i < len(labels):
                ax.text(box[0], box[1], f"{labels[i][0]} ({labels[i][1]:.2f})", color="#ffff40", fontsize=7,
                        va="bottom", bbox=dict(facecolor="black", alpha=0.5, lw=0, pad=1))
        ax.set_title(name, fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def write_extras(path, rgb, faces, predictor, out_dir, stamp, overlay, feature_maps):
    """Per-file outputs: the face filter applied to every face; the first face's feature maps."""
    from facekp import overlay as overlays, plots, tasks
    stem = os.path.splitext(os.path.basename(path))[0]
    if overlay is not None:
        image = rgb.astype(np.uint8)
        for _, _, points in faces:
            image = overlays.apply_overlay(image, overlay[1], *overlays.placement(points, overlay[0]))
        from PIL import Image
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        atomic_write_bytes(os.path.join(out_dir, f"overlay-{stamp}-{stem}.png"), buffer.getvalue())
    if feature_maps and faces:
        center, side = tasks.face_boxes(faces[0][2][None])
        crop, _ = image_ops.crop_with_map_fast(model_image(rgb, predictor.cfg.channels), center[0],
                                               float(side[0]) * predictor.cfg.margin, predictor.cfg.input_size)
        plots.save_feature_maps(os.path.join(out_dir, f"features-{stamp}-{stem}.png"), predictor.model, crop / 255.0)


def predict_files(paths, predictor, out_dir, find_all, overlay=None, feature_maps=False, refine=1,
                  identify=None):
    """Run every file; report unreadable ones and faceless photos by name, then write CSV + plot
    (and, when asked, a filtered image and a feature-map picture per file).

    overlay: (kind, RGBA image) from facekp.overlay, or None. identify: (Recogniser, Gallery)
    to name every face, or None. Returns (csv path, plot path, number of files read).
    """
    stamp = time.strftime("%Y%m%d-%H%M%S")
    os.makedirs(out_dir, exist_ok=True)
    rows, shown, read, names = [], [], 0, ([] if identify else None)
    for path in tqdm(paths, desc="predict", unit="img", disable=len(paths) < 5):
        try:
            faces, rgb = faces_in(path, predictor, find_all, refine)
        except Exception as e:  # TF and OpenCV raise many types for a bad file
            message = getattr(e, "message", str(e)).strip().splitlines()
            print(f"{path}: unreadable image ({message[0] if message else type(e).__name__}), skipped",
                  file=sys.stderr)
            continue
        read += 1
        if not faces:
            print(f"{path}: no face found", file=sys.stderr)
        rows += [(path, i, box, score, points) for i, (box, score, points) in enumerate(faces)]
        labels = []
        if identify and faces:
            recogniser, gallery = identify
            labels = gallery.identify(recogniser.outputs(recognition_faces(rgb, faces, recogniser)))
            names += labels
        shown.append((os.path.basename(path), rgb, faces, labels))
        write_extras(path, rgb, faces, predictor, out_dir, stamp, overlay, feature_maps)
    if not read:
        return None, None, 0
    csv_path = os.path.join(out_dir, f"prediction-{stamp}.csv")
    plot_path = os.path.join(out_dir, f"plot-{stamp}.png")
    atomic_write_text(csv_path, csv_text(rows, predictor.scheme.num_points, names))
    save_plot(plot_path, shown)
    return csv_path, plot_path, read
