"""Commands about seeing inside a network and transfer learning: `visualize`, `finetune`."""

import dataclasses

from keras_cnns.inspect import KINDS
from keras_cnns.transfer.config import FineTuneConfig


def _command_visualize(args):
    from keras_cnns.inspect import visualize

    layers = [name.strip() for name in args.layers.split(",")] if args.layers else None
    paths = visualize(args.model, args.image, kind=args.kind, out_dir=args.out, layers=layers,
                      class_index=args.class_index)
    for path in paths:
        print(f"Wrote {path}")
    return 0


def _command_finetune(args):
    from keras_cnns.cli.args import parse_classes
    from keras_cnns.transfer import fine_tune

    fields = {
        key: value
        for key, value in {
            "dataset": args.dataset,
            "classes": parse_classes(args.classes),
            "limit": args.limit,
            "head_epochs": args.head_epochs,
            "fine_tune_epochs": args.epochs,
            "unfreeze_blocks": args.unfreeze_blocks,
            "learning_rate": args.lr,
            "fine_tune_learning_rate": args.fine_tune_lr,
            "batch_size": args.batch_size,
            "seed": args.seed,
            "image_size": args.image_size,
            "data_dir": args.data_dir,
            "out_dir": args.out,
        }.items()
        if value is not None
    }
    if args.no_augment:
        fields["augment"] = None
    if args.skip_bad_files:
        fields["skip_bad_files"] = True
    result = fine_tune(source=args.source, overwrite=args.overwrite, **fields)
    for phase in result.metrics["fine_tune"]["phases"]:
        blocks = ", ".join(phase["unfrozen_blocks"]) or "none (head only)"
        print(f"{phase['phase']}: test accuracy {phase['test_accuracy']:.4f}, "
              f"{phase['trainable_params']:,} trainable parameters, blocks trained: {blocks}")
    print(f"\nTest accuracy {result.test_accuracy:.4f} ({result.metrics['fine_tune']['chosen_phase']}); "
          f"fine-tuning directory: {result.out_dir}")
    return 0


def register(commands):
    """Adds `visualize` and `finetune` to the sub-command parsers."""
    visualize = commands.add_parser(
        "visualize", help="feature maps, filters or Grad-CAM of a trained network, as PNG files",
        description="Writes PNG pictures of what a trained network computes: the feature maps of "
                    "chosen layers for an image, the first layer's kernels and the input patterns "
                    "deeper filters respond to most (gradient ascent), or a Grad-CAM heat map of "
                    "where the evidence for a class lies (the last convolutional layer is found "
                    "automatically). Prints the paths written.",
        epilog="Example: keras-cnns visualize runs/r20 test:0 --kind gradcam",
    )
    visualize.add_argument("model", help="a run directory or a .keras file")
    visualize.add_argument("image", nargs="?",
                           help="an image file, or test:N for the N-th test image of the run's dataset "
                                "(not needed for --kind filters)")
    visualize.add_argument("--kind", choices=KINDS, default=KINDS[-1], help=f"what to draw (default: {KINDS[-1]})")
    visualize.add_argument("--layers", help="comma-separated layer names (default: chosen automatically)")
    visualize.add_argument("--class-index", type=int, help="Grad-CAM: class to explain (default: predicted)")
    visualize.add_argument("--out", help="folder for the PNG files (default: visualize/ next to the model)")
    visualize.set_defaults(run=_command_visualize)

    finetune = commands.add_parser(
        "finetune", help="fine-tune a trained network on a new, small dataset",
        description="Transfer learning in two phases: the trained network's classifier is replaced "
                    "by a new one for the new classes, which trains alone while the backbone is "
                    "frozen; then the top blocks of the backbone train too, at a tenth of the "
                    "learning rate. Batch norm stays in inference mode. SOURCE is a run directory, "
                    "a .keras file, or vgg16/vgg19/resnet50/resnet101/resnet152 for ImageNet weights. "
                    "Writes a run directory per phase and the better model in --out; rerunning "
                    "resumes.",
        epilog="Example: keras-cnns finetune runs/r20-five --dataset fashion_mnist --classes 5,6,7,8,9 "
               "--limit 500 --out runs/ft",
    )
    finetune.add_argument("source", help="run directory, .keras file, or an ImageNet network name")
    default = {field.name: field.default for field in dataclasses.fields(FineTuneConfig)}
    finetune.add_argument("--dataset", help=f"the new dataset (default: {default['dataset']})")
    finetune.add_argument("--classes", help="comma-separated labels or names to keep, e.g. 5,6,7,8,9")
    finetune.add_argument("--limit", type=int, help="labelled images to use (training plus validation)")
    finetune.add_argument("--head-epochs", type=int,
                          help=f"epochs of phase 1, backbone frozen (default {default['head_epochs']})")
    finetune.add_argument("--epochs", type=int,
                          help=f"epochs of phase 2, top blocks trained (default {default['fine_tune_epochs']})")
    finetune.add_argument("--unfreeze-blocks", type=int,
                          help=f"blocks trained in phase 2 (default {default['unfreeze_blocks']})")
    finetune.add_argument("--lr", type=float, help=f"phase 1 learning rate (default {default['learning_rate']:g}, "
                                                   f"{default['optimizer']})")
    finetune.add_argument("--fine-tune-lr", type=float, help="phase 2 learning rate (default: a tenth of --lr)")
    finetune.add_argument("--batch-size", type=int, help=f"default {default['batch_size']}")
    finetune.add_argument("--seed", type=int)
    finetune.add_argument("--image-size", type=int, help="ImageNet sources: image size (default: the data's, "
                                                         "at least 32)")
    finetune.add_argument("--data-dir", help="where the dataset's files are")
    finetune.add_argument("--no-augment", action="store_true", help="turn data augmentation off")
    finetune.add_argument("--skip-bad-files", action="store_true",
                          help="leave out the corrupt and non-image files of an image folder")
    finetune.add_argument("--out", help="fine-tuning directory (default: runs/finetune-SOURCE-DATASET)")
    finetune.add_argument("--overwrite", action="store_true", help="start over in an existing directory")
    finetune.set_defaults(run=_command_finetune, resume_hint="resume it")
