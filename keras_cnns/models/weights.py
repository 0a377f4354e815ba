"""Loading weights: keras.applications' ImageNet files, and the user's own files.

The ImageNet files are the ones keras.applications publishes; our VGG16/19 and
ResNet50/101/152 have its layer names and shapes, so they load unchanged. They
are looked up in the Keras cache (``$KERAS_HOME/models``, by default
``~/.keras/models``) first, so a machine that downloaded them once, or was
given them, works offline.
"""

import hashlib
import os

import keras

_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/"

# Published files and their MD5 sums, as keras.applications lists them:
# (file with the classifier, file without it).
IMAGENET_FILES = {
    "vgg16": (
        ("vgg16/vgg16_weights_tf_dim_ordering_tf_kernels.h5", "64373286793e3c8b2b4e3219cbf3544b"),
        ("vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "6d6bbae143d832006294945121d1f1fc"),
    ),
    "vgg19": (
        ("vgg19/vgg19_weights_tf_dim_ordering_tf_kernels.h5", "cbe5617147190e668d6c5d5026f83318"),
        ("vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", "253f8cb515780f3b799900260a226db6"),
    ),
    "resnet50": (
        ("resnet/resnet50_weights_tf_dim_ordering_tf_kernels.h5", "2cb95161c43110f7111970584f804107"),
        ("resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", "4d473c1dd8becc155b73f8504c6f6626"),
    ),
    "resnet101": (
        ("resnet/resnet101_weights_tf_dim_ordering_tf_kernels.h5", "f1aeb4b969a6efcfb50fad2f0c20cfc5"),
        ("resnet/resnet101_weights_tf_dim_ordering_tf_kernels_notop.h5", "88cf7a10940856eca736dc7b7e228a21"),
    ),
    "resnet152": (
        ("resnet/resnet152_weights_tf_dim_ordering_tf_kernels.h5", "100835be76be38e30d865e96f2aaae62"),
        ("resnet/resnet152_weights_tf_dim_ordering_tf_kernels_notop.h5", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    ),
}


def keras_cache_dir():
    """Where Keras caches downloaded model files."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "models")


def _md5(path):
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def imagenet_weights_path(model_name, include_top):
    """The local path of a published ImageNet weights file, downloading it if needed.

    Raises:
        ValueError: If no file is published for `model_name`.
        RuntimeError: If the cached file is damaged, or the file is not cached
            and cannot be downloaded; the message says where to put it.
    """
    if model_name not in IMAGENET_FILES:
        raise ValueError(f"No ImageNet weights are published for {model_name!r}.")
    relative, md5 = IMAGENET_FILES[model_name][0 if include_top else 1]
    file_name = os.path.basename(relative)
    cached = os.path.join(keras_cache_dir(), file_name)
    if os.path.exists(cached):
        if _md5(cached) != md5:
            raise RuntimeError(
                f"The cached ImageNet weights {cached} do not match the published file "
                f"(MD5 {md5}); it is damaged or a different file. Delete it and download "
                f"it again from {_BASE}{relative}."
            )
        return cached
    try:
        return keras.utils.get_file(file_name, _BASE + relative, cache_subdir="models", file_hash=md5)
    except Exception as error:  # get_file raises bare Exceptions for network failures.
        raise RuntimeError(
            f"The ImageNet weights of {model_name} are not in the Keras cache ({cached}) and "
            f"could not be downloaded from {_BASE}{relative} ({type(error).__name__}: {error}). "
            "On a machine that is online, download that file and copy it to that path, "
            "or use weights=None."
        ) from None


def load_imagenet_weights(model, model_name, include_top):
    """Loads keras.applications' ImageNet weights into `model`."""
    load_weights_file(model, imagenet_weights_path(model_name, include_top))


def load_weights_file(model, path):
    """Loads a weights file into `model`, with a clear error when it does not fit.

    Raises:
        ValueError: If the file's layers or shapes do not match the model.
    """
    try:
        model.load_weights(path)
    except (ValueError, KeyError) as error:
        raise ValueError(
            f"The weights file {path} does not match the model {model.name!r} "
            f"({model.count_params():,} parameters): {error}. Build the model with the "
            "same architecture, classes and input channels as the one the file was saved "
            "from, or use weights=None."
        ) from None
