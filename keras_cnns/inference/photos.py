"""Photos as users have them, prepared to look like the dataset a network was trained on.

A network learns the look of its training images as much as their content.
Fashion-MNIST's are light garments on a black background, centred, the
longest edge filling the 28x28 canvas: Xiao et al. 2017 made them from
product photos by trimming the white border, resizing the longest edge to
28, sharpening, centring and negating. A photo of the same shirt, dark on a
white background and off-centre, is another input altogether: the shipped
networks called most such photos wrong.

`prepare_photo` undoes the difference for datasets of this kind (one object
on a plain background):

1. the background level is the mean of the photo's outermost pixels; a
   background of the other polarity than the dataset's is negated;
2. levels: the background becomes the dataset's background level;
3. the object is found (pixels more than `THRESHOLD` from the background,
   Xiao et al.'s 5%), cut out in a window of the model's aspect ratio that
   the object fills as much as the dataset's objects fill theirs, centred,
   the window padded with background where it passes the photo's edge;
4. resampled to the model's size (`keras_cnns.data.resample`) and, when it
   was cut out, sharpened with a Gaussian unsharp mask (radius and sigma 1,
   as Xiao et al.).

An image that already looks like the dataset's (its object fills the frame
within the dataset's own spread, `DatasetLook.tolerance`) is only resized, as
in training, so dataset images pass through unchanged. An image that was
upscaled from the model's size with point-aligned bilinear interpolation
(what MediaPipe's image preprocessing does to a small image) is sampled back
exactly.

The look of a dataset is measured from its training images
(`measure_dataset_look`) when a model is exported, and kept in its model
card; `TFLiteClassifier` prepares every image with it, and the mobile export
(`keras_cnns.export.mobile`) runs the same steps inside the `.tflite` graph.
`product_photo` turns a dataset image into such a photo, to measure all this.

Only numpy and Pillow are imported, so that inference needs neither Keras
nor TensorFlow.
"""

import dataclasses
import io

import numpy as np
from PIL import Image

from keras_cnns.data.resample import resample_matrix

# ITU-R BT.601 luma weights, as `keras_cnns.data.preprocessing.convert_channels`.
LUMA = (0.299, 0.587, 0.114)
# Pixels closer than this to the background are background: Xiao et al.'s 5% of the intensity range.
THRESHOLD = 0.05 * 255
# The background is read in the four corners, in square patches of this share (1/25) of the shorter side.
CORNER_DIVISOR = 25
# A dataset has a look (one object on a plain background) when this share of its images has four
# corners within THRESHOLD of their median.
PLAIN_DATASET_SHARE = 0.95
# The "fits" tolerance, measured per dataset, is kept within these bounds.
TOLERANCE_RANGE = (0.05, 0.25)
# A cut-out object is resampled with this kernel of keras_cnns.data.resample.
CUT_OUT_KERNEL = "cubic"
# Unsharp mask after cutting an object out: Xiao et al.'s "radius and standard deviation of 1.0" (a 3x3
# Gaussian of sigma 1), amount 1.
SHARPEN_AMOUNT = 1.0
SHARPEN_SIGMA = 1.0
SHARPEN_RADIUS = 1
# An image is the point-aligned upscaling of a model-sized one when re-upscaling its point samples
# misses it by less than this mean gray level (uint8 rounding gives about 0.25).
UPSCALED_ERROR = 1.0
# Levels never stretch the range above a photo's background by more than 255 / MIN_RANGE.
MIN_RANGE = 32.0
# Images measured for a dataset's look.
LOOK_SAMPLE = 2000


@dataclasses.dataclass(frozen=True)
class DatasetLook:
    """How a dataset's images look: one object on a plain background.

    Attributes:
        image_size: The dataset's own `(height, width)`: photos are prepared
            at this size, then resized to the model's as training resized
            the dataset's images.
        background: `"dark"` or `"light"`.
        background_level: The background's typical gray level (0 to 255).
        object_fill: How much of the frame the object's longer side fills
            (1.0: edge to edge, as in Fashion-MNIST; about 0.7 for MNIST).
        tolerance: How far (a share of the frame) the dataset's own objects
            stray from that fill and from the centre; within it, an image
            counts as already prepared.
    """

    image_size: tuple
    background: str
    background_level: float
    object_fill: float
    tolerance: float

    def to_dict(self):
        return {**dataclasses.asdict(self), "image_size": list(self.image_size)}

    @classmethod
    def from_dict(cls, data):
        """Reads a look back from a model card; raises ValueError naming a missing or bad field."""
        if not isinstance(data, dict):
            raise ValueError(f"dataset_look must be an object; received {data!r}.")
        fields = [field.name for field in dataclasses.fields(cls)]
        missing = [name for name in fields if name not in data]
        if missing:
            raise ValueError(f"dataset_look lacks {missing}; it has {sorted(data)}.")
        size = data["image_size"]
        if not (isinstance(size, (list, tuple)) and len(size) == 2
                and all(isinstance(side, int) and not isinstance(side, bool) and side > 0 for side in size)):
            raise ValueError(f"dataset_look.image_size must be [height, width]; received {size!r}.")
        if data["background"] not in ("dark", "light"):
            raise ValueError(f"dataset_look.background must be 'dark' or 'light'; received {data['background']!r}.")
        for name in fields[2:]:
            if not isinstance(data[name], (int, float)) or isinstance(data[name], bool):
                raise ValueError(f"dataset_look.{name} must be a number; received {data[name]!r}.")
        if not 0 < data["object_fill"] <= 1 or not 0 <= data["tolerance"] < 1:
            raise ValueError(
                f"dataset_look holds object_fill={data['object_fill']!r} and tolerance={data['tolerance']!r}; "
                "expected 0 < object_fill <= 1 and 0 <= tolerance < 1."
            )
        return cls(**{**{name: data[name] for name in fields}, "image_size": tuple(size)})


@dataclasses.dataclass(frozen=True)
class PreparedPhoto:
    """What `prepare_photo` did to one image.

    Attributes:
        pixels: float32 `(height, width, channels)` in `[0, 255]`.
        negated: Its background had the other polarity and was negated.
        cut_out: The object was cut out and centred (False: only resized).
        plain_background: Its border is plain, as the dataset's are; False
            hints at a photo unlike the training images.
    """

    pixels: np.ndarray
    negated: bool
    cut_out: bool
    plain_background: bool


def luma(pixels):
    """Gray levels `(H, W)` of float pixels `(H, W, C)`: BT.601 luma for RGB(A), the channel for gray."""
    if pixels.shape[-1] >= 3:
        return pixels[..., :3] @ np.asarray(LUMA, np.float32)
    return pixels[..., 0]


def corner_levels(gray):
    """Mean gray level of each corner patch of a `(H, W)` image (a side of `max(1, min(H, W) // 25)` pixels)."""
    patch = max(1, min(gray.shape) // CORNER_DIVISOR)
    return np.array([gray[:patch, :patch].mean(), gray[:patch, -patch:].mean(),
                     gray[-patch:, :patch].mean(), gray[-patch:, -patch:].mean()], np.float32)


def background_level(corners):
    """The background's gray level: the median of the four corner levels (robust to an object in two corners)."""
    ordered = np.sort(corners)
    return float((ordered[1] + ordered[2]) / 2)


def object_box(gray, threshold=THRESHOLD):
    """`(top, bottom, left, right)` (ends exclusive) of the pixels above `threshold`, or None."""
    mask = gray > threshold
    rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(columns[0]), int(columns[-1]) + 1


def window_around(box, output_size, object_fill):
    """The window `(centre_y, centre_x, height, width)` that holds `box` as the dataset holds its objects.

    The window has the output's aspect ratio; the box's longer side (in
    output proportions) fills `object_fill` of it.
    """
    top, bottom, left, right = box
    out_height, out_width = output_size
    height = max(bottom - top, (right - left) * out_height / out_width) / object_fill
    return (top + bottom) / 2, (left + right) / 2, height, height * out_width / out_height


def window_fits(window, frame, tolerance):
    """Whether a window is the whole frame, within `tolerance` (a share of each side)."""
    centre_y, centre_x, height, width = window
    frame_height, frame_width = frame
    return (abs(height - frame_height) <= tolerance * frame_height and abs(width - frame_width) <= tolerance * frame_width
            and abs(centre_y - frame_height / 2) <= tolerance * frame_height
            and abs(centre_x - frame_width / 2) <= tolerance * frame_width)


def point_matrix(in_size, out_size):
    """`(out_size, in_size)` bilinear weights placing output pixel `i` at input position `i * in_size / out_size`.

    The point-aligned convention of MediaPipe's image preprocessing
    (OpenCV's warp without half-pixel offsets), edges clamped. Upscaling
    with it and then downscaling by the same factor gives the image back.
    """
    positions = np.clip(np.arange(out_size) * in_size / out_size, 0, in_size - 1)
    low = np.floor(positions).astype(int)
    high = np.minimum(low + 1, in_size - 1)
    fraction = (positions - low).astype(np.float32)
    weights = np.zeros((out_size, in_size), np.float32)
    weights[np.arange(out_size), low] += 1.0 - fraction
    weights[np.arange(out_size), high] += fraction
    return weights


def gaussian_kernel(sigma=SHARPEN_SIGMA, radius=SHARPEN_RADIUS):
    """The normalized 2-D Gaussian `(2 radius + 1, 2 radius + 1)`."""
    steps = np.arange(-radius, radius + 1, dtype=np.float32)
    weights = np.exp(-(steps ** 2) / (2 * sigma ** 2))
    weights /= weights.sum()
    return np.outer(weights, weights).astype(np.float32)


def sharpen(pixels, amount=SHARPEN_AMOUNT):
    """Unsharp mask of `(H, W, C)` pixels: `x + amount * (x - gaussian(x))`, zero beyond the edges."""
    kernel = gaussian_kernel()
    radius = kernel.shape[0] // 2
    padded = np.pad(pixels, ((radius, radius), (radius, radius), (0, 0)))
    height, width = pixels.shape[:2]
    blurred = np.zeros_like(pixels)
    for dy in range(kernel.shape[0]):
        for dx in range(kernel.shape[1]):
            blurred += kernel[dy, dx] * padded[dy : dy + height, dx : dx + width]
    return np.clip(pixels + amount * (pixels - blurred), 0.0, 255.0)


def prepare_photo(pixels, look, image_shape):
    """Prepares one image to look like the dataset's images, at the model's size.

    The image is prepared at the dataset's own size (`look.image_size`),
    rounded to whole gray levels like the dataset's images, then resized to
    the model's input as training resized them.

    Args:
        pixels: Array `(H, W, C)` (C in 1, 3, 4) of pixels in `[0, 255]`.
        look: The dataset's `DatasetLook`.
        image_shape: The model's `(height, width, channels)`.

    Returns:
        A `PreparedPhoto`.
    """
    height, width, channels = image_shape
    x = np.asarray(pixels, np.float32)
    if x.shape[-1] == 4:
        x = x[..., :3]
    if look.background == "light":  # Worked on in dark-background form, turned back at the end.
        x = 255.0 - x
    gray = luma(x)
    corners = corner_levels(gray)
    background = background_level(corners)
    plain = bool(np.all(np.abs(corners - background) <= THRESHOLD))
    negated = background > 127.5
    if negated:
        x, gray, background = 255.0 - x, 255.0 - gray, 255.0 - background
    if abs(background - look.background_level) > THRESHOLD:  # Levels: the background becomes the dataset's.
        gain = (255.0 - look.background_level) / max(255.0 - background, MIN_RANGE)
        x = look.background_level + np.maximum(x - background, 0.0) * gain
        gray = look.background_level + np.maximum(gray - background, 0.0) * gain
    source = gray[..., None] if channels == 1 else _as_rgb(x)
    out, cut_out = _to_dataset_size(source, gray, look)
    out = np.clip(np.rint(out), 0.0, 255.0)
    if look.background == "light":
        out = 255.0 - out
    if out.shape[:2] != (height, width):  # As training resizes the dataset's images.
        out = np.clip(np.rint(_apply(resample_matrix(out.shape[0], height), out,
                                     resample_matrix(out.shape[1], width))), 0.0, 255.0)
    return PreparedPhoto(pixels=out.astype(np.float32), negated=negated, cut_out=cut_out, plain_background=plain)


def _to_dataset_size(source, gray, look):
    """`source` `(H, W, C)` at the dataset's size: the object cut out and centred, or the whole image."""
    height, width = look.image_size
    frame = gray.shape
    box = object_box(gray, look.background_level + THRESHOLD)
    window = None if box is None else window_around(box, (height, width), look.object_fill)
    if window is not None and not window_fits(window, frame, look.tolerance):
        centre_y, centre_x, window_height, window_width = window
        rows = resample_matrix(frame[0], height, start=centre_y - window_height / 2, extent=window_height,
                               outside="zero", kernel=CUT_OUT_KERNEL)
        columns = resample_matrix(frame[1], width, start=centre_x - window_width / 2, extent=window_width,
                                  outside="zero", kernel=CUT_OUT_KERNEL)
        # Beyond the photo's edges the window is black: lift it to the dataset's background level.
        coverage = np.outer(rows.sum(axis=1), columns.sum(axis=1))[..., None]
        return sharpen(_apply(rows, source, columns) + look.background_level * (1.0 - coverage)), True
    if frame[0] > height and frame[1] > width and _is_point_upscaled(gray, height, width):
        return _apply(point_matrix(frame[0], height), source, point_matrix(frame[1], width)), False
    return _apply(resample_matrix(frame[0], height), source, resample_matrix(frame[1], width)), False


def measure_dataset_look(images, *, sample=LOOK_SAMPLE, seed=0):
    """The `DatasetLook` of a dataset of one object on a plain background, or None.

    Args:
        images: uint8 array `(N, H, W, C)` of training images.
        sample: How many images (drawn at random) to measure.
        seed: Seed of the draw.

    Returns:
        A `DatasetLook`, or None when fewer than `PLAIN_DATASET_SHARE` of
        the images have a plain background in their four corners (natural
        images such as CIFAR's): photos of those need no preparation.
    """
    images = np.asarray(images)
    if images.ndim != 4 or not len(images):
        raise ValueError(f"measure_dataset_look needs images (N, H, W, C); received shape {images.shape}.")
    picked = np.random.default_rng(seed).choice(len(images), size=min(sample, len(images)), replace=False)
    grays = [luma(images[index].astype(np.float32)) for index in picked]
    corners = np.stack([corner_levels(gray) for gray in grays])
    levels = np.array([background_level(c) for c in corners])
    plain = np.all(np.abs(corners - levels[:, None]) <= THRESHOLD, axis=1)
    if plain.mean() < PLAIN_DATASET_SHARE:
        return None
    dark = float(np.median(levels[plain])) <= 127.5
    level = float(np.median(levels[plain] if dark else 255.0 - levels[plain]))
    frame = grays[0].shape
    fills, offsets = [], []
    for gray in (gray for gray, is_plain in zip(grays, plain) if is_plain):
        box = object_box(gray if dark else 255.0 - gray, level + THRESHOLD)
        if box is None:
            continue
        centre_y, centre_x, window_height, _ = window_around(box, frame, 1.0)
        fills.append(window_height / frame[0])
        offsets.append(max(abs(centre_y / frame[0] - 0.5), abs(centre_x / frame[1] - 0.5)))
    if not fills:
        return None
    fill = float(min(1.0, np.median(fills)))
    spread = np.maximum(np.abs(np.asarray(fills) / fill - 1.0), np.asarray(offsets))
    tolerance = float(np.clip(np.percentile(spread, 99.5), *TOLERANCE_RANGE))
    return DatasetLook(image_size=tuple(int(side) for side in frame), background="dark" if dark else "light",
                       background_level=round(level, 2),
                       object_fill=round(fill, 4), tolerance=round(tolerance, 4))


def product_photo(image, rng, *, size_range=(80, 400), margin_range=(1.15, 3.0), quality_range=(60, 95)):
    """A dataset image as a product photo: dark on white, off-centre, JPEG-compressed.

    The opposite of how Xiao et al. made Fashion-MNIST from photos: the
    image is negated, scaled up so its longer side is drawn from
    `size_range` pixels, placed at a random position on a white canvas
    whose sides are the object's times factors drawn from `margin_range`
    (a random size and aspect ratio), and saved as a JPEG of a random
    quality.

    Args:
        image: uint8 `(h, w)` or `(h, w, C)` light-on-dark dataset image.
        rng: A `numpy.random.Generator`.

    Returns:
        uint8 RGB array `(H, W, 3)`, as a JPEG decoder returns it.
    """
    image = np.asarray(image)
    gray = image if image.ndim == 2 else image[..., 0] if image.shape[-1] == 1 else None
    picture = Image.fromarray(255 - (gray if gray is not None else image[..., :3]))
    longest = int(rng.integers(*size_range))
    scale = longest / max(picture.size)
    picture = picture.convert("RGB").resize(
        (max(1, round(picture.size[0] * scale)), max(1, round(picture.size[1] * scale))), Image.BILINEAR)
    width, height = picture.size
    canvas_size = (int(width * rng.uniform(*margin_range)), int(height * rng.uniform(*margin_range)))
    canvas = Image.new("RGB", canvas_size, (255, 255, 255))
    canvas.paste(picture, (int(rng.integers(0, canvas_size[0] - width + 1)),
                           int(rng.integers(0, canvas_size[1] - height + 1))))
    buffer = io.BytesIO()
    canvas.save(buffer, "JPEG", quality=int(rng.integers(*quality_range)))
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def _as_rgb(pixels):
    return np.repeat(pixels, 3, axis=-1) if pixels.shape[-1] == 1 else pixels


def _apply(rows, pixels, columns):
    return np.einsum("hH,HWc,wW->hwc", rows, pixels, columns, optimize=True).astype(np.float32)


def _is_point_upscaled(gray, height, width):
    """Whether `gray` is the point-aligned bilinear upscaling of a `(height, width)` image."""
    samples = point_matrix(gray.shape[0], height) @ gray @ point_matrix(gray.shape[1], width).T
    rebuilt = point_matrix(height, gray.shape[0]) @ samples @ point_matrix(width, gray.shape[1]).T
    return float(np.mean(np.abs(rebuilt - gray))) < UPSCALED_ERROR
