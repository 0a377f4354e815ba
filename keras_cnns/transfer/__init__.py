"""Transfer learning: a network trained on a large dataset, fine-tuned on a small one.

```python
from keras_cnns.transfer import fine_tune

result = fine_tune(source="runs/r20-five-classes",     # run directory, .keras, or "resnet50"
                   dataset="fashion_mnist", classes=[5, 6, 7, 8, 9], limit=500,
                   head_epochs=5, fine_tune_epochs=10, unfreeze_blocks=1, out_dir="runs/ft")
print(result.test_accuracy)
```

Modules:

* `backbone`: loading the pretrained network, cutting it at its last
  feature map, the input adapter and new head, and the blocks to unfreeze.
* `config`: `FineTuneConfig`.
* `finetune`: `fine_tune` (two runs of the training core).
"""

from keras_cnns._lazy import lazy_exports

_EXPORTS = {
    "backbone": (
        "IMAGENET_CAFFE_NORMALIZATION", "Source", "block_name", "build_transfer_model", "find_blocks",
        "input_adapter", "load_source", "set_trainable",
    ),
    "config": ("PHASES", "FineTuneConfig"),
    "finetune": ("FineTuneResult", "build_phase_model", "fine_tune"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
