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
