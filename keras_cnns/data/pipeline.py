"""tf.data pipelines over in-memory uint8 images.

Order: slices -> shuffle (training only, seeded) -> batch -> map(augment
(training only), clip to [0, 255], normalize) -> prefetch.

The decoded images already sit in memory as uint8 arrays (decoded, resized
and channel-converted once by `load_dataset`), which is the pre-augmentation
cache: a `Dataset.cache()` on top would only store a second copy. Augmenting
and normalizing whole batches in one parallel map keeps the CPU cost per image
small, so training does not wait for data.
"""

import tensorflow as tf

from keras_cnns.data.preprocessing import normalize


def make_pipeline(
    images,
    labels,
    *,
    batch_size,
    normalization,
    augmentation=None,
    shuffle_buffer=None,
    seed=None,
    drop_remainder=False,
):
    """Builds a batched, prefetched dataset of normalized images.

    Args:
        images: uint8 array `(N, H, W, C)`, pixels in `[0, 255]`.
        labels: int32 array `(N,)`.
        batch_size: Examples per batch (the last batch may be smaller).
        normalization: `{"mean": [...], "std": [...]}` for `normalize`.
        augmentation: Optional layer (from `build_augmentation`) applied to
            each batch with `training=True`, before normalization.
        shuffle_buffer: If set, shuffle with a buffer of
            `min(shuffle_buffer, N)` examples, reshuffled every epoch.
        seed: Shuffle seed; the same seed gives the same order of epochs.
        drop_remainder: Drop the last, smaller batch. Multi-process training
            needs it: Keras shards a dataset across processes only when every
            batch has the same, static size.

    Returns:
        A `tf.data.Dataset` of `(float32 (B, H, W, C), int32 (B,))`.
    """
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle_buffer:
        dataset = dataset.shuffle(
            min(shuffle_buffer, len(images)),
            seed=seed,
            reshuffle_each_iteration=True,
        )
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)

    def preprocess(image_batch, label_batch):
        pixels = tf.cast(image_batch, tf.float32)
        if augmentation is not None:
            pixels = augmentation(pixels, training=True)
            # Interpolation and random-erasing noise may leave the pixel range.
            pixels = tf.clip_by_value(pixels, 0.0, 255.0)
        return normalize(pixels, normalization), tf.cast(label_batch, tf.int32)

    dataset = dataset.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)
