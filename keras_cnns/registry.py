"""The model registry: every named network, its builder and its metadata.

Modelled on timm's registry: a variant is registered, listed with a glob
pattern, and built by name. Names are part of the API.

The built-in networks register with `register_variant`: a name and a
backbone factory (`keras_cnns.models.base.Backbone`), from which the
metadata is derived (family, paper, input size, the minimum size its
downsampling allows, whether keras.applications publishes its ImageNet
weights); only the published parameter count is stated. Your own builder
registers with the `register_model` decorator.
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
        backbone: For the built-in networks, the factory of its
            `keras_cnns.models.base.Backbone` (its keywords are the
            family's knobs); None for a builder registered with `register_model`.
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
    backbone: object = dataclasses.field(default=None, repr=False, compare=False)


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


def register_variant(name, backbone, *, num_params):
    """Registers a built-in network: `name`, built from `backbone(**knobs)` by `keras_cnns.models.base.build`.

    Args:
        name: The registered name (also the default model name, and the key
            of keras.applications' ImageNet files where it has some).
        backbone: A factory of the network's `Backbone`: its keyword-only
            arguments are the family's knobs, with the variant's defaults.
        num_params: The parameter count at the default configuration (the
            tests build each network and compare).

    Raises:
        ValueError: If the name is already registered.
    """
    from keras_cnns.models import base, weights

    if name in _REGISTRY:
        raise ValueError(f"A model named {name!r} is already registered; names must be unique.")
    default = backbone()

    def builder(**kwargs):
        return base.build(backbone, name, kwargs)

    builder.__name__ = name
    builder.__doc__ = (f"{name}: {type(default).__name__} with this variant's defaults. Takes the family's "
                       f"knobs ({', '.join(base.knob_names(backbone))}) and every network's arguments "
                       "(keras_cnns.models.base).")
    _REGISTRY[name] = ModelInfo(
        name=name, family=default.family, paper=default.paper, year=default.year,
        default_input_shape=tuple(default.default_input_shape), min_input_size=default.min_input_size(),
        num_params=num_params, default_classes=default.default_classes,
        imagenet_weights=name in weights.IMAGENET_FILES and default.imagenet_form(),
        builder=builder, backbone=backbone,
    )
    return builder


def min_input_size(name, **model_kwargs):
    """The smallest height and width `name` takes with these knobs (`model_info(name).min_input_size` for the defaults).

    Raises:
        ValueError: For an unknown name or knob.
    """
    info = model_info(name)
    if info.backbone is None or not model_kwargs:
        return info.min_input_size
    from keras_cnns.models import base

    knobs = {key: value for key, value in model_kwargs.items() if key not in base.NETWORK_ARGUMENTS}
    base.check_knobs(info.backbone, knobs, name)
    return info.backbone(**knobs).min_input_size()


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


def get_model(model, /, **kwargs):
    """Builds a registered network by name.

    Args:
        model: A name from `list_models()` (positional, so that `name=` can
            name the Keras model).
        **kwargs: Passed to the builder: `include_top`, `weights`,
            `input_tensor`, `input_shape`, `pooling`, `classes`,
            `classifier_activation`, `name` and the family's own knobs.

    Returns:
        A `keras.Model`.

    Example:
        >>> model = get_model("resnet20", input_shape=(28, 28, 1), classes=10, name="my_resnet")
    """
    return model_info(model).builder(**kwargs)
