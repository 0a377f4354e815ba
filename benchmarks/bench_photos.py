"""Photos as users have them: the shipped models on a product-photo version of Fashion-MNIST's test set.

Each of the 10,000 test images becomes a product photo
(`keras_cnns.inference.photos.product_photo`): negated (a dark garment on
white), scaled up to 80 to 400 pixels, placed off-centre on a white canvas
of random size and aspect ratio, saved as a JPEG of quality 60 to 94. For
every model in `saved_models/`, and several seeds of the photo maker:

* the test set's accuracy through `TFLiteClassifier` (float32 and int8 files);
* the photos' accuracy through the same classifier, which prepares each photo
  (`prepare_photo`), and without that preparation (`look=None`);
* through MediaPipe's `ImageClassifier` (the first seed): the mobile files on the
  test images, on the photos as they are (MediaPipe squashes them to a
  square) and on the photos padded to a square with white (what an app should
  pass);
* out-of-domain photos (scikit-learn's two sample photos, a temple and a
  flower, and 100 random crops of them): the calibrated probability the
  model gives them, and the share answered "unsure" at 0.5, 0.7 and 0.9.

    .venv/bin/python benchmarks/bench_photos.py            # all 10,000 images, 3 seeds
    .venv/bin/python benchmarks/bench_photos.py --quick    # 500 images, 1 seed

Results: `benchmarks/results/photos.json` (`photos_quick.json`).
"""

import argparse
import os
import sys
import time

import numpy as np

import common  # noqa: E402  (benchmarks/common.py)

from keras_cnns.data import sources  # noqa: E402
from keras_cnns.inference import TFLiteClassifier, read_model_card  # noqa: E402
from keras_cnns.inference.photos import product_photo  # noqa: E402
from keras_cnns.train.atomic import write_json  # noqa: E402

SAVED_MODELS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "saved_models")
THRESHOLDS = (0.5, 0.7, 0.9)


def photo_chunks(images, seed, size=500):
    """The product photos of `images` under `seed`, `size` at a time (a photo can take megabytes)."""
    rng = np.random.default_rng(seed)
    for start in range(0, len(images), size):
        yield start, [product_photo(image, rng) for image in images[start:start + size]]


def padded_square(photo):
    height, width, _ = photo.shape
    side = max(height, width)
    canvas = np.full((side, side, 3), 255, np.uint8)
    top, left = (side - height) // 2, (side - width) // 2
    canvas[top:top + height, left:left + width] = photo
    return canvas


def out_of_domain_photos(count=100, seed=0):
    """scikit-learn's two sample photos and random crops of them (no garment in any)."""
    from sklearn.datasets import load_sample_images

    pictures = load_sample_images().images
    rng = np.random.default_rng(seed)
    crops = []
    for _ in range(count):
        picture = pictures[rng.integers(len(pictures))]
        height, width, _ = picture.shape
        side = int(rng.integers(60, min(height, width)))
        top, left = int(rng.integers(0, height - side)), int(rng.integers(0, width - side))
        crops.append(picture[top:top + side, left:left + side])
    return list(pictures), crops


def correct(classifier, images, labels):
    return int(np.sum(classifier.predict(images, batch_size=500).argmax(-1) == labels))


def bench_models(folders, x_test, y_test, seeds):
    """Every model's accuracies on the test images and on each seed's photos, the photos made once."""
    from keras_cnns.export.mobile_runtime import mediapipe_available, run_mediapipe

    rows, classifiers, mobile = [], {}, {}
    for folder in folders:
        card = read_model_card(folder)
        name = os.path.basename(folder)
        rows.append({"model": name, "network": card["architecture"]["model"], "calibration": card.get("calibration")})
        for format in ("float32", "int8"):
            classifiers[name, format] = TFLiteClassifier(folder, format=format)
            classifiers[name, format, "unprepared"] = TFLiteClassifier(folder, format=format, look=None)
        if mediapipe_available():
            for format in ("mobile_float32", "mobile_int8"):
                with open(os.path.join(folder, card["formats"][format]["file"]), "rb") as file:
                    mobile[name, format] = file.read()
    counts = {key: 0 for key in [(*k, seed) for k in classifiers for seed in seeds]}
    mobile_counts = {(*key, kind): 0 for key in mobile for kind in ("test", "photos_as_they_are", "photos_padded_square")}
    seconds = {key: 0.0 for key in classifiers}
    for seed in seeds:
        for start, photos in photo_chunks(x_test, seed):
            labels = y_test[start:start + len(photos)]
            for key, classifier in classifiers.items():
                if key[-1] == "unprepared" and seed != seeds[0]:
                    continue
                began = time.perf_counter()
                counts[(*key, seed)] += correct(classifier, photos, labels)
                seconds[key] += time.perf_counter() - began
            if seed == seeds[0]:
                for key, content in mobile.items():
                    for kind, images in (("test", list(x_test[start:start + len(photos)])),
                                         ("photos_as_they_are", photos),
                                         ("photos_padded_square", [padded_square(p) for p in photos])):
                        probabilities, _ = run_mediapipe(content, images)
                        mobile_counts[(*key, kind)] += int(np.sum(probabilities.argmax(-1) == labels))
            print(f"seed {seed}: {start + len(photos)} photos", flush=True)
    total = len(x_test)
    for row in rows:
        row["formats"] = {}
        for format in ("float32", "int8"):
            per_seed = {seed: counts[(row["model"], format, seed)] / total for seed in seeds}
            test = correct(classifiers[row["model"], format], x_test, y_test) / total
            row["formats"][format] = {
                "test_accuracy": test,
                "photo_accuracy_per_seed": per_seed,
                "photo_accuracy_lowest": min(per_seed.values()),
                "photo_accuracy_spread": max(per_seed.values()) - min(per_seed.values()),
                "largest_drop_points": (test - min(per_seed.values())) * 100,
                "photo_accuracy_unprepared": counts[(row["model"], format, "unprepared", seeds[0])] / total,
                "ms_per_photo_prepared_and_classified": seconds[row["model"], format] * 1000 / (total * len(seeds)),
            }
        row["mediapipe"] = ({format: {kind: mobile_counts[(row["model"], format, kind)] / total
                                      for kind in ("test", "photos_as_they_are", "photos_padded_square")}
                             for format in ("mobile_float32", "mobile_int8")} if mobile
                            else {"note": "MediaPipe is not installed (pip install 'keras-cnns[mobile]')"})
        row["out_of_domain"] = out_of_domain(os.path.join(SAVED_MODELS, row["model"]))
    return rows


def out_of_domain(folder):
    classifier = TFLiteClassifier(folder)
    pictures, crops = out_of_domain_photos()
    whole = classifier.classify(pictures, k=1)
    probabilities = classifier.predict(crops).max(axis=-1)
    return {
        "sample_photos": [{"label": p.label, "probability": p.probability, "notes": list(p.notes)} for p in whole],
        "crops": len(crops),
        "crops_median_top_probability": float(np.median(probabilities)),
        "crops_unsure_share": {str(t): float(np.mean(probabilities < t)) for t in THRESHOLDS},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="500 test images, one seed")
    args = parser.parse_args(argv)
    x_test, y_test = sources.load_fashion_mnist().test
    seeds = [0] if args.quick else [0, 1, 2]
    if args.quick:
        x_test, y_test = x_test[:500], y_test[:500]
    folders = sorted(os.path.join(SAVED_MODELS, name) for name in os.listdir(SAVED_MODELS)
                     if os.path.isfile(os.path.join(SAVED_MODELS, name, "model_card.json")))
    results = {**common.run_facts(), "test_images": len(x_test), "seeds": seeds,
               "models": bench_models(folders, x_test, y_test, seeds)}
    for row in results["models"]:
        for format, measured in row["formats"].items():
            print(f"{row['model']:<26} {format:<8} test {measured['test_accuracy']:.4f}  photos lowest "
                  f"{measured['photo_accuracy_lowest']:.4f} (spread {measured['photo_accuracy_spread'] * 100:.2f} "
                  f"points, drop {measured['largest_drop_points']:.2f})  unprepared "
                  f"{measured['photo_accuracy_unprepared']:.4f}")
        for format, measured in row["mediapipe"].items():
            print(f"{row['model']:<26} {format} through MediaPipe: {measured}")
        print(f"{row['model']:<26} out of domain: {row['out_of_domain']}")
    path = os.path.join(common.RESULTS_DIR, "photos_quick.json" if args.quick else "photos.json")
    write_json(path, results)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
