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
* `finetune`: `FineTuneConfig` and `fine_tune` (two runs of the training core).
"""

from keras_cnns._lazy import lazy_exports

_EXPORTS = {
    "FineTuneConfig": "finetune",
    "FineTuneResult": "finetune",
    "IMAGENET_CAFFE_NORMALIZATION": "backbone",
    "PHASES": "finetune",
    "Source": "backbone",
    "block_name": "backbone",
    "build_phase_model": "finetune",
    "build_transfer_model": "backbone",
    "find_blocks": "backbone",
    "fine_tune": "finetune",
    "input_adapter": "backbone",
    "load_source": "backbone",
    "set_trainable": "backbone",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
