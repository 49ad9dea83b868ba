"""Tessera's trainer: pix2pix, CycleGAN and distillation of GAN generators, run as ``python -m trainer``.

The trainer core lives in ``cli`` (the command line), ``config`` (the one TrainConfig), ``data``
(image folders and crops), ``teacher`` (ONNX teachers for distillation), ``networks`` / ``compact``
/ ``flops`` (generators, discriminators, their cost), ``losses``, ``models`` (what one training
step does for each kind), ``loop`` (the training loop), ``runs`` / ``plots`` (run directories,
checkpoints, samples, curves) and ``distributed`` (torchrun). Evaluation and export sit beside
them. docs/training.md is the guide.
"""
