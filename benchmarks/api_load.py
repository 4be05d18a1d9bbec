"""Benchmark: the Python API under concurrent callers: photos per second through
facekp.face_landmarks (or face_embeddings) from 1, 2 and 4 threads at once on the data/samples
photos, and how many calls failed or gave another answer than one thread's (both must be 0).

    python benchmarks/api_load.py [--calls 12] [--threads 1 2 4] [--function face_embeddings]

One call per sample photo first loads the models (the first call's seconds, from `import facekp`
with no model loaded: `first_call_s`) and gives each photo's single-threaded answer;
then for each thread count, that many threads (started together) share `--calls` calls, each on
a photo's path in turn (decoded by the call, as a user's). A call's faces must equal the answer
(boxes and points within 0.001 px). Prints one JSON line: photos/s per thread count, errors,
mismatches, the CPU count (threads beyond it only queue for cores).
"""

import argparse
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from facekp.tfenv import quiet_tensorflow  # noqa: E402

quiet_tensorflow()

import numpy as np  # noqa: E402

import facekp  # noqa: E402

SAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "samples")


def same_faces(faces, expected) -> bool:
    return len(faces) == len(expected) and all(
        np.allclose(a.box, b.box, atol=1e-3) and np.allclose(a.points, b.points, atol=1e-3)
        for a, b in zip(faces, expected)
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=12, help="calls per thread count, shared by its threads")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--function", choices=["face_landmarks", "face_embeddings"], default="face_landmarks")
    args = parser.parse_args()
    function = getattr(facekp, args.function)
    paths = [os.path.join(SAMPLES, name) for name in sorted(os.listdir(SAMPLES))]
    began = time.perf_counter()
    answers = {paths[0]: function(paths[0])}  # the first call loads TensorFlow and the models
    first_call_s = time.perf_counter() - began
    answers.update({path: function(path) for path in paths[1:]})  # the single-threaded answers
    figures = {
        "function": args.function,
        "photos": len(paths),
        "calls": args.calls,
        "cpus": os.cpu_count(),
        "first_call_s": round(first_call_s, 2),
    }
    errors, mismatches, per_second = [], 0, {}
    for threads in args.threads:
        start = threading.Barrier(threads)

        def caller(k, threads=threads, start=start):
            start.wait()
            wrong = 0
            for n in range(k, args.calls, threads):
                path = paths[n % len(paths)]
                try:
                    wrong += not same_faces(function(path), answers[path])
                except Exception as e:  # counted and named once below: the figures are still printed
                    errors.append(f"{type(e).__name__}: {str(e).splitlines()[0][:120]}")
            return wrong

        began = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            mismatches += sum(pool.map(caller, range(threads)))
        per_second[str(threads)] = round(args.calls / (time.perf_counter() - began), 2)
    figures.update({"photos_per_s": per_second, "errors": len(errors), "mismatches": mismatches})
    if errors:
        figures["first_error"] = errors[0]
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
