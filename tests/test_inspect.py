"""Seeing inside a network: the layer table against hand-computed values and Keras'
own shapes, Grad-CAM on a trained model with a known object location, feature maps,
filters and their PNG files, and the cross-correlation demonstration."""

import os
import re

import keras
import numpy as np
import pytest
import scipy.signal

import keras_cnns
from keras_cnns import blocks
from keras_cnns.inspect import (
    default_feature_layers,
    demonstrate,
    feature_map_call,
    feature_maps,
    filter_patterns,
    grad_cam,
    layer_calls,
    layer_table,
    prepare_image,
    visualize,
)
from keras_cnns.inspect.graph import GRADCAM_MIN_SIZE, feature_map_calls, spatial_size
from keras_cnns.inspect.gradients import input_gradient_function, value_and_input_gradient
from keras_cnns.inspect.correlation import EXAMPLE_KERNEL, convolve2d, cross_correlate2d, keras_conv2d
from keras_cnns.models.vgg import build_vgg
from conftest import run_main
from tests.model_checks import random_images, small_config

ALL_MODELS = keras_cnns.list_models()
IMAGENET_SIZE = [n for n in ALL_MODELS if keras_cnns.model_info(n).default_input_shape[0] > 32]


def conv_row(table, name):
    row = table.row(name)
    return row.output_shape, row.params, row.macs, row.receptive_field, row.stride


# --- the layer table ----------------------------------------------------------------------


def test_lenet5_table_matches_the_hand_computation():
    """C1 5x5 valid, S2 2/2, C3 5x5, S4 2/2, C5 5x5 on 32x32x1: (W - K + 2P) / S + 1,
    parameters (K*K*C_in + 1) * C_out, MACs H*W*C_out*K*K*C_in, RF r + (K - 1) j."""
    table = layer_table(keras_cnns.get_model("lenet5", input_shape=(32, 32, 1), classes=10))
    assert conv_row(table, "c1_conv") == ((28, 28, 6), (25 + 1) * 6, 28 * 28 * 6 * 25, (5, 5), (1, 1))
    assert conv_row(table, "s2") == ((14, 14, 6), 0, 0, (6, 6), (2, 2))
    assert conv_row(table, "c3_conv") == ((10, 10, 16), (150 + 1) * 16, 10 * 10 * 16 * 150, (14, 14), (2, 2))
    assert conv_row(table, "s4") == ((5, 5, 16), 0, 0, (16, 16), (4, 4))
    assert conv_row(table, "c5_conv") == ((1, 1, 120), (400 + 1) * 120, 120 * 400, (32, 32), (4, 4))
    assert conv_row(table, "fc1")[:3] == ((84,), 120 * 84 + 84, 120 * 84)
    assert conv_row(table, "predictions")[:3] == ((10,), 84 * 10 + 10, 840)
    assert table.row("fc1").sees_whole_input and table.row("fc1").receptive_field is None
    assert table.total_params == 61_706 == table.trainable_params
    assert table.total_macs == 117_600 + 240_000 + 48_000 + 10_080 + 840
    text = str(table)
    assert "61,706" in text and "416,520" in text and "c3_conv (Conv2D)" in text


def test_small_vgg_table_matches_the_hand_computation():
    model = build_vgg(((256,), (512, 512)), input_shape=(16, 16, 3), classes=4, width_multiplier=1 / 32,
                      dropout=0.0)
    table = layer_table(model)
    # Channels 8, 16, 16 ("same" 3x3 convolutions, 2x2 poolings), dense 128, 128, 4.
    assert conv_row(table, "block1_conv1") == ((16, 16, 8), 28 * 8, 16 * 16 * 8 * 27, (3, 3), (1, 1))
    assert conv_row(table, "block1_pool") == ((8, 8, 8), 0, 0, (4, 4), (2, 2))
    assert conv_row(table, "block2_conv1") == ((8, 8, 16), 73 * 16, 8 * 8 * 16 * 72, (8, 8), (2, 2))
    assert conv_row(table, "block2_conv2") == ((8, 8, 16), 145 * 16, 8 * 8 * 16 * 144, (12, 12), (2, 2))
    assert conv_row(table, "block2_pool") == ((4, 4, 16), 0, 0, (14, 14), (4, 4))
    assert conv_row(table, "fc1")[:3] == ((128,), 256 * 128 + 128, 256 * 128)
    assert conv_row(table, "fc2")[:3] == ((128,), 128 * 128 + 128, 128 * 128)
    assert conv_row(table, "predictions")[:3] == ((4,), 128 * 4 + 4, 128 * 4)
    assert table.total_params == 224 + 1168 + 2320 + 32_896 + 16_512 + 516 == model.count_params()


def test_lecture_parameter_tables_of_alexnet_and_vgg16():
    # AlexNet, single stream at 227x227 (the lectures' table).
    alexnet = layer_table(keras_cnns.get_model("alexnet"))
    expected = {"conv1_conv": (11 * 11 * 3 + 1) * 96, "conv2_conv": (5 * 5 * 96 + 1) * 256,
                "conv3_conv": (3 * 3 * 256 + 1) * 384, "conv4_conv": (3 * 3 * 384 + 1) * 384,
                "conv5_conv": (3 * 3 * 384 + 1) * 256, "fc1": (6 * 6 * 256 + 1) * 4096,
                "fc2": (4096 + 1) * 4096, "predictions": (4096 + 1) * 1000}
    assert {name: alexnet.row(name).params for name in expected} == expected
    assert alexnet.row("conv1_conv").output_shape == (55, 55, 96)
    assert alexnet.row("pool5").output_shape == (6, 6, 256) and alexnet.row("pool5").receptive_field == (195, 195)
    assert alexnet.total_params == 62_378_344
    keras.backend.clear_session()

    vgg16 = layer_table(keras_cnns.get_model("vgg16"))
    widths = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256),
              (256, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]
    names = [f"block{b}_conv{c}" for b, n in zip(range(1, 6), (2, 2, 3, 3, 3)) for c in range(1, n + 1)]
    assert [vgg16.row(name).params for name in names] == [(9 * cin + 1) * cout for cin, cout in widths]
    assert vgg16.row("fc1").params == 7 * 7 * 512 * 4096 + 4096 == 102_764_544
    assert vgg16.row("fc2").params == 16_781_312 and vgg16.row("predictions").params == 4_097_000
    assert vgg16.total_params == 138_357_544
    # 15.47 G multiply-accumulates, the figure torchvision lists (as "GFLOPS") for VGG16.
    assert round(vgg16.total_macs / 1e9, 2) == 15.47
    assert vgg16.row("block5_pool").receptive_field == (212, 212) and vgg16.row("block5_pool").stride == (32, 32)


def _keras_shapes(model):
    return {call.name: tuple(call.output.shape[1:]) for call in layer_calls(model)}


# Grad-CAM's layer, by family: the last convolutional feature map with more than one position.
GRADCAM_LAYERS = {
    "lenet": r"c3_conv",  # c5 is 1x1 at 32x32
    "alexnet": r"conv5_conv",
    "vgg": r"block5_conv\d(_relu)?",
    "resnet": r"conv5_block\d+_out",
    "resnet_cifar": r"conv4_block\d+_out",
    "googlenet": r"inception5b_concat",
    "nin": r"block3_mlp1_conv",
    "allconv": r"top_conv2_conv",
}


@pytest.mark.parametrize("name", ALL_MODELS)
def test_table_agrees_with_keras_and_grad_cam_finds_the_last_conv_layer(name):
    kwargs = small_config(name)
    info = keras_cnns.model_info(name)
    # Sizes where the last feature map has more than one position.
    size = max(info.min_input_size, 32 if info.default_input_shape[0] <= 32 else 67 if name == "alexnet" else 64)
    kwargs["input_shape"] = (size, size, 3)
    model = keras_cnns.get_model(name, **kwargs)
    table = layer_table(model)
    keras_shapes = _keras_shapes(model)
    assert {row.name: row.output_shape for row in table.rows} == keras_shapes
    assert table.total_params == model.count_params()
    assert table.rows[-1].output_shape == tuple(model.compute_output_shape((1, *kwargs["input_shape"]))[1:])

    cam = grad_cam(model, random_images(kwargs["input_shape"], batch=1)[0])
    # The last feature map of at least 7x7 (the finest, where none is): the paper's last convolutional
    # layer where that one still has a spatial layout.
    side = {call.name: min(spatial_size(call.output)) for call in feature_map_calls(model)}
    assert cam.layer_name in side
    later = list(side)[list(side).index(cam.layer_name) + 1:]
    if max(side.values()) >= GRADCAM_MIN_SIZE:
        assert side[cam.layer_name] >= GRADCAM_MIN_SIZE and all(side[name] < GRADCAM_MIN_SIZE for name in later)
    else:
        assert side[cam.layer_name] == max(side.values())
    if side[list(side)[-1]] >= GRADCAM_MIN_SIZE:  # The last map is fine: it is the family's last layer.
        assert re.fullmatch(GRADCAM_LAYERS[info.family], cam.layer_name), cam.layer_name
    stage = re.match(r"(conv\d+)_block\d+_out$", cam.layer_name)
    if stage:  # The last block of the last stage.
        last = max(int(m.group(1)) for n in keras_shapes if (m := re.match(rf"{stage.group(1)}_block(\d+)_", n)))
        assert cam.layer_name == f"{stage.group(1)}_block{last}_out"
    assert cam.upsampled.shape == kwargs["input_shape"][:2]
    assert np.isfinite(cam.heatmap).all() and cam.heatmap.min() >= 0 and cam.heatmap.max() <= 1


def test_grad_cam_of_the_main_jobs_network_has_a_7x7_map():
    """The quick recipe's VGG-11 at 28x28 ends in 4x4 and 2x2 maps; Grad-CAM takes block 3's 7x7 one."""
    from keras_cnns.train import recipe_config

    config = recipe_config("fashion_mnist_quick")
    model = keras_cnns.get_model(config.model, input_shape=(28, 28, 1), classes=10, **config.model_kwargs)
    assert model.get_layer("block5_conv2_relu").output.shape[1:3] == (2, 2)
    cam = grad_cam(model, random_images((28, 28, 1), batch=1)[0])
    assert cam.layer_name == "block3_conv2_relu" and cam.heatmap.shape == (7, 7)


def test_grad_cam_ignores_googlenets_auxiliary_classifiers():
    model = keras_cnns.get_model("googlenet", include_aux=True, input_shape=(65, 65, 3), classes=5,
                                 width_multiplier=0.25)
    assert not [call.name for call in feature_map_calls(model) if call.name.startswith("aux")]
    assert feature_map_call(model, purpose="gradcam").name == "inception3b_concat"  # 9x9; 4a-5b are 5x5 or less.
    cam = grad_cam(model, random_images((65, 65, 3), batch=1)[0], class_index=2)
    assert cam.class_index == 2 and cam.probabilities.shape == (5,)


@pytest.mark.heavy
@pytest.mark.parametrize("name", IMAGENET_SIZE)
def test_table_agrees_with_keras_at_the_default_imagenet_size(name):
    model = keras_cnns.get_model(name)
    table = layer_table(model)
    assert {row.name: row.output_shape for row in table.rows} == _keras_shapes(model)
    assert table.total_params == keras_cnns.model_info(name).num_params


def test_table_follows_a_fully_convolutional_network_at_any_size():
    model = keras_cnns.get_model("resnet20", head="conv", pooling=None, input_shape=(None, None, 1), classes=3)
    table = layer_table(model, input_shape=(64, 48, 1))
    assert table.rows[-1].output_shape == tuple(model.compute_output_shape((1, 64, 48, 1))[1:]) == (16, 12, 3)
    assert table.row("conv4_block3_out").receptive_field == (81, 81)
    assert table.row("conv4_block3_out").stride == (4, 4)
    with pytest.raises(ValueError, match="does not fit"):
        layer_table(model, input_shape=(64, 48, 3))


def test_nested_and_sequential_models():
    backbone = keras_cnns.get_model("lenet5", include_top=False, input_shape=(32, 32, 1))
    inputs = keras.Input((32, 32, 1))
    outputs = keras.layers.Dense(3, name="head")(keras.layers.Flatten(name="flat")(backbone(inputs)))
    table = layer_table(keras.Model(inputs, outputs))
    assert table.row("lenet5/c5_conv").receptive_field == (32, 32)
    assert table.row("head").params == 120 * 3 + 3
    sequential = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3, strides=2, name="c"),
                                   keras.layers.MaxPooling2D(name="p")])
    assert conv_row(layer_table(sequential), "p") == ((6, 6, 4), 0, 0, (5, 5), (4, 4))


def test_summary_command_prints_the_layer_table(capsys):
    status, stdout, stderr = run_main(capsys, "summary", "resnet20", "--input-shape", "28,28,1")
    assert status == 0, stderr[-2000:]
    assert "RF" in stdout and "Connected to" in stdout and "conv4_block3_add (Add)" in stdout
    params = keras_cnns.get_model("resnet20", input_shape=(28, 28, 1)).count_params()
    assert f"Total params: {params:,}" in stdout


# --- Grad-CAM, feature maps and filters on a trained model ----------------------------------

SIZE, OBJECT = 32, 10
SHAPES = ("empty", "ring", "square")


def synthetic_shapes(count, seed):
    """Noise images holding nothing, a ring or a filled square at a random place."""
    rng = np.random.default_rng(seed)
    images = rng.normal(0.0, 0.2, size=(count, SIZE, SIZE, 1)).astype("float32")
    labels = rng.integers(0, len(SHAPES), count)
    corners = rng.integers(0, SIZE - OBJECT, size=(count, 2))
    for image, label, (row, column) in zip(images, labels, corners):
        patch = np.zeros((OBJECT, OBJECT), "float32")
        if SHAPES[label] == "square":
            patch[:] = 1.0
        elif SHAPES[label] == "ring":
            patch[:2], patch[-2:], patch[:, :2], patch[:, -2:] = 1.0, 1.0, 1.0, 1.0
        image[row:row + OBJECT, column:column + OBJECT, 0] += patch
    return images, labels, corners


@pytest.fixture(scope="module")
def shape_classifier():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 1))
    x = blocks.conv_bn_act(inputs, 16, 3, batch_norm=False, name="b1")
    x = keras.layers.MaxPooling2D(name="p1")(x)
    x = blocks.conv_bn_act(x, 32, 3, batch_norm=False, name="b2")
    x = keras.layers.MaxPooling2D(name="p2")(x)
    x = blocks.conv_bn_act(x, 32, 3, batch_norm=False, name="b3")
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="predictions")(x))
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    images, labels, _ = synthetic_shapes(1500, seed=0)
    model.fit(images, labels, epochs=4, batch_size=64, verbose=0)
    return model


def test_grad_cam_weighs_the_object_more_than_the_background(shape_classifier):
    images, labels, corners = synthetic_shapes(40, seed=1)
    assert np.sum(labels == SHAPES.index("square")) >= 8
    accuracy = np.mean(shape_classifier.predict(images, verbose=0).argmax(-1) == labels)
    assert accuracy > 0.9  # The model must have learned the shapes for the test to mean anything.
    ratios = []
    for image, label, (row, column) in zip(images, labels, corners):
        # A ring may be recognized by what it lacks (a filled inside); a square is there.
        if SHAPES[label] != "square":
            continue
        cam = grad_cam(shape_classifier, image, class_index=int(label))
        assert cam.layer_name == "b3_conv"
        inside = np.zeros((SIZE, SIZE), bool)
        inside[max(row - 1, 0):row + OBJECT + 1, max(column - 1, 0):column + OBJECT + 1] = True
        ratios.append(cam.upsampled[inside].mean() / max(cam.upsampled[~inside].mean(), 1e-6))
    assert len(ratios) >= 8 and min(ratios) > 2 and np.median(ratios) > 4, np.round(ratios, 2)


def test_grad_cam_refuses_bad_input(shape_classifier):
    image = synthetic_shapes(1, seed=2)[0][0]
    with pytest.raises(ValueError, match=r"one image of shape \(32, 32, 1\)"):
        grad_cam(shape_classifier, image[:16])
    with pytest.raises(ValueError, match=r"class_index must be an int in \[0, 3\)"):
        grad_cam(shape_classifier, image, class_index=3)
    with pytest.raises(ValueError, match="not a feature map"):
        grad_cam(shape_classifier, image, layer_name="avg_pool")
    branched = keras_cnns.get_model("resnet20", input_shape=(16, 16, 1), classes=3, width_multiplier=0.25)
    with pytest.raises(ValueError, match="inside a branch"):
        grad_cam(branched, random_images((16, 16, 1), batch=1)[0], layer_name="conv4_block3_2_conv")


def test_feature_maps_and_gradient_ascent_patterns(shape_classifier):
    image = synthetic_shapes(1, seed=3)[0][0]
    assert default_feature_layers(shape_classifier) == ["b1_conv", "b2_conv", "b3_conv"]
    maps = feature_maps(shape_classifier, image)
    assert {name: array.shape for name, array in maps.items()} == {
        "b1_conv": (32, 32, 16), "b2_conv": (16, 16, 32), "b3_conv": (8, 8, 32)}
    with pytest.raises(ValueError, match="not feature maps"):
        feature_maps(shape_classifier, image, ["predictions"])

    filters = [0, 1, 2, 3]
    patterns, reached = filter_patterns(shape_classifier, "b3_conv", filters, steps=25)
    assert patterns.shape == (4, 32, 32, 1) and patterns.min() >= 0 and patterns.max() <= 1
    _, start = filter_patterns(shape_classifier, "b3_conv", filters, steps=0)
    assert np.all(reached >= start) and np.sum(reached > start) >= 3
    with pytest.raises(ValueError, match=r"has 32 filters"):
        filter_patterns(shape_classifier, "b3_conv", [40])


def test_visualize_writes_every_kind_of_png(shape_classifier, tmp_path):
    from PIL import Image

    path = tmp_path / "shapes.keras"
    shape_classifier.save(path)
    image = synthetic_shapes(1, seed=4)[0][0, ..., 0]
    picture = tmp_path / "square.png"
    Image.fromarray(np.clip((image + 1) * 100, 0, 255).astype("uint8")).save(picture)
    written = {}
    for kind in ("feature-maps", "filters", "gradcam"):
        written[kind] = visualize(str(path), None if kind == "filters" else str(picture), kind=kind,
                                  out_dir=str(tmp_path / "out"))
    assert [os.path.basename(p) for p in written["feature-maps"]] == [
        "feature_maps_b1_conv.png", "feature_maps_b2_conv.png", "feature_maps_b3_conv.png"]
    assert os.path.basename(written["filters"][0]) == "kernels_b1_conv.png"
    assert os.path.basename(written["gradcam"][0]) == "gradcam_square.png"
    for paths in written.values():
        for png in paths:
            with Image.open(png) as opened:
                assert opened.format == "PNG" and opened.width > 100
    with pytest.raises(ValueError, match="needs an image"):
        visualize(str(path), kind="gradcam")
    with pytest.raises(FileNotFoundError, match="No image file"):
        visualize(str(path), str(tmp_path / "missing.png"), kind="gradcam")
    display, x = prepare_image(str(picture), shape_classifier)
    assert display.shape == (32, 32, 1) and x.max() <= 1.0


def test_visualize_command_on_a_run_test_image(tmp_path, capsys):
    from keras_cnns.train import default_config, train

    run = train(default_config("lenet5", "digits", epochs=1, batch_size=64, out_dir=str(tmp_path / "run")),
                verbose=0)
    status, stdout, stderr = run_main(capsys, "visualize", run.out_dir, "test:3", "--kind", "gradcam")
    assert status == 0, stderr[-2000:]
    written = stdout.split("Wrote ")[1].strip()
    assert written.endswith("gradcam_test_3.png") and os.path.getsize(written) > 0
    status, _, stderr = run_main(capsys, "visualize", run.out_dir, "test:99999")
    assert status == 2 and "out of range" in stderr and "Traceback" not in stderr


@pytest.mark.zoo
def test_input_gradients_on_this_backend():
    """Grad-CAM and gradient ascent run on the active backend (CI: TensorFlow, then JAX)."""
    model = keras_cnns.get_model("lenet5", input_shape=(32, 32, 1), classes=4, activation="relu")
    cam = grad_cam(model, random_images((32, 32, 1), batch=1)[0])
    assert cam.layer_name == "c3_conv" and np.isfinite(cam.upsampled).all()
    _, reached = filter_patterns(model, "c3_conv", [0, 1], steps=5)
    _, start = filter_patterns(model, "c3_conv", [0, 1], steps=0)
    assert np.all(reached >= start)

    # The ascent's compiled pass (traced once, then called per step) gives the op-by-op pass's gradient.
    def objective(outputs):
        return keras.ops.sum(outputs[:, 0])

    x = random_images((32, 32, 1), batch=3)
    gradient_of = input_gradient_function(model, objective)
    for images in (x, x[:2]):  # A second shape: traced again, not refused.
        outputs, gradient = gradient_of(images)
        expected_outputs, expected = value_and_input_gradient(model, images, objective)
        assert gradient.shape == images.shape and np.any(gradient)
        np.testing.assert_allclose(outputs, expected_outputs, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(gradient, expected, rtol=1e-4, atol=1e-6)


# --- Conv2D is a cross-correlation ----------------------------------------------------------


def test_conv2d_is_a_cross_correlation_and_a_flipped_kernel_convolves():
    image = np.random.default_rng(0).uniform(size=(9, 7)).astype("float32")
    # The two formulas against SciPy's reference implementations.
    np.testing.assert_allclose(cross_correlate2d(image, EXAMPLE_KERNEL),
                               scipy.signal.correlate2d(image, EXAMPLE_KERNEL, mode="valid"), atol=1e-5)
    np.testing.assert_allclose(convolve2d(image, EXAMPLE_KERNEL),
                               scipy.signal.convolve2d(image, EXAMPLE_KERNEL, mode="valid"), atol=1e-5)
    np.testing.assert_allclose(keras_conv2d(image, EXAMPLE_KERNEL),
                               scipy.signal.correlate2d(image, EXAMPLE_KERNEL, mode="valid"), atol=1e-5)
    demo = demonstrate(image)
    assert demo.keras_vs_cross_correlation < 1e-5 and demo.flipped_keras_vs_convolution < 1e-5
    assert demo.keras_vs_convolution > 0.1
    with pytest.raises(ValueError, match="2-D image"):
        keras_conv2d(image[..., None], EXAMPLE_KERNEL)
