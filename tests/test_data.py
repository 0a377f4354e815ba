"""The data package: IDX reading, real Fashion-MNIST, digits, image folders,
deterministic splits, normalization, augmentation, offline errors and the NaN
check. Runs in well under a minute on two CPU cores."""

import dataclasses
import gzip
import os
import struct
import time

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_cnns.data import (
    FASHION_MNIST_CLASS_NAMES,
    RECIPE_KEYS,
    DatasetUnavailableError,
    build_augmentation,
    check_finite,
    denormalize,
    load_dataset,
    normalize,
    read_idx,
    scan_image_folder,
    write_idx,
)
from keras_cnns.data import sources
from keras_cnns.data.folders import is_folder_argument
from keras_cnns.data.splits import holdout_split

from conftest import idx_bytes

FASHION_DIR = sources.DEBIAN_FASHION_MNIST_DIR
needs_fashion_mnist = pytest.mark.skipif(
    not os.path.isdir(FASHION_DIR),
    reason=f"real Fashion-MNIST not installed at {FASHION_DIR} "
    "(Debian package dataset-fashion-mnist)",
)


# ----------------------------------------------------------------- helpers


def as_arrays(dataset):
    """All (images, labels) of a finite dataset as numpy arrays."""
    images, labels = [], []
    for image_batch, label_batch in dataset:
        images.append(image_batch.numpy())
        labels.append(label_batch.numpy())
    return np.concatenate(images), np.concatenate(labels)


def to_pixels(images, normalization):
    """Inverts `normalize`, back to rounded [0, 255] pixels."""
    mean = np.asarray(normalization["mean"])
    std = np.asarray(normalization["std"])
    return np.rint((images * std + mean) * 255.0).astype(np.int32)


def save_image(path, size=(8, 8), mode="L", value=None, seed=0):
    """Writes a random (or constant `value`) image of `size` (h, w)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    shape = size + ((3,) if mode == "RGB" else ())
    if value is None:
        pixels = rng.integers(0, 256, shape, dtype=np.uint8)
    else:
        pixels = np.full(shape, value, dtype=np.uint8)
    Image.fromarray(pixels, mode=mode).save(path)
    return path


def make_class_folder(root, class_name, count, start_seed=0, **kwargs):
    for index in range(count):
        save_image(root / class_name / f"{index}.png", seed=start_seed + index, **kwargs)


# --------------------------------------------------------------------- IDX


@pytest.mark.parametrize("gzipped", [False, True])
def test_idx_reader_reads_hand_made_file(tmp_path, gzipped):
    values = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    content = idx_bytes(0x08, (2, 3, 4), values.tobytes())
    path = tmp_path / ("tiny-idx3-ubyte" + (".gz" if gzipped else ""))
    path.write_bytes(gzip.compress(content) if gzipped else content)

    array = read_idx(path, expected_ndim=3)

    assert array.dtype == np.uint8
    np.testing.assert_array_equal(array, values)


def test_idx_reader_handles_big_endian_int32(tmp_path):
    path = tmp_path / "ints-idx1"
    path.write_bytes(idx_bytes(0x0C, (3,), struct.pack(">3i", 1, -2, 70000)))

    np.testing.assert_array_equal(read_idx(path), [1, -2, 70000])


def test_write_idx_round_trips(tmp_path):
    array = np.arange(-6, 6, dtype=np.int16).reshape(3, 4)
    write_idx(tmp_path / "a.idx.gz", array)

    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx.gz"), array)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x01\x02\x08\x01" + struct.pack(">I", 2) + b"ab", "not an IDX file"),
        (idx_bytes(0x08, (10, 2), b"\x00" * 7), "truncated"),
        (b"\x1f\x8b\x08\x00garbage", "cannot be decompressed"),
        (idx_bytes(0x08, (4,), b"\x00" * 4), "dimensions"),
    ],
    ids=["bad-magic", "truncated-data", "broken-gzip", "wrong-ndim"],
)
def test_broken_idx_file_error_names_path(tmp_path, content, message):
    path = tmp_path / "broken-idx3-ubyte"
    path.write_bytes(content)

    with pytest.raises(ValueError, match=message) as error:
        read_idx(path, expected_ndim=2)
    assert str(path) in str(error.value)


# ----------------------------------------------------------- Fashion-MNIST


@needs_fashion_mnist
def test_real_fashion_mnist_files_have_published_counts():
    paths = sources.find_idx_files(FASHION_DIR, sources.FASHION_MNIST_FILES)

    train_images = read_idx(paths["train_images"], expected_ndim=3)
    train_labels = read_idx(paths["train_labels"], expected_ndim=1)
    test_labels = read_idx(paths["test_labels"], expected_ndim=1)

    assert train_images.shape == (60000, 28, 28)
    assert read_idx(paths["test_images"]).shape == (10000, 28, 28)
    np.testing.assert_array_equal(np.bincount(train_labels), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(test_labels), [1000] * 10)


@needs_fashion_mnist
def test_fashion_mnist_bundle_with_limit():
    bundle = load_dataset("fashion_mnist", limit=1000, augment=None, batch_size=500)

    assert bundle.name == "fashion_mnist"
    assert bundle.class_names == FASHION_MNIST_CLASS_NAMES
    assert bundle.class_names[0] == "T-shirt/top" and bundle.class_names[9] == "Ankle boot"
    assert bundle.image_shape == (28, 28, 1)
    assert (bundle.num_train, bundle.num_val, bundle.num_test) == (900, 100, 10000)
    images, labels = as_arrays(bundle.train)
    assert images.shape == (900, 28, 28, 1) and images.dtype == np.float32
    assert labels.dtype == np.int32
    np.testing.assert_array_equal(np.bincount(labels), [90] * 10)  # stratified
    assert abs(images.mean()) < 1e-3 and abs(images.std() - 1) < 1e-3
    # The real data, not a stand-in: mean pixel of Fashion-MNIST is ~0.286.
    assert 0.25 < bundle.normalization["mean"][0] < 0.33


@needs_fashion_mnist
def test_fashion_mnist_resized_to_rgb():
    bundle = load_dataset(
        "fashion_mnist", limit=100, image_size=32, channels=3, augment=None
    )
    images, _ = next(iter(bundle.test))

    assert bundle.image_shape == (32, 32, 3)
    assert images.shape[1:] == (32, 32, 3)
    assert len(bundle.normalization["mean"]) == 3


# ------------------------------------------------------------------ digits


def test_digits_shapes_dtypes_and_normalization(digits):
    images, labels = as_arrays(digits.train)

    assert digits.image_shape == (32, 32, 1)
    assert digits.class_names == [str(d) for d in range(10)]
    assert digits.num_train + digits.num_val + digits.num_test == 1797
    assert digits.num_test == 359  # 20% held out
    assert digits.num_val == round(0.1 * (1797 - 359))
    assert images.shape == (digits.num_train, 32, 32, 1)
    assert images.dtype == np.float32 and labels.dtype == np.int32
    assert abs(images.mean()) < 1e-3 and abs(images.std() - 1) < 1e-3
    val_images, _ = as_arrays(digits.val)
    assert abs(val_images.mean()) < 0.2  # same statistics, other images


def test_validation_split_is_deterministic_under_seed(digits):
    again = load_dataset("digits", augment=None, batch_size=256, seed=0)
    other = load_dataset("digits", augment=None, batch_size=256, seed=1)

    val_images, val_labels = as_arrays(digits.val)
    again_images, again_labels = as_arrays(again.val)
    other_images, _ = as_arrays(other.val)
    np.testing.assert_array_equal(val_images, again_images)
    np.testing.assert_array_equal(val_labels, again_labels)
    assert val_images.shape == other_images.shape
    assert not np.array_equal(val_images, other_images)
    # The test set stays the same whatever the seed.
    np.testing.assert_array_equal(as_arrays(digits.test)[1], as_arrays(other.test)[1])


def test_holdout_split_is_disjoint_stratified_and_seeded():
    labels = np.repeat(np.arange(4), [40, 30, 20, 10])

    kept, held_out = holdout_split(labels, 0.2, seed=3)
    kept_again, held_out_again = holdout_split(labels, 0.2, seed=3)
    _, held_out_other = holdout_split(labels, 0.2, seed=4)

    assert len(held_out) == 20
    assert np.intersect1d(kept, held_out).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([kept, held_out])), np.arange(100))
    np.testing.assert_array_equal(np.bincount(labels[held_out]), [8, 6, 4, 2])
    np.testing.assert_array_equal(held_out, held_out_again)
    np.testing.assert_array_equal(kept, kept_again)
    assert not np.array_equal(held_out, held_out_other)


def test_limit_is_deterministic():
    first = load_dataset("digits", limit=200, augment=None, seed=5)
    second = load_dataset("digits", limit=200, augment=None, seed=5)

    assert first.num_train + first.num_val == 200
    assert first.num_val == 20
    np.testing.assert_array_equal(as_arrays(first.val)[0], as_arrays(second.val)[0])
    np.testing.assert_array_equal(
        np.sort(as_arrays(first.train)[1]), np.sort(as_arrays(second.train)[1])
    )


def test_no_validation_split_gives_no_val_pipeline():
    bundle = load_dataset("digits", validation_split=0, augment=None)

    assert bundle.val is None and bundle.num_val == 0
    assert bundle.num_train == 1797 - 359


# ------------------------------------------------------ normalization, NaN


def test_normalize_is_one_formula_for_numpy_and_tensors():
    normalization = {"mean": [0.5], "std": [0.25]}
    pixels = np.array([[[[0], [255]], [[51], [204]]]], dtype=np.uint8)

    from_numpy = normalize(pixels, normalization)
    from_tensor = normalize(tf.constant(pixels), normalization).numpy()

    assert isinstance(from_numpy, np.ndarray) and from_numpy.dtype == np.float32
    np.testing.assert_allclose(from_numpy.ravel(), [-2.0, 2.0, -1.2, 1.2], rtol=1e-6)
    np.testing.assert_allclose(from_tensor, from_numpy, rtol=1e-6)
    with pytest.raises(ValueError, match="3 channels"):
        normalize(np.zeros((1, 2, 2, 3)), normalization)


def test_denormalize_inverts_normalize():
    normalization = {"mean": [0.2, 0.5, 0.7], "std": [0.3, 0.25, 0.1]}
    pixels = np.random.default_rng(0).integers(0, 256, size=(2, 3, 3, 3)).astype(np.float32)
    restored = denormalize(normalize(pixels, normalization), normalization)
    assert restored.dtype == np.float32
    np.testing.assert_allclose(restored, pixels, atol=1e-3)
    with pytest.raises(ValueError, match="1 channels"):
        denormalize(np.zeros((1, 2, 2, 1)), normalization)


def test_pipeline_images_equal_normalize_of_file_pixels(tmp_path):
    make_class_folder(tmp_path / "imgs", "a", 4, mode="L")
    make_class_folder(tmp_path / "imgs", "b", 4, start_seed=10, mode="L")
    bundle = load_dataset(tmp_path / "imgs", augment=None, validation_split=0)
    files = [np.asarray(Image.open(p))[..., None] for p in (tmp_path / "imgs").rglob("*.png")]

    for split in (bundle.train, bundle.test):
        for image in as_arrays(split)[0]:
            matches = [
                pixels for pixels in files
                if np.allclose(normalize(pixels, bundle.normalization), image, atol=1e-5)
            ]
            assert len(matches) == 1


def test_check_finite_finds_nan_and_inf():
    clean = np.zeros((4, 2, 2, 1), dtype=np.float32)
    with_nan = clean.copy()
    with_nan[2, 1, 0, 0] = np.nan
    batches = [clean, clean.copy(), clean.copy()]
    batches[1][0, 0, 0, 0] = np.inf
    dataset = tf.data.Dataset.from_tensor_slices(
        (np.concatenate(batches), np.zeros(12, dtype=np.int32))
    ).batch(4)

    assert check_finite(clean) == 4
    assert check_finite(np.zeros((3, 2, 2, 1), dtype=np.uint8)) == 3
    with pytest.raises(ValueError, match=r"NaN or inf.*\(2, 1, 0, 0\)"):
        check_finite(with_nan)
    with pytest.raises(ValueError, match="Batch 1 of the dataset holds 1 non-finite"):
        check_finite(dataset)
    assert check_finite(dataset, max_batches=1) == 4


def test_check_finite_passes_on_real_pipeline(digits):
    assert check_finite(digits.train) == digits.num_train


# ------------------------------------------------------------ image folders


@pytest.fixture
def broken_folder(tmp_path):
    root = tmp_path / "animals"
    make_class_folder(root, "cat", 3, mode="RGB")
    make_class_folder(root, "dog", 3, start_seed=10, mode="RGB")
    good = (root / "cat" / "0.png").read_bytes()
    (root / "cat" / "truncated.png").write_bytes(good[: len(good) // 2])
    (root / "dog" / "notes.txt").write_text("not an image")
    (root / "bird").mkdir()
    return root


def test_scan_reports_problems_by_path(broken_folder):
    report = scan_image_folder(broken_folder)

    assert report.class_names == ["bird", "cat", "dog"]
    assert report.layout == "flat"
    assert len(report.records) == 6
    assert [path for path, _ in report.corrupt_files] == [broken_folder / "cat" / "truncated.png"]
    assert report.non_image_files == [broken_folder / "dog" / "notes.txt"]
    assert report.empty_class_folders == [broken_folder / "bird"]
    assert not report.ok


def test_load_dataset_refuses_broken_folder_listing_paths(broken_folder):
    with pytest.raises(ValueError) as error:
        load_dataset(broken_folder)

    message = str(error.value)
    for path in ["cat/truncated.png", "dog/notes.txt", "bird"]:
        assert str(broken_folder / path) in message
    assert "skip_bad_files=True" in message


def test_skip_bad_files_loads_the_good_ones(broken_folder):
    with pytest.warns(UserWarning, match="truncated.png"):
        bundle = load_dataset(
            broken_folder, skip_bad_files=True, augment=None, validation_split=0
        )

    assert bundle.class_names == ["bird", "cat", "dog"]
    assert bundle.num_train + bundle.num_test == 6
    assert bundle.image_shape == (8, 8, 3)
    labels = np.concatenate([as_arrays(bundle.train)[1], as_arrays(bundle.test)[1]])
    np.testing.assert_array_equal(np.bincount(labels, minlength=3), [0, 3, 3])


@pytest.fixture
def mixed_folder(tmp_path):
    root = tmp_path / "mixed"
    make_class_folder(root, "gray", 5, mode="L")
    make_class_folder(root, "colour", 5, start_seed=20, mode="RGB")
    return root


def test_mixed_grayscale_and_colour_default_to_rgb(mixed_folder):
    bundle = load_dataset(mixed_folder, augment=None, validation_split=0)

    assert bundle.image_shape == (8, 8, 3)
    images, labels = as_arrays(bundle.train)
    assert images.shape[1:] == (8, 8, 3)
    pixels = to_pixels(images, bundle.normalization)
    gray = pixels[labels == bundle.class_names.index("gray")]
    colour = pixels[labels == bundle.class_names.index("colour")]
    np.testing.assert_array_equal(gray[..., 0], gray[..., 1])  # repeated gray
    np.testing.assert_array_equal(gray[..., 0], gray[..., 2])
    assert not np.array_equal(colour[..., 0], colour[..., 1])


@pytest.mark.parametrize("channels", [1, 3])
def test_mixed_folder_gives_requested_channels(mixed_folder, channels):
    bundle = load_dataset(mixed_folder, channels=channels, augment=None)
    images, _ = next(iter(bundle.train))

    assert bundle.image_shape == (8, 8, channels)
    assert images.shape[-1] == channels
    assert len(bundle.normalization["std"]) == channels


def test_grayscale_folder_defaults_to_one_channel(tmp_path):
    make_class_folder(tmp_path / "g", "a", 3, mode="L")
    make_class_folder(tmp_path / "g", "b", 3, start_seed=5, mode="L")

    assert load_dataset(tmp_path / "g", augment=None, validation_split=0).image_shape == (8, 8, 1)


def test_folder_sizes_default_to_most_common(tmp_path):
    root = tmp_path / "sizes"
    make_class_folder(root, "a", 3, size=(8, 8))
    make_class_folder(root, "b", 3, start_seed=5, size=(8, 8))
    save_image(root / "b" / "odd.png", size=(10, 12))

    with pytest.warns(UserWarning, match=r"resizing 1 of 7 .*\(8, 8\)"):
        bundle = load_dataset(root, augment=None)
    assert bundle.image_shape == (8, 8, 1)
    assert load_dataset(root, image_size=(6, 5), augment=None).image_shape == (6, 5, 1)


def test_folder_train_val_test_layout(tmp_path):
    root = tmp_path / "split"
    for split, count in [("train", 6), ("val", 2), ("test", 3)]:
        make_class_folder(root / split, "a", count, start_seed=100 * len(split))
        make_class_folder(root / split, "b", count, start_seed=1000 + 100 * len(split))

    bundle = load_dataset(str(root), augment=None)

    assert scan_image_folder(root).layout == "splits"
    assert bundle.class_names == ["a", "b"]
    assert (bundle.num_train, bundle.num_val, bundle.num_test) == (12, 4, 6)


def test_folder_splits_do_not_overlap(tmp_path):
    root = tmp_path / "unique"
    for index in range(40):
        save_image(root / f"class{index % 2}" / f"{index}.png", size=(4, 4), value=index * 5)

    bundle = load_dataset(root, augment=None, validation_split=0.25, batch_size=7)

    assert (bundle.num_train, bundle.num_val, bundle.num_test) == (24, 8, 8)
    seen = {}
    for split in ("train", "val", "test"):
        images, _ = as_arrays(getattr(bundle, split))
        seen[split] = set(to_pixels(images, bundle.normalization)[:, 0, 0, 0].tolist())
        assert len(seen[split]) == len(images)
    assert not seen["train"] & seen["val"]
    assert not seen["train"] & seen["test"]
    assert not seen["val"] & seen["test"]
    assert len(seen["train"] | seen["val"] | seen["test"]) == 40


def test_bare_words_are_dataset_names_and_paths_are_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "digits").mkdir()
    (tmp_path / "data" / "photos").mkdir(parents=True)

    assert not is_folder_argument("digits")
    assert not is_folder_argument("cifar10_corrupted/brightness_1")
    assert is_folder_argument("data/photos")
    assert is_folder_argument("./digits") and is_folder_argument(tmp_path)
    assert load_dataset("digits", augment=None).num_test == 359


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_dataset(str(tmp_path / "nowhere"))


# ------------------------------------------------------------- augmentation


def test_augmentation_changes_training_images_only():
    digits = load_dataset("digits", batch_size=256, seed=0, augment=None)
    augmented = load_dataset(
        "digits", batch_size=256, seed=0, augment={"translation": 0.2, "rotation": 0.1}
    )

    # Fresh pipelines with one seed shuffle alike, so batches line up.
    plain_images, plain_labels = next(iter(digits.train))
    aug_images, aug_labels = next(iter(augmented.train))
    np.testing.assert_array_equal(plain_labels, aug_labels)  # same shuffle order
    changed = np.abs(plain_images.numpy() - aug_images.numpy()).max(axis=(1, 2, 3)) > 0.1
    assert changed.mean() > 0.9
    assert augmented.augmentation == {"translation": 0.2, "rotation": 0.1}
    for split in ("val", "test"):
        np.testing.assert_array_equal(
            as_arrays(getattr(digits, split))[0], as_arrays(getattr(augmented, split))[0]
        )


def test_crop_padding_shifts_each_image_by_whole_pixels_with_zero_fill():
    padding = 2
    rng = np.random.default_rng(0)
    images = rng.integers(1, 256, (32, 10, 10, 1)).astype(np.float32)
    augment = build_augmentation({"crop_padding": padding}, (10, 10, 1), seed=1)

    out = np.asarray(augment(images, training=True))

    shifts = set()
    for original, result in zip(images, out):
        padded = np.pad(original, ((padding, padding), (padding, padding), (0, 0)))
        matches = [
            (dy, dx)
            for dy in range(2 * padding + 1)
            for dx in range(2 * padding + 1)
            if np.array_equal(padded[dy : dy + 10, dx : dx + 10], result)
        ]
        assert len(matches) == 1
        shifts.add(matches[0])
    assert len(shifts) > 5  # one window per image, not one per batch


def test_default_recipes_run_on_their_shapes():
    for recipe, shape in [
        ({"crop_padding": 4, "flip": True}, (32, 32, 3)),
        ({"crop_padding": 2, "flip": True, "erasing": 0.25}, (28, 28, 1)),
        (
            {"crop_padding": 4, "flip": True, "translation": 0.1, "rotation": 0.05,
             "zoom": 0.1, "erasing": 0.25},
            (16, 16, 3),
        ),
    ]:
        augment = build_augmentation(recipe, shape, seed=0)
        images = np.random.default_rng(1).uniform(0, 255, (8,) + shape).astype("float32")
        out = np.asarray(augment(images, training=True))
        assert out.shape == (8,) + shape
        assert all(layer.name.startswith("augment_") for layer in augment.layers)
        assert not np.allclose(out, images)


def test_unknown_recipe_key_lists_valid_keys():
    with pytest.raises(ValueError, match="'blur'") as error:
        build_augmentation({"flip": True, "blur": 3}, (28, 28, 1))
    for key in RECIPE_KEYS:
        assert key in str(error.value)
    with pytest.raises(ValueError, match="Valid keys"):
        load_dataset("digits", augment={"sharpen": 1})


@pytest.mark.parametrize(
    "recipe",
    [{"translation": 1.5}, {"crop_padding": 2.5}, {"flip": "diagonal"}, {"erasing": -0.1}],
)
def test_out_of_range_recipe_values_are_refused(recipe):
    with pytest.raises(ValueError, match="received"):
        build_augmentation(recipe, (28, 28, 1))


def test_augmentation_can_be_turned_off():
    assert build_augmentation(None, (8, 8, 1)) is None
    assert build_augmentation({"flip": False, "zoom": 0}, (8, 8, 1)) is None
    assert load_dataset("digits", augment=False, limit=50).augmentation is None


# ---------------------------------------------------- TensorFlow Datasets


def test_offline_tfds_error_is_fast_and_clear(tmp_path, monkeypatch):
    import tensorflow_datasets  # noqa: F401  (import time is not the point)

    monkeypatch.setattr(sources, "network_available", lambda: False)
    start = time.monotonic()
    with pytest.raises(DatasetUnavailableError) as error:
        load_dataset("mnist", data_dir=str(tmp_path))

    assert time.monotonic() - start < 10
    message = str(error.value)
    assert str(tmp_path) in message and "not found" in message
    assert "internet" in message and "data_dir" in message


@pytest.mark.skipif(sources.network_available(), reason="machine is online")
def test_really_offline_tfds_error(tmp_path):
    start = time.monotonic()
    with pytest.raises(DatasetUnavailableError, match=str(tmp_path)):
        load_dataset("cifar10", data_dir=str(tmp_path))
    assert time.monotonic() - start < 10


def test_unknown_dataset_name_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown dataset 'no_such_dataset_xyz'"):
        load_dataset("no_such_dataset_xyz")


def _tiny_tfds_builder(name, image_shape):
    """A TensorFlow Datasets builder preparing a tiny dataset locally."""
    import tensorflow_datasets as tfds

    def info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=image_shape),
                    "label": tfds.features.ClassLabel(names=["square", "circle"]),
                }
            ),
            supervised_keys=("image", "label"),
        )

    def split_generators(self, dl_manager):
        return {"train": self._generate_examples(20, 0), "test": self._generate_examples(6, 100)}

    def generate_examples(self, count, offset):
        for index in range(count):
            height = 6 if image_shape[0] else 6 + index % 3
            pixels = np.full((height, 5, 3), (offset + index) * 2, np.uint8)
            yield index, {"image": pixels, "label": index % 2}

    return type(
        name,
        (tfds.core.GeneratorBasedBuilder,),
        {
            "VERSION": tfds.core.Version("1.0.0"),
            "_info": info,
            "_split_generators": split_generators,
            "_generate_examples": generate_examples,
        },
    )


@pytest.fixture(scope="module")
def tiny_tfds_dir(tmp_path_factory):
    data_dir = str(tmp_path_factory.mktemp("tfds"))
    for name, image_shape in [("TinyFixedForTest", (6, 5, 3)), ("TinyVariedForTest", (None, 5, 3))]:
        _tiny_tfds_builder(name, image_shape)(data_dir=data_dir).download_and_prepare()
    return data_dir


def test_prepared_tfds_dataset_loads_offline(tiny_tfds_dir, monkeypatch):
    monkeypatch.setattr(sources, "network_available", lambda: False)

    bundle = load_dataset("tiny_fixed_for_test", data_dir=tiny_tfds_dir, validation_split=0.25)

    assert bundle.class_names == ["square", "circle"]
    assert bundle.image_shape == (6, 5, 3)
    assert (bundle.num_train, bundle.num_val, bundle.num_test) == (15, 5, 6)
    test_images, test_labels = as_arrays(bundle.test)
    np.testing.assert_array_equal(np.bincount(test_labels), [3, 3])
    assert test_images.dtype == np.float32 and test_labels.dtype == np.int32


def test_tfds_images_of_varying_size_need_image_size(tiny_tfds_dir):
    with pytest.raises(ValueError, match="vary in size"):
        load_dataset("tiny_varied_for_test", data_dir=tiny_tfds_dir)

    bundle = load_dataset("tiny_varied_for_test", data_dir=tiny_tfds_dir, image_size=(4, 4))
    assert bundle.image_shape == (4, 4, 3)
    assert next(iter(bundle.train))[0].shape[1:] == (4, 4, 3)


# ------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"validation_split": 1.0}, "validation_split"),
        ({"batch_size": 0}, "batch_size"),
        ({"channels": 2}, "channels"),
        ({"image_size": "big"}, "image_size"),
        ({"limit": -5}, "limit"),
        ({"augment": "imagenet"}, "Unknown augmentation recipe name"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_dataset("digits", **kwargs)


def test_bundle_is_frozen(digits):
    with pytest.raises(dataclasses.FrozenInstanceError):
        digits.num_train = 0
    assert digits.num_classes == 10


def test_load_arrays_holds_the_splits_load_dataset_pipelines():
    """One load, many pipelines (as a search makes per trial): the arrays are
    load_dataset's splits, and bundle_from_arrays gives its pipelines."""
    from keras_cnns.data import bundle_from_arrays, load_arrays

    arrays = load_arrays("digits", validation_split=0.2, seed=3, limit=600)
    bundle = load_dataset("digits", validation_split=0.2, seed=3, limit=600, augment=None, batch_size=50)
    assert arrays.train[0].dtype == np.uint8 and arrays.train[0].shape[1:] == bundle.image_shape
    assert (len(arrays.train[1]), len(arrays.val[1]), len(arrays.test[1])) == (
        bundle.num_train, bundle.num_val, bundle.num_test)
    assert arrays.normalization == bundle.normalization
    rebuilt = bundle_from_arrays(arrays, batch_size=50, augment=None)
    for ours, theirs in ((rebuilt.val, bundle.val), (rebuilt.test, bundle.test)):
        for (x1, y1), (x2, y2) in zip(ours, theirs):
            np.testing.assert_array_equal(x1.numpy(), x2.numpy())
            np.testing.assert_array_equal(y1.numpy(), y2.numpy())
    val_images = np.concatenate([x for x, _ in rebuilt.val.as_numpy_iterator()])
    np.testing.assert_allclose(val_images, normalize(arrays.val[0], arrays.normalization), atol=1e-6)
    with pytest.raises(ValueError, match="batch_size"):
        bundle_from_arrays(arrays, batch_size=0)


def test_resize_arrays_resizes_every_split_and_measures_again():
    from keras_cnns.data import load_arrays, resize_arrays
    from keras_cnns.data.preprocessing import resize_images

    arrays = load_arrays("digits", limit=400)
    assert resize_arrays(arrays, arrays.image_shape[:2]) is arrays
    bigger = resize_arrays(arrays, 40)
    assert bigger.image_shape == (40, 40, 1)
    for ours, original in ((bigger.train, arrays.train), (bigger.val, arrays.val),
                           (bigger.test, arrays.test)):
        np.testing.assert_array_equal(ours[0], resize_images(original[0], (40, 40)))
        np.testing.assert_array_equal(ours[1], original[1])
    assert bigger.normalization != arrays.normalization  # Interpolation moves the statistics.


def test_large_folders_show_progress_bars(tmp_path, capsys):
    root = tmp_path / "many"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(500):
            Image.fromarray(np.full((4, 4), i % 256, dtype=np.uint8)).save(root / name / f"{i}.png")
    scan_image_folder(root, verbose=1)
    assert "1000/1000" in capsys.readouterr().out
    load_dataset(root, augment=None, verbose=1)
    printed = capsys.readouterr().out
    assert printed.count("1000/1000") == 2  # The scan, then the reading.
    scan_image_folder(root)  # Silent by default.
    assert capsys.readouterr().out == ""
