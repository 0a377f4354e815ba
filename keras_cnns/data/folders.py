"""Image folders: scanning for problems, then reading into arrays.

Two layouts are accepted (class names are the sorted class folder names):

    root/                      root/
      cat/  a.png b.jpg ...      train/  cat/ ...  dog/ ...
      dog/  ...                  val/    cat/ ...  dog/ ...   (optional)
                                 test/   cat/ ...  dog/ ...   (optional)

The second layout is recognised when `root` has a `train/` folder and every
sub-folder of `root` is one of `train`, `val`, `validation` or `test`. Files
below a class folder (at any depth) belong to that class. Hidden files (names
starting with ".") are ignored. Files lying directly in `root` (or in a split
folder) are not part of any class: they are reported as stray files and
ignored.

Every file is opened and fully decoded with PIL during the scan, so that a
broken file is reported by path before training starts instead of failing in
the middle of `fit`.
"""

import collections
import contextlib
import dataclasses
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Split folder name -> split; "validation" is an alias of "val".
SPLIT_FOLDER_NAMES = {
    "train": "train", "val": "val", "validation": "val", "test": "test"
}
# Pillow modes that hold no colour information.
_GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
# Pillow modes of 16-bit gray levels (0 to 65535).
_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N"}
# How many problem paths of each kind an error message lists.
MAX_LISTED_PATHS = 10
# Folders with fewer files are scanned and read without a progress bar.
_PROGRESS_MIN_FILES = 1000


@dataclasses.dataclass(frozen=True)
class ImageRecord:
    """One readable image found by `scan_image_folder`.

    Attributes:
        path: File path.
        label: Class index into `ScanReport.class_names`.
        split: `"train"`, `"val"` or `"test"` (`"train"` in the flat layout).
        size: `(height, width)` after applying the EXIF orientation.
        is_colour: Whether the image holds colour (not just gray levels).
    """

    path: Path
    label: int
    split: str
    size: tuple
    is_colour: bool


@dataclasses.dataclass(frozen=True)
class ScanReport:
    """What `scan_image_folder` found.

    Attributes:
        root: The scanned folder.
        layout: `"flat"` (class folders in root) or `"splits"` (train/ val/
            test/ folders holding class folders).
        class_names: Sorted class folder names (union over splits).
        records: Readable images, as `ImageRecord`s.
        corrupt_files: `(path, reason)` for files PIL recognises as images but
            cannot decode (e.g. truncated).
        non_image_files: Files PIL does not recognise as images.
        empty_class_folders: Class folders without any readable image.
        stray_files: Files outside any class folder (ignored, not problems).
    """

    root: Path
    layout: str
    class_names: list
    records: list
    corrupt_files: list
    non_image_files: list
    empty_class_folders: list
    stray_files: list

    @property
    def ok(self):
        """True when there are no corrupt, non-image or empty-class problems."""
        return not (
            self.corrupt_files or self.non_image_files or self.empty_class_folders
        )

    @property
    def splits(self):
        """The split names that hold at least one readable image."""
        return sorted({record.split for record in self.records})

    @property
    def size_counts(self):
        """`collections.Counter` of `(height, width)` over readable images."""
        return collections.Counter(record.size for record in self.records)

    @property
    def has_colour(self):
        """Whether any readable image holds colour."""
        return any(record.is_colour for record in self.records)

    def describe_problems(self, max_paths=MAX_LISTED_PATHS):
        """Lists the problems, `max_paths` paths per kind, with counts.

        Returns:
            A multi-line string, empty when `ok`.
        """
        sections = [
            ("corrupt image file(s)", [f"{p} ({why})" for p, why in self.corrupt_files]),
            ("non-image file(s)", [str(p) for p in self.non_image_files]),
            ("empty class folder(s)", [str(p) for p in self.empty_class_folders]),
        ]
        lines = []
        for title, entries in sections:
            if not entries:
                continue
            lines.append(f"{len(entries)} {title}:")
            lines.extend(f"  {entry}" for entry in entries[:max_paths])
            if len(entries) > max_paths:
                lines.append(f"  ... and {len(entries) - max_paths} more")
        return "\n".join(lines)


def scan_image_folder(path, verbose=0):
    """Finds the classes and images of a folder and every unreadable file.

    Every file is decoded in full, which is what catches truncated images.

    Args:
        path: Root folder in one of the layouts of the module docstring.
        verbose: 1 shows a progress bar over the files.

    Returns:
        A `ScanReport`.

    Raises:
        ValueError: If `path` is not a folder or holds no class folders.

    Example:

    ```python
    report = scan_image_folder("photos/")
    if not report.ok:
        print(report.describe_problems())
    ```
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ValueError(
            f"Image folder {root} does not exist or is not a folder. Pass a "
            "folder holding one sub-folder per class."
        )
    layout, split_dirs = _detect_layout(root)
    class_dirs = {split: _visible_dirs(d) for split, d in split_dirs.items()}
    class_names = sorted({d.name for dirs in class_dirs.values() for d in dirs})
    if not class_names:
        raise ValueError(
            f"Image folder {root} holds no class folders. Put the images of "
            "each class in their own sub-folder, e.g. "
            f"{root / 'cat' / 'img1.png'}."
        )
    label_of = {name: index for index, name in enumerate(class_names)}
    records, corrupt, non_image, empty = [], [], [], []
    stray = [f for d in split_dirs.values() for f in _visible_files(d)]
    if layout == "splits":
        stray.extend(_visible_files(root))
    files = {
        (split, class_dir): _class_folder_files(class_dir)
        for split, dirs in class_dirs.items()
        for class_dir in dirs
    }
    progress = _progress_bar(sum(map(len, files.values())), verbose)
    for (split, class_dir), paths in files.items():
        found = _scan_files(
            paths, label_of[class_dir.name], split, corrupt, non_image, progress
        )
        if not found:
            empty.append(class_dir)
        records.extend(found)
    return ScanReport(
        root=root,
        layout=layout,
        class_names=class_names,
        records=records,
        corrupt_files=corrupt,
        non_image_files=non_image,
        empty_class_folders=empty,
        stray_files=stray,
    )


def check_scan(report, skip_bad_files=False):
    """Raises on the problems of a scan, or warns about them when skipping.

    Args:
        report: A `ScanReport`.
        skip_bad_files: If True, problems become a `UserWarning` and the bad
            files are left out (an empty class keeps its name and index).

    Raises:
        ValueError: If the report has problems and `skip_bad_files` is False,
            or if no readable image is left at all.
    """
    if not report.records:
        raise ValueError(
            f"Image folder {report.root} holds no readable images.\n"
            f"{report.describe_problems()}"
        )
    if len(report.class_names) < 2:
        raise ValueError(
            f"Image folder {report.root} holds {len(report.class_names)} class folder(s) "
            f"({', '.join(report.class_names)}): a classifier needs at least two classes, one sub-folder "
            "of images per class (e.g. cats/ and dogs/)."
        )
    if report.stray_files:
        warnings.warn(
            f"Ignoring {len(report.stray_files)} file(s) outside any class "
            f"folder in {report.root}, e.g. {report.stray_files[0]}.",
            stacklevel=3,
        )
    if report.ok:
        return
    if not skip_bad_files:
        raise ValueError(
            f"Image folder {report.root} has problems:\n"
            f"{report.describe_problems()}\n"
            "Fix or remove these files and folders, or leave them out with "
            "skip_bad_files=True."
        )
    warnings.warn(
        f"Leaving out problems in image folder {report.root}:\n"
        f"{report.describe_problems()}",
        stacklevel=3,
    )


def read_images(records, image_size, channels, verbose=0):
    """Decodes images into one uint8 array, converting and resizing each.

    Args:
        records: `ImageRecord`s to read.
        image_size: Target `(height, width)`; images of another size are
            resized with bilinear filtering (the aspect ratio is not kept).
        channels: 1 (grayscale) or 3 (RGB); alpha is dropped.
        verbose: 1 shows a progress bar.

    Returns:
        `(images, labels)`: uint8 `(N, height, width, channels)` and int32
        `(N,)`.

    Raises:
        ValueError: If a file can no longer be decoded (it changed after the
            scan); the message names it.
    """
    height, width = image_size
    images = np.empty((len(records), height, width, channels), dtype=np.uint8)
    progress = _progress_bar(len(records), verbose)
    for index, record in enumerate(records):
        if progress is not None:
            progress.add(1)
        try:
            images[index] = _read_resized(record.path, image_size, channels)
        except (OSError, SyntaxError, ValueError) as error:
            raise ValueError(
                f"Image {record.path} could not be read ({error}), although "
                "it could when the folder was scanned. Was it changed or "
                "removed meanwhile? Load the dataset again."
            ) from error
    labels = np.array([record.label for record in records], dtype=np.int32)
    return images, labels


def most_common_size(report):
    """The `(height, width)` shared by most images (ties: the larger one)."""
    counts = report.size_counts
    return max(counts, key=lambda size: (counts[size], size[0] * size[1], size))


def is_folder_argument(name):
    """Whether `load_dataset`'s `name` refers to an image folder.

    A name is a folder when it is a path object, a string starting with `/`,
    `./`, `../` or `~`, or a string with a path separator naming an existing
    directory (`"data/photos"`). A bare word is always a dataset name, even
    if a directory of that name exists: write `"./photos"` for the folder.
    """
    if isinstance(name, os.PathLike):
        return True
    if not isinstance(name, str):
        return False
    if name.startswith(("/", "./", "../", "~", ".\\", "..\\")):
        return True
    has_separator = os.sep in name or (os.altsep is not None and os.altsep in name)
    return has_separator and os.path.isdir(name)


def read_image(path, channels, image_size=None):
    """Decodes one image file as the folder loader does, into a uint8 array.

    The file is fully decoded, turned upright by its EXIF orientation,
    converted to grayscale or RGB (alpha dropped) and, if `image_size` is
    given, resized with bilinear filtering (aspect ratio not kept).

    Args:
        path: Image file path.
        channels: 1 (grayscale) or 3 (RGB).
        image_size: Optional target `(height, width)`.

    Returns:
        uint8 array `(height, width, channels)`.

    Raises:
        FileNotFoundError: If there is no file at `path`.
        PIL.UnidentifiedImageError: If Pillow does not recognise the file.
        OSError: If the file is a broken image.
    """
    with _open_decoded(path) as image:
        return image_to_array(image, channels, image_size)


def image_to_array(image, channels, image_size=None):
    """A PIL image as a uint8 `(height, width, channels)` array (see `read_image`).

    16-bit grayscale images (Pillow modes `I;16*`: 16-bit PNG, TIFF, PGM)
    are scaled to 8 bits (`v / 257`): Pillow's own `convert` clips them at
    255, which turns them white.
    """
    if image.mode in _SIXTEEN_BIT_MODES:
        levels = np.asarray(image, dtype=np.float64) / 257.0
        image = Image.fromarray(np.clip(np.rint(levels), 0, 255).astype(np.uint8), "L")
    image = image.convert("L" if channels == 1 else "RGB")
    if image_size is not None and image.size != (image_size[1], image_size[0]):
        image = image.resize((image_size[1], image_size[0]), Image.Resampling.BILINEAR)
    return np.asarray(image).reshape(image.height, image.width, channels)


def _read_resized(path, image_size, channels):
    return read_image(path, channels, image_size)


def _detect_layout(root):
    subdirs = _visible_dirs(root)
    names = {d.name for d in subdirs}
    if "train" in names and names <= set(SPLIT_FOLDER_NAMES):
        return "splits", {SPLIT_FOLDER_NAMES[d.name]: d for d in subdirs}
    return "flat", {"train": root}


def _class_folder_files(class_dir):
    return [
        path for path in sorted(class_dir.rglob("*"))
        if path.is_file() and not _is_hidden(path, class_dir)
    ]


def _progress_bar(total, verbose):
    # Only worth showing for folders that take more than a moment.
    if not verbose or total < _PROGRESS_MIN_FILES:
        return None
    import keras

    return keras.utils.Progbar(total, unit_name="image")


def _scan_files(paths, label, split, corrupt, non_image, progress):
    found = []
    for file_path in paths:
        if progress is not None:
            progress.add(1)
        try:
            with _open_decoded(file_path) as image:
                record = ImageRecord(
                    path=file_path,
                    label=label,
                    split=split,
                    size=(image.height, image.width),
                    is_colour=_is_colour(image),
                )
        except UnidentifiedImageError:
            non_image.append(file_path)
            continue
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
            corrupt.append((file_path, f"{type(error).__name__}: {error}"))
            continue
        found.append(record)
    return found


@contextlib.contextmanager
def _open_decoded(path):
    # Decoding every pixel, not just reading the header, is what catches
    # truncated files.
    with Image.open(path) as image:
        image.load()
        yield ImageOps.exif_transpose(image)


def _is_colour(image):
    if image.mode in _GRAY_MODES:
        return False
    if image.mode == "P":
        palette = np.asarray(image.getpalette() or [], dtype=np.int32)
        rgb = palette[: len(palette) // 3 * 3].reshape(-1, 3)
        return bool((rgb != rgb[:, :1]).any())
    return True


def _visible_dirs(folder):
    return sorted(
        d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")
    )


def _visible_files(folder):
    return sorted(
        f for f in folder.iterdir() if f.is_file() and not f.name.startswith(".")
    )


def _is_hidden(file_path, class_dir):
    return any(part.startswith(".") for part in file_path.relative_to(class_dir).parts)
