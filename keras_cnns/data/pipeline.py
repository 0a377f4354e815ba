"""tf.data pipelines over in-memory uint8 images.

Order: slices -> shuffle (training only, seeded) -> batch -> [repeat, for an
endless training stream] -> map(mirror by pass (alternating flips), augment
(training only), clip to [0, 255], normalize) -> prefetch.

The decoded images already sit in memory as uint8 arrays (decoded, resized
and channel-converted once by `load_dataset`), which is the pre-augmentation
cache: a `Dataset.cache()` on top would only store a second copy. Augmenting
and normalizing whole batches in one parallel map keeps the CPU cost per image
small, so training does not wait for data.
"""

import numpy as np
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
    flip_bits=None,
    first_pass=0,
    endless=False,
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
        flip_bits: None, or a 0/1 array `(N,)` for flips that alternate by
            pass (`augment.alternates_flips`): with `endless`, image `i` is
            mirrored in pass `p` when `flip_bits[i]` differs from `p % 2`,
            before `augmentation`. A single pass (not `endless`) may be
            iterated again and again by its user without the pass being
            known, so it mirrors each image at random instead.
        first_pass: The number of the first pass (a resumed run's epochs
            done), for `flip_bits`.
        endless: Repeat the passes without end (numbered on from
            `first_pass`): what `model.fit` takes with `steps_per_epoch`.

    Returns:
        A `tf.data.Dataset` of `(float32 (B, H, W, C), int32 (B,))`.
    """
    slices = (images, labels) if flip_bits is None else (images, labels, np.asarray(flip_bits, np.uint8))
    dataset = tf.data.Dataset.from_tensor_slices(slices)
    if shuffle_buffer:
        dataset = dataset.shuffle(
            min(shuffle_buffer, len(images)),
            seed=seed,
            reshuffle_each_iteration=True,
        )
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    if endless:
        dataset = dataset.repeat()
    batches_per_pass = len(images) // batch_size if drop_remainder else -(-len(images) // batch_size)

    def preprocess(index, batch):
        pixels = tf.cast(batch[0], tf.float32)
        if flip_bits is not None:
            if endless:
                pass_parity = tf.cast((first_pass + index // batches_per_pass) % 2, tf.uint8)
                mirrored = tf.not_equal(batch[2], pass_parity)
            else:
                mirrored = tf.random.uniform(tf.shape(batch[1]), seed=seed) < 0.5
            pixels = tf.where(mirrored[:, None, None, None], tf.reverse(pixels, axis=[2]), pixels)
        if augmentation is not None:
            pixels = augmentation(pixels, training=True)
            # Interpolation and random-erasing noise may leave the pixel range.
            pixels = tf.clip_by_value(pixels, 0.0, 255.0)
        return normalize(pixels, normalization), tf.cast(batch[1], tf.int32)

    if flip_bits is not None:  # The batch's number tells its pass.
        dataset = dataset.enumerate().map(lambda index, batch: preprocess(index, batch),
                                          num_parallel_calls=tf.data.AUTOTUNE)
    else:
        dataset = dataset.map(lambda *batch: preprocess(None, batch), num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)
