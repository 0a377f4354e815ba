"""The model registry: every named network, its builder and its metadata.

Modelled on timm's registry: a variant is registered with a decorator, listed
with a glob pattern, and built by name. Names are part of the API.
"""

import dataclasses
import difflib
import fnmatch
import importlib

_REGISTRY = {}
# "no", "loading" or "yes": whether keras_cnns.models (the built-in networks) has registered itself.
_BUILTINS = {"state": "no"}


def _load_builtin_models():
    """Imports `keras_cnns.models` once, so the registry holds the built-in networks.

    Deferred to the first question asked of the registry: `import keras_cnns`
    does not import Keras.
    """
    if _BUILTINS["state"] != "no":
        return
    _BUILTINS["state"] = "loading"
    try:
        importlib.import_module("keras_cnns.models")
    except BaseException:
        _BUILTINS["state"] = "no"
        raise
    _BUILTINS["state"] = "yes"


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about a named network.

    Attributes:
        name: Registered name, e.g. ``"resnet50"``.
        family: Architecture family, e.g. ``"resnet"``.
        paper: Citation of the paper that introduced it.
        year: Publication year.
        default_input_shape: ``(height, width, channels)`` the builder uses by default.
        min_input_size: Smallest height/width the default configuration accepts.
        num_params: Parameter count at the default configuration.
        default_classes: Number of classes the builder uses by default.
        imagenet_weights: Whether ``weights="imagenet"`` is available.
        builder: The function that builds it; takes the keyword arguments of
            the keras.applications builders plus the family's own knobs.
    """

    name: str
    family: str
    paper: str
    year: int
    default_input_shape: tuple
    min_input_size: int
    num_params: int
    default_classes: int
    imagenet_weights: bool
    builder: object = dataclasses.field(repr=False, compare=False)


def register_model(*, family, paper, year, default_input_shape, min_input_size, num_params,
                   default_classes, imagenet_weights=False):
    """Decorator that registers a builder under its function name.

    Raises:
        ValueError: If the name is already registered.
    """

    def decorator(builder):
        name = builder.__name__
        _load_builtin_models()  # A user's name that clashes with a built-in one is refused here.
        if name in _REGISTRY:
            raise ValueError(
                f"A model named {name!r} is already registered; names must be unique. Rename the "
                "builder function (its name is the registered name)."
            )
        _REGISTRY[name] = ModelInfo(
            name=name,
            family=family,
            paper=paper,
            year=year,
            default_input_shape=tuple(default_input_shape),
            min_input_size=min_input_size,
            num_params=num_params,
            default_classes=default_classes,
            imagenet_weights=imagenet_weights,
            builder=builder,
        )
        return builder

    return decorator


def list_models(pattern="*"):
    """Sorted names of the registered networks matching a glob pattern.

    Example:
        >>> list_models("resnet1*")
        ['resnet101', 'resnet110', 'resnet152', 'resnet18']
    """
    _load_builtin_models()
    return sorted(name for name in _REGISTRY if fnmatch.fnmatchcase(name, pattern))


def model_info(name):
    """The `ModelInfo` of a registered network.

    Raises:
        ValueError: If `name` is not registered; the message lists close matches.
    """
    _load_builtin_models()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(str(name), _REGISTRY, n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(
            f"Unknown model {name!r}.{hint} "
            "keras_cnns.list_models() lists every registered name."
        )
    return _REGISTRY[name]


def get_model(name, **kwargs):
    """Builds a registered network by name.

    Args:
        name: A name from `list_models()`.
        **kwargs: Passed to the builder: `include_top`, `weights`,
            `input_tensor`, `input_shape`, `pooling`, `classes`,
            `classifier_activation`, `name` and the family's own knobs.

    Returns:
        A `keras.Model`.

    Example:
        >>> model = get_model("resnet20", input_shape=(28, 28, 1), classes=10)
    """
    return model_info(name).builder(**kwargs)
