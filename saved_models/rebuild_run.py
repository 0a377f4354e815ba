"""Rebuilds the run directory of a shipped model from its export, to export it again.

The training runs behind `saved_models/` lived on machines that are gone;
their exports remain. An export holds what a run directory needs: the
weights (the SavedModel's variables, in the order and under the names of the
Keras model's weights), the training configuration and the dataset facts
(`model_card.json`). This script builds the network from the card, copies
the SavedModel's variables into it by name, checks that the rebuilt model
gives the SavedModel's outputs on the real test set, and writes
`config.json`, `metrics.json` and `best.keras`, so that

    python saved_models/rebuild_run.py saved_models/resnet20_fashion_mnist runs/resnet20-rebuilt
    keras-cnns export runs/resnet20-rebuilt --out saved_models/resnet20_fashion_mnist

exports the very same network with today's formats.
"""

import argparse
import os
import sys

import numpy as np
import tensorflow as tf

import keras_cnns
from keras_cnns.data import normalize
from keras_cnns.inference import read_model_card
from keras_cnns.train import TrainConfig, atomic
from keras_cnns.train.run_dir import RunLayout
from keras_cnns.train.trainer import load_run_arrays


def rebuild(export_dir, run_dir):
    card = read_model_card(export_dir)
    if card is None:
        raise SystemExit(f"{export_dir} holds no model_card.json: not an export.")
    config = TrainConfig.from_dict({**card["dataset"]["training_recipe"], "out_dir": run_dir})
    shape = tuple(card["input"]["shape"])
    model = keras_cnns.get_model(config.model, input_shape=shape, classes=len(card["class_names"]),
                                 **config.model_kwargs)
    variables = {variable.name.removesuffix(":0"): variable
                 for variable in tf.saved_model.load(os.path.join(export_dir, "saved_model")).variables}
    missing = [weight.path for weight in model.weights if weight.path not in variables]
    if missing or len(variables) != len(model.weights):
        raise SystemExit(f"The SavedModel's variables do not match {config.model}'s weights (missing: {missing[:5]}).")
    for weight in model.weights:
        weight.assign(variables[weight.path].numpy())

    _, arrays = load_run_arrays(config, image_shape=shape, verbose=0)
    images = normalize(arrays.test[0], card["input"]["normalization"])
    serve = tf.saved_model.load(os.path.join(export_dir, "saved_model")).signatures["serving_default"]
    shipped = np.concatenate([next(iter(serve(tf.constant(images[i:i + 1000])).values())).numpy()
                              for i in range(0, len(images), 1000)])
    rebuilt = model.predict(images, batch_size=1000, verbose=0)
    difference = float(np.max(np.abs(shipped - rebuilt)))
    if difference > 1e-4:
        raise SystemExit(f"The rebuilt model differs from the shipped SavedModel by up to {difference:.3g}.")
    accuracy = float(np.mean(rebuilt.argmax(-1) == arrays.test[1]))

    layout = RunLayout(run_dir)
    os.makedirs(run_dir, exist_ok=True)
    atomic.write_json(layout.config, config.to_dict())
    dataset = card["dataset"]
    atomic.write_json(layout.metrics, {
        "test_accuracy": accuracy, "class_names": card["class_names"],
        "normalization": card["input"]["normalization"], "image_shape": list(shape),
        "num_train": dataset["num_train"], "num_val": dataset["num_val"], "num_test": dataset["num_test"],
        "epochs_run": config.epochs, "rebuilt_from": os.path.abspath(export_dir),
    })
    atomic.save_model(model, layout.best_model)
    print(f"{run_dir}: {config.model} rebuilt from {export_dir}; largest output difference to the shipped "
          f"SavedModel {difference:.2g}, test accuracy {accuracy:.4f} (card: {card['keras']['accuracy']:.4f})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("export_dir", help="a shipped export folder, e.g. saved_models/resnet20_fashion_mnist")
    parser.add_argument("run_dir", help="the run directory to write (new)")
    args = parser.parse_args(argv)
    if os.path.exists(args.run_dir):
        raise SystemExit(f"{args.run_dir} exists; pass a new folder.")
    rebuild(args.export_dir, args.run_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
