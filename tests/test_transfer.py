"""Transfer learning: class subsets of a dataset, fine_tune's phases (what is frozen
and what is trained), its run directory, and fine-tuning against training from
scratch on a small slice of Fashion-MNIST."""

import os

import numpy as np
import pytest

from keras_cnns.data import load_dataset

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
needs_fashion_mnist = pytest.mark.skipif(
    not os.path.isdir(FASHION_MNIST_DIR),
    reason=f"the real Fashion-MNIST is not installed in {FASHION_MNIST_DIR} "
           "(apt-get install dataset-fashion-mnist)",
)


def labels_of(dataset):
    return np.concatenate([np.asarray(labels) for _, labels in dataset])


def test_load_dataset_keeps_chosen_classes_relabelled_in_order():
    full = load_dataset("digits", augment=None, validation_split=0)
    subset = load_dataset("digits", classes=[7, "2"], augment=None, validation_split=0)
    assert subset.class_names == ["7", "2"]
    full_test = labels_of(full.test)
    assert sorted(np.unique(labels_of(subset.test))) == [0, 1]
    # Class 7 became 0 and class 2 became 1, with every test image of each kept.
    assert np.sum(labels_of(subset.test) == 0) == np.sum(full_test == 7)
    assert np.sum(labels_of(subset.test) == 1) == np.sum(full_test == 2)
    limited = load_dataset("digits", classes=[7, 2], limit=40, augment=None)
    assert limited.num_train + limited.num_val == 40
    assert np.bincount(labels_of(limited.train)).tolist() == [18, 18]
    with pytest.raises(ValueError, match=r"labels in \[0, 10\).*received 12"):
        load_dataset("digits", classes=[1, 12])
    with pytest.raises(ValueError, match="each once"):
        load_dataset("digits", classes=[1, 1])


def test_a_training_run_on_chosen_classes_is_evaluated_on_them(tmp_path):
    from keras_cnns.train import TrainConfig, default_config, evaluate, train

    config = default_config("lenet5", "digits", epochs=1, batch_size=64, classes=[3, 8],
                            out_dir=str(tmp_path / "run"))
    assert TrainConfig.from_dict(config.to_dict()) == config
    result = train(config, verbose=0)
    assert result.metrics["class_names"] == ["3", "8"]
    full_test = labels_of(load_dataset("digits", augment=None).test)
    assert result.metrics["num_test"] == np.sum(np.isin(full_test, [3, 8]))
    again = evaluate(result.out_dir)
    assert again["class_names"] == ["3", "8"] and again["test_accuracy"] == result.test_accuracy
    with pytest.raises(ValueError, match="non-empty list of class labels"):
        default_config("lenet5", "digits", classes=5)


# --- fine_tune ------------------------------------------------------------------------------

import keras  # noqa: E402

import keras_cnns  # noqa: E402
from keras_cnns.train import default_config, evaluate, train  # noqa: E402
from keras_cnns.transfer import (  # noqa: E402
    IMAGENET_CAFFE_NORMALIZATION,
    block_name,
    build_transfer_model,
    fine_tune,
    find_blocks,
    load_source,
    set_trainable,
)

PRETRAIN_CLASSES, TARGET_CLASSES = [0, 1, 2, 3, 4], [5, 6, 7, 8, 9]
SMALL_RESNET = {"width_multiplier": 0.5}


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """ResNet-20 (half width) trained briefly on five Fashion-MNIST classes."""
    if not os.path.isdir(FASHION_MNIST_DIR):
        pytest.skip(f"the real Fashion-MNIST is not installed in {FASHION_MNIST_DIR}")
    config = default_config("resnet20", "fashion_mnist", classes=PRETRAIN_CLASSES, limit=3000, epochs=3,
                            batch_size=64, augment=None, model_kwargs=SMALL_RESNET,
                            out_dir=str(tmp_path_factory.mktemp("pretrain") / "run"))
    return train(config, verbose=0)


def test_block_names_follow_each_familys_layer_names():
    assert block_name("conv5_block3_2_conv") == "conv5_block3"    # ResNet
    assert block_name("block5_conv3") == "block5"                 # VGG, NiN
    assert block_name("block_16_expand") == "block_16"            # MobileNetV2
    assert block_name("block6a_se_reduce") == "block6a"           # EfficientNet
    assert block_name("inception4e_3x3_conv") == "inception4e"    # GoogLeNet
    assert block_name("stage2_conv1_conv") == "stage2"            # All-CNN
    assert block_name("c5_conv") == "c5"                          # LeNet-5
    assert block_name("conv1_bn") == "conv1"


@needs_fashion_mnist
def test_phases_freeze_and_unfreeze_what_they_say(pretrained):
    source = load_source(pretrained.out_dir)
    target = load_dataset("fashion_mnist", classes=TARGET_CLASSES, limit=100, augment=None)
    model = build_transfer_model(source, 5, target_normalization=target.normalization)
    names = [name for name, _ in find_blocks(model)]
    assert names == ["conv1"] + [f"conv{stage}_block{block}" for stage in (2, 3, 4) for block in (1, 2, 3)]
    assert "predictions" in [layer.name for layer in model.layers]
    assert not any(layer.name.startswith("aux") for layer in model.layers)

    assert set_trainable(model, 0) == []
    assert [w.path for w in model.trainable_weights] == ["predictions/kernel", "predictions/bias"]
    # A basic block has two 3x3 kernels without bias; batch norm stays frozen.
    assert set_trainable(model, 1) == ["conv4_block3"]
    assert sorted(w.path for w in model.trainable_weights) == [
        "conv4_block3_1_conv/kernel", "conv4_block3_2_conv/kernel", "predictions/bias", "predictions/kernel"]
    set_trainable(model, 2)
    assert len(model.trainable_weights) == 2 + 2 + 2
    assert not any(layer.trainable for layer in model.layers
                   if isinstance(layer, keras.layers.BatchNormalization))
    with pytest.raises(ValueError, match=r"unfreeze_blocks must be an int in \[0, 10\]"):
        set_trainable(model, 11)

    # The input adapter makes the new data's normalization the one the source was trained with.
    images = np.asarray(next(iter(target.test))[0][:8])
    pixels = images * np.asarray(target.normalization["std"]) + np.asarray(target.normalization["mean"])
    as_source = (pixels - np.asarray(source.normalization["mean"])) / np.asarray(source.normalization["std"])
    cut = "conv4_block3_out"
    before = keras.Model(source.model.inputs, source.model.get_layer(cut).output).predict(as_source, verbose=0)
    after = keras.Model(model.inputs, model.get_layer(cut).output).predict(images, verbose=0)
    np.testing.assert_allclose(after, before, atol=1e-4)


@needs_fashion_mnist
def test_fine_tuning_beats_training_from_scratch_on_100_images(pretrained, tmp_path):
    """Same network, same 100 images of five new classes, same 10 epochs.

    With seeds 1, 2 and 3, fine-tuning reached 0.59-0.70 and training from
    scratch 0.20-0.27, so the margin of 0.05 holds with room to spare."""
    options = dict(dataset="fashion_mnist", classes=TARGET_CLASSES, limit=100, batch_size=16, augment=None)
    result = fine_tune(source=pretrained.out_dir, head_epochs=5, fine_tune_epochs=5, unfreeze_blocks=3,
                       out_dir=str(tmp_path / "ft"), verbose=0, **options)
    scratch = train(default_config("resnet20", epochs=10, model_kwargs=SMALL_RESNET,
                                   out_dir=str(tmp_path / "scratch"), **options), verbose=0)
    assert result.test_accuracy > scratch.test_accuracy + 0.05, (result.test_accuracy, scratch.test_accuracy)

    phases = result.metrics["fine_tune"]["phases"]
    opened = ["conv4_block1", "conv4_block2", "conv4_block3"]
    # conv4_block1 has a projection-free (zero-padded) shortcut: two kernels per block.
    assert [p["trainable_weights"] for p in phases] == [2, 2 + 2 * 3]
    assert phases[1]["unfrozen_blocks"] == opened
    assert phases[1]["learning_rate"] == pytest.approx(phases[0]["learning_rate"] / 10)
    # What was frozen did not move, batch-norm statistics included; the opened block did.
    source = keras_cnns.train.load_best_model(os.path.join(pretrained.out_dir, "best.keras"))
    tuned = keras.saving.load_model(result.model_path, compile=False)
    for layer in source.layers:
        if not layer.weights or layer.name.startswith(("avg_pool", "predictions")):
            continue
        same = all(np.array_equal(a, b) for a, b in zip(layer.get_weights(), tuned.get_layer(layer.name).get_weights()))
        trained = layer.name.startswith(tuple(opened)) and not isinstance(layer, keras.layers.BatchNormalization)
        assert same != trained, layer.name

    # A run directory like train's: evaluate reloads its data (classes included) alone.
    for name in ("finetune.json", "config.json", "best.keras", "metrics.json",
                 "phase1_head/history.csv", "phase2_top_blocks/best.keras"):
        assert os.path.getsize(os.path.join(result.out_dir, name)) > 0
    assert evaluate(result.out_dir)["test_accuracy"] == pytest.approx(result.test_accuracy)
    again = fine_tune(source=pretrained.out_dir, head_epochs=5, fine_tune_epochs=5, unfreeze_blocks=3,
                      out_dir=str(tmp_path / "ft"), verbose=0, **options)
    assert all(phase.already_finished for phase in again.phases)
    with pytest.raises(keras_cnns.train.RunConfigMismatchError, match="head_epochs"):
        fine_tune(source=pretrained.out_dir, head_epochs=3, out_dir=str(tmp_path / "ft"), verbose=0, **options)


def test_imagenet_source_takes_rgb_and_this_packages_normalization(cached_vgg16_weights, tmp_path):
    """From the Keras cache, offline: the backbone on normalized RGB images gives what
    keras.applications' VGG16 gives on its own caffe preprocessing (BGR, mean pixel)."""
    reference = cached_vgg16_weights
    source = load_source("vgg16", image_shape=(32, 32, 3))
    assert source.normalization == IMAGENET_CAFFE_NORMALIZATION
    target = {"mean": [0.3, 0.4, 0.5], "std": [0.2, 0.25, 0.3]}
    model = build_transfer_model(source, 4, target_normalization=target)
    pixels = np.random.default_rng(0).uniform(0, 255, size=(2, 32, 32, 3)).astype("float32")
    normalized = (pixels / 255 - np.asarray(target["mean"])) / np.asarray(target["std"])
    ours = keras.Model(model.inputs, model.get_layer("block5_pool").output).predict(normalized, verbose=0)
    expected = reference.predict(keras.applications.vgg16.preprocess_input(pixels.copy()), verbose=0)
    np.testing.assert_allclose(ours, expected, rtol=1e-3, atol=1e-3)
    with pytest.raises(ValueError, match="no published ImageNet weights"):
        load_source("resnet20")

    # End to end: grayscale digits become RGB at the network's 32x32.
    result = fine_tune(source="vgg16", dataset="digits", classes=[0, 1], limit=40, batch_size=20, head_epochs=1,
                       fine_tune_epochs=1, augment=None, out_dir=str(tmp_path / "ft"), verbose=0)
    assert result.metrics["image_shape"] == [32, 32, 3] and result.metrics["class_names"] == ["0", "1"]
    assert result.metrics["fine_tune"]["phases"][1]["unfrozen_blocks"] == ["block5"]
    assert result.metrics["config"]["model"] == "vgg16"


def test_bad_sources_and_settings_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a registered network name"):
        fine_tune(source=str(tmp_path / "missing"), out_dir=str(tmp_path / "ft"), verbose=0)
    with pytest.raises(ValueError, match="head_epochs must be an int of at least 1"):
        fine_tune(source="vgg16", head_epochs=0, verbose=0)
    with pytest.raises(ValueError, match="learning_rate"):
        inputs = keras.Input((32, 32, 1))
        outputs = keras.layers.Dense(2, activation="softmax")(
            keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, name="c1_conv")(inputs)))
        path = str(tmp_path / "lenet5.keras")
        keras.Model(inputs, outputs, name="lenet5").save(path)
        fine_tune(source=path, learning_rate=-1.0, dataset="digits", out_dir=str(tmp_path / "ft"), verbose=0)
    foreign = str(tmp_path / "mine.keras")
    keras.Model(inputs, outputs, name="my_cnn").save(foreign)
    with pytest.raises(ValueError, match="not a registered architecture"):
        fine_tune(source=foreign, dataset="digits", out_dir=str(tmp_path / "ft2"), verbose=0)
