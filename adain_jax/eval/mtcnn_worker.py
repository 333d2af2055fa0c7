"""MTCNN face detection in a separate interpreter (facenet-pytorch's venv).

    FACES_PYTHON mtcnn_worker.py IMAGES.npz RESULT.json
    FACES_PYTHON mtcnn_worker.py --check

Run by :mod:`adain_jax.eval.faces` with the interpreter that has facenet-pytorch (its torch
and pillow pins need a venv of their own); never imported by the library. ``IMAGES.npz``
holds uint8 (H, W, 3) RGB arrays named ``0``, ``1``, ...; the result is one entry per image:
``boxes`` (x1, y1, x2, y2), ``probs`` and ``landmarks`` (5 points (x, y): left eye, right
eye, nose, mouth left, mouth right), all in the image's pixel coordinates. Only NumPy,
json and facenet-pytorch are used, so the worker needs nothing from adain-jax.
"""
import json
import sys


def _load_detector():
    from facenet_pytorch import MTCNN

    return MTCNN(keep_all=True, device="cpu")


def _detect(detector, img) -> dict:
    boxes, probs, landmarks = detector.detect(img, landmarks=True)
    if boxes is None:
        return {"boxes": [], "probs": [], "landmarks": []}
    return {"boxes": boxes.tolist(), "probs": [float(p) for p in probs],
            "landmarks": landmarks.tolist()}


def main(argv) -> int:
    if argv[:1] == ["--check"]:
        import facenet_pytorch

        _load_detector()
        print(json.dumps({"facenet_pytorch": getattr(facenet_pytorch, "__version__", "?")}))
        return 0
    if len(argv) != 2:
        print("usage: mtcnn_worker.py IMAGES.npz RESULT.json | --check", file=sys.stderr)
        return 2
    import numpy as np

    detector = _load_detector()
    with np.load(argv[0], allow_pickle=False) as data:
        results = [_detect(detector, np.ascontiguousarray(data[str(i)]))
                   for i in range(len(data.files))]
    with open(argv[1], "w") as f:
        json.dump(results, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
