"""Tessera's trainer: pix2pix, CycleGAN and distillation of GAN generators, run as ``python -m trainer``.

The trainer core lives in ``config`` (the one TrainConfig), ``data`` (image folders and crops),
``networks`` / ``compact`` (generators and discriminators), ``losses``, ``models`` (what one
training step does for each kind), ``loop`` (the training loop), ``runs`` (run directories,
checkpoints, samples) and ``distributed`` (torchrun). Evaluation and export sit beside them.
"""
