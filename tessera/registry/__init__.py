"""The model registry: a directory of styles and numbered, immutable versions (DESIGN.md §1).

Its concerns, one module each: `layout` (where files lie, atomic writes, pins, checksums), the
declared schema of manifest.json (`manifest`: the fields every kind shares and the generator's;
`conditioned`: the style-conditioned kind; `kinds`: which schema reads a manifest) and `io_rule`
(the ONNX I/O convention that export and server share). Import from here; the submodules are the place to read.
"""

from tessera.registry.conditioned import CONDITIONED, ConditionedManifest, Preset
from tessera.registry.io_rule import (
    CONTEXT_INPUT,
    CONTEXT_OUTPUT,
    INPUT_NAME,
    OUTPUT_NAME,
    STYLE_CODE_INPUT,
    STYLE_CODE_OUTPUT,
    STYLE_IMAGE_INPUT,
    THUMBNAIL_INPUT,
    WHOLE_MAX_FAR_FRACTION,
    WHOLE_MIN_PSNR_DB,
    TensorSpec,
    agreement,
    context_io_problem,
    generator_io_problem,
    is_fixed_width,
    whole_agreement_problem,
    whole_io_problem,
)
from tessera.registry.kinds import MANIFEST_KINDS, Manifest, parse_manifest, read_manifest, style_folder_problem
from tessera.registry.layout import (
    STYLE_FILE,
    STYLE_ID_RE,
    STYLE_ID_WORDS,
    VERSION_DIR_RE,
    VERSION_WORDS,
    StyleMeta,
    newest_version_dir,
    passed_over,
    published_files,
    read_style_meta,
    set_pin,
    sha256_of,
    style_dirs,
    verify_checksums,
    version_dirs,
    write_style_meta,
    write_version,
)
from tessera.registry.manifest import (
    FORMAT_VERSION,
    GENERATOR,
    MANIFEST_FILE,
    OPENVINO_FP32,
    PRECISIONS,
    REDUCED_PRECISIONS,
    TILING_MODES,
    Artifact,
    BaseManifest,
    GeneratorManifest,
    IOConvention,
    RegistryError,
    TensorRTPlan,
    Tiling,
    io_section,
)

__all__ = [
    "CONDITIONED", "ConditionedManifest", "Preset", "STYLE_CODE_INPUT", "STYLE_CODE_OUTPUT", "STYLE_IMAGE_INPUT",
    "CONTEXT_INPUT", "CONTEXT_OUTPUT", "FORMAT_VERSION", "GENERATOR", "INPUT_NAME", "MANIFEST_FILE", "MANIFEST_KINDS",
    "OPENVINO_FP32", "OUTPUT_NAME", "PRECISIONS", "REDUCED_PRECISIONS", "STYLE_FILE", "STYLE_ID_RE", "THUMBNAIL_INPUT",
    "TILING_MODES", "STYLE_ID_WORDS", "VERSION_DIR_RE", "VERSION_WORDS",
    "WHOLE_MAX_FAR_FRACTION", "WHOLE_MIN_PSNR_DB", "Artifact", "BaseManifest", "GeneratorManifest", "IOConvention",
    "Manifest", "RegistryError", "StyleMeta", "TensorRTPlan", "TensorSpec", "Tiling", "context_io_problem",
    "generator_io_problem", "io_section", "is_fixed_width", "parse_manifest", "read_manifest", "read_style_meta",
    "newest_version_dir", "passed_over", "published_files", "set_pin", "sha256_of", "style_dirs",
    "style_folder_problem",
    "verify_checksums", "version_dirs",
    "agreement", "whole_agreement_problem", "whole_io_problem", "write_style_meta", "write_version",
]
