"""Build a TensorRT 10 engine ("plan") from an exported model.onnx, for the server's GPU runtime.

NOT RUN HERE: the development machine and CI have no GPU and no TensorRT, so this code has only been
checked for import-time behaviour (``TensorRTUnavailable`` with a clear message). It follows the
TensorRT 10 Python API: builder, explicit-batch network from the ONNX parser, FP16 where the GPU is
fast at it, and one optimisation profile spanning the tile sizes the server sends.

A plan is specific to a GPU architecture and a TensorRT version, so its file name carries both
(``model.sm86.trt10.plan``) and the manifest entry records them; the server picks the plan that
matches its GPU and falls back to ONNX otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tessera.registry import CONTEXT_INPUT, INPUT_NAME
from tessera.tiling import MAX_TILE_SIZE, round_up

OPT_TILE = 512
OPT_BATCH = 4
MAX_BATCH = 8
WORKSPACE_BYTES = 2 << 30
UNAVAILABLE = "TensorRT not available here (no GPU / tensorrt not installed)"


class TensorRTUnavailable(RuntimeError):
    """tensorrt or CUDA cannot be used on this machine; the message says which."""


class TensorRTBuildError(RuntimeError):
    """TensorRT is present but could not build the engine; the message carries the parser's errors."""


@dataclass(frozen=True)
class Profile:
    """Tile shapes (H = W, halo included) the engine must accept, as min / opt / max."""

    min_side: int
    opt_side: int
    max_side: int
    opt_batch: int = OPT_BATCH
    max_batch: int = MAX_BATCH

    @classmethod
    def for_tiles(cls, halo: int, size_multiple: int) -> Profile:
        """The server's tiles: cores up to 1024 px plus the halo on both sides, padded to the stride.

        The minimum is one stride, not a "typical small tile": the last tile of a row can be a few
        pixels wide and a whole image can be tiny, and the engine must still take them. Speed is
        tuned for the optimum, full 512 px cores in batches of four.
        """
        def side(core: int) -> int:
            return round_up(core + 2 * halo, size_multiple)
        return cls(min_side=size_multiple, opt_side=side(OPT_TILE), max_side=side(MAX_TILE_SIZE))


def _import_tensorrt():
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise TensorRTUnavailable(f"{UNAVAILABLE}: cannot import tensorrt ({exc})") from None
    return trt


def compute_capability() -> tuple[int, int]:
    """(major, minor) of GPU 0, through torch if it has CUDA, else through cuda-python."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_capability(0)
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart
        except ImportError:
            reason = "torch has no CUDA and cuda-python is not installed"
            raise TensorRTUnavailable(f"{UNAVAILABLE}: {reason}") from None
    err, props = cudart.cudaGetDeviceProperties(0)
    if int(err) != 0:
        raise TensorRTUnavailable(f"{UNAVAILABLE}: no CUDA device ({err})")
    return props.major, props.minor


def check_available() -> None:
    """Raise TensorRTUnavailable unless both tensorrt and a CUDA GPU are usable."""
    _import_tensorrt()
    compute_capability()


def plan_file_name(capability: tuple[int, int], trt_version: str) -> str:
    """``model.sm<major><minor>.trt<major>.plan``, e.g. model.sm86.trt10.plan."""
    return f"model.sm{capability[0]}{capability[1]}.trt{trt_version.split('.')[0]}.plan"


def build_plan(onnx_path: Path, out_dir: Path, halo: int, size_multiple: int,
               context_dim: int | None = None) -> tuple[Path, dict]:
    """Build and serialise an engine for ``onnx_path`` into ``out_dir``.

    Returns the plan's path and its manifest entry (file, compute_capability, tensorrt_version,
    precision, tile limits); ``write_version`` adds the sha256.
    """
    trt = _import_tensorrt()
    capability = compute_capability()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: every network is explicit-batch
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise TensorRTBuildError(f"TensorRT cannot parse {Path(onnx_path).name}: {errors}")

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    fp16 = bool(builder.platform_has_fast_fp16)
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    tiles = Profile.for_tiles(halo, size_multiple)
    config.add_optimization_profile(_profile(builder, tiles, context_dim))

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise TensorRTBuildError("TensorRT could not build the engine (see its log above)")
    path = Path(out_dir) / plan_file_name(capability, trt.__version__)
    path.write_bytes(bytes(serialized))
    entry = {
        "file": path.name,
        "compute_capability": f"{capability[0]}.{capability[1]}",
        "tensorrt_version": trt.__version__,
        "precision": "fp16" if fp16 else "fp32",
        "min_tile": tiles.min_side,
        "opt_tile": OPT_TILE,
        "max_tile": MAX_TILE_SIZE,
        "max_batch": tiles.max_batch,
    }
    return path, entry


def _profile(builder, tiles: Profile, context_dim: int | None):
    profile = builder.create_optimization_profile()
    profile.set_shape(
        INPUT_NAME,
        (1, 3, tiles.min_side, tiles.min_side),
        (tiles.opt_batch, 3, tiles.opt_side, tiles.opt_side),
        (tiles.max_batch, 3, tiles.max_side, tiles.max_side),
    )
    if context_dim:
        profile.set_shape(CONTEXT_INPUT, (1, context_dim), (tiles.opt_batch, context_dim),
                          (tiles.max_batch, context_dim))
    return profile
