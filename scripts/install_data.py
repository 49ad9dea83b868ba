"""Install and lay out the training images (`make data`).

Nothing here is committed: the images are GPL, CC0, public domain or similar, and they come from
Debian packages and the scikit-image wheel. The layout under ``data/`` is:

    data/photos/train/        photos used for training
    data/photos/holdout/      photos listed in scripts/holdout.txt, never used for training
    data/paintings/wesnoth/   Battle for Wesnoth story paintings (wesnoth-1.16-data)
    data/paintings/wesnoth-story/  those and the painted story scenes of six campaign packages
    data/cartoons/            openclipart-png drawings flattened onto white (optional)
    data/manifest.json        one entry per image: source package, source path, licence, split

Every image is RGB, and its longest side is at most ``--max-side`` pixels (1024 by default), so that
training reads stay fast. The script is idempotent: an image that is already in place is not
converted again, and a Wesnoth package is only downloaded while its paintings are missing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

APT_PACKAGES = ("mate-backgrounds", "plasma-workspace-wallpapers", "openclipart-png")
WESNOTH_PACKAGE = "wesnoth-1.16-data"
WESNOTH_STORY_DIR = "usr/share/games/wesnoth/1.16/data/core/images/story"
WESNOTH_CAMPAIGNS_DIR = "usr/share/games/wesnoth/1.16/data/campaigns"
# The campaign packages whose images/story folder holds painted scenes, with the files left out.
# Not taken: Secrets of the Ancients (its story images are screenshots of game maps and rooms),
# Delfador's Memoirs (one copy of a Heir to the Throne painting, and portraits on transparency),
# Legend of Wesmere (story/characters: single figures on transparency); the other campaigns have
# no story paintings. Portraits (about 240 in wesnoth-1.16-data) are single figures cut out on
# transparency, unlike any photo, and are not installed.
CAMPAIGN_STORY = {
    "wesnoth-1.16-did": ("Descent_Into_Darkness", ()),
    "wesnoth-1.16-httt": ("Heir_To_The_Throne", ()),
    "wesnoth-1.16-l": ("Liberty", ()),
    "wesnoth-1.16-trow": ("The_Rise_Of_Wesnoth", ("trow-logo",)),  # the title lettering on magenta
    "wesnoth-1.16-tsg": ("The_South_Guard", ()),
    "wesnoth-1.16-ttb": ("Two_Brothers", ()),
}
HOLDOUT_FILE = Path(__file__).with_name("holdout.txt")

GPL2 = "GPL-2.0-or-later"
# Wallpapers of plasma-workspace-wallpapers that are photographs (the others are vector art).
PLASMA_PHOTOS = (
    "BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf",
    "Grey", "Kite", "OneStandsOut", "Path", "summer_1am", "Volna",
)
PLASMA_DIR = Path("/usr/share/wallpapers")
MATE_NATURE_DIR = Path("/usr/share/backgrounds/mate/nature")
OPENCLIPART_DIR = Path("/usr/share/openclipart/png")
# Categories with drawn scenes and objects; "computer", "shapes" and "signs" are mostly icons.
OPENCLIPART_CATEGORIES = ("animals", "buildings", "food", "people", "plants", "transportation")
CARTOON_MIN_SIDE = 200
# The colour photographs bundled in the scikit-image wheel, with the licence its docstrings give.
SKIMAGE_PHOTOS = {
    "astronaut": ("astronaut.png", "Public domain (NASA)"),
    "chelsea": ("chelsea.png", "CC0-1.0 (Stefan van der Walt)"),
    "coffee": ("coffee.png", "CC0-1.0 (Rachel Michetti)"),
    "rocket": ("rocket.jpg", "Public domain (SpaceX)"),
}


@dataclass(frozen=True)
class Source:
    """One image to install: where it comes from and where it goes under ``data/``."""

    id: str  # "<package>:<name>", the name used in holdout.txt
    package: str
    source_path: str
    license: str
    kind: str  # "photo" | "painting" | "story" | "cartoon"
    local_path: str = ""  # where to read it now, when that is not source_path (an unpacked .deb)

    def record(self) -> dict:
        """The provenance fields written into the manifest."""
        return {"id": self.id, "package": self.package, "source_path": self.source_path,
                "license": self.license, "kind": self.kind}

    @property
    def file_name(self) -> str:
        """A file name that is unique across packages."""
        package, _, name = self.id.partition(":")
        return f"{package}--{name.replace('/', '-')}.jpg"


# -- finding the sources ------------------------------------------------------------------------

def ensure_apt_packages(packages: tuple[str, ...]) -> None:
    """Install the Debian packages that are not installed yet; do nothing when all are."""
    missing = [p for p in packages if not _dpkg_installed(p)]
    if not missing:
        return
    print(f"installing {' '.join(missing)} with apt-get", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-qq", "-o", "DPkg::Lock::Timeout=600", *missing]
    if subprocess.run(cmd, env=env).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=True)
        subprocess.run(cmd, env=env, check=True)


def _dpkg_installed(package: str) -> bool:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
    return out.returncode == 0 and out.stdout.strip() == "install ok installed"


def largest_useful_file(folder: Path, max_side: int) -> Path:
    """The landscape image in ``folder`` that is the smallest one still >= ``max_side`` wide.

    Plasma wallpapers ship one file per screen size; decoding a 5120 px PNG to downscale it to 1024 px
    wastes time, so take the smallest size that is big enough (or the biggest when none is).
    """
    sizes = []
    for f in folder.iterdir():
        w, _, h = f.stem.partition("x")
        if w.isdigit() and h.isdigit() and int(w) >= int(h):
            sizes.append((int(w), f))
    if not sizes:
        raise FileNotFoundError(f"no landscape wallpaper named WxH.* in {folder}")
    big_enough = sorted(s for s in sizes if s[0] >= max_side)
    return (big_enough[0] if big_enough else max(sizes))[1]


def photo_sources(max_side: int) -> list[Source]:
    """The photographs of the three photo sources."""
    out = [
        Source(f"plasma-workspace-wallpapers:{name}", "plasma-workspace-wallpapers",
               str(largest_useful_file(PLASMA_DIR / name / "contents" / "images", max_side)),
               f"{GPL2} (KDE Visual Design Group)", "photo")
        for name in PLASMA_PHOTOS
    ]
    out += [
        Source(f"mate-backgrounds:{f.stem}", "mate-backgrounds", str(f),
               f"{GPL2} (authors in /usr/share/doc/mate-backgrounds/copyright)", "photo")
        for f in sorted(MATE_NATURE_DIR.glob("*.jpg"))
    ]
    import skimage.data

    for name, (file, licence) in SKIMAGE_PHOTOS.items():
        out.append(Source(f"scikit-image:{name}", "scikit-image",
                          str(Path(skimage.data.data_dir) / file), licence, "photo"))
    return out


def painting_sources(story_dir: Path, package: str = WESNOTH_PACKAGE, inner_dir: str = WESNOTH_STORY_DIR,
                     kind: str = "painting", skip: tuple[str, ...] = ()) -> list[Source]:
    """The story paintings found in ``story_dir``, the unpacked ``inner_dir`` of a Wesnoth package.

    Only the folder's own files count (not subfolders such as translated title images); files
    whose stem is in ``skip`` are left out.
    """
    files = sorted(story_dir.glob("*.jpg")) + sorted(story_dir.glob("*.png"))
    files = [f for f in files if f.stem not in skip]
    if not files:
        raise FileNotFoundError(f"no paintings in {story_dir}; has the package layout changed?")
    return [Source(f"{package}:{f.stem}", package, f"/{inner_dir}/{f.name}",
                   f"{GPL2} (Battle for Wesnoth artists)", kind, local_path=str(f)) for f in files]


def story_sources(fetch_dir: Path) -> list[Source]:
    """The ``wesnoth-story`` training set: the core story paintings and the campaigns' painted scenes."""
    core = unpack_package_dir(fetch_dir, WESNOTH_PACKAGE, WESNOTH_STORY_DIR)
    out = painting_sources(core, kind="story")
    for package, (campaign, skip) in CAMPAIGN_STORY.items():
        inner = f"{WESNOTH_CAMPAIGNS_DIR}/{campaign}/images/story"
        out += painting_sources(unpack_package_dir(fetch_dir, package, inner), package, inner, "story", skip)
    return out


def cartoon_sources(root: Path = OPENCLIPART_DIR) -> list[Source]:
    """openclipart-png drawings of the scenic categories that are big enough to crop from."""
    out = []
    for category in OPENCLIPART_CATEGORIES:
        for f in sorted((root / category).glob("*.png")):
            with Image.open(f) as im:
                if min(im.size) < CARTOON_MIN_SIDE:
                    continue
            out.append(Source(f"openclipart-png:{category}/{f.stem}", "openclipart-png", str(f),
                              "Public domain (Open Clip Art Library)", "cartoon"))
    return out


def unpack_wesnoth_paintings(work_dir: Path) -> Path:
    """Download wesnoth-1.16-data with apt-get and unpack only its story paintings."""
    return unpack_package_dir(work_dir, WESNOTH_PACKAGE, WESNOTH_STORY_DIR)


def unpack_package_dir(work_dir: Path, package: str, inner_dir: str) -> Path:
    """Download ``package`` with apt-get (once) and unpack only ``inner_dir`` of it into ``work_dir``.

    ``apt-get download`` + ``dpkg-deb`` skips the package's dependencies and installs nothing.
    Returns the unpacked folder.
    """
    os.chmod(work_dir, 0o777)  # apt-get downloads as the _apt user when it can write there
    if not list(work_dir.glob(f"{package}_*.deb")):
        subprocess.run(["apt-get", "download", package], cwd=work_dir, check=True, stdout=subprocess.DEVNULL)
    deb = next(work_dir.glob(f"{package}_*.deb"))
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE) as tar:
        subprocess.run(["tar", "-x", "-C", str(work_dir), f"./{inner_dir}"], stdin=tar.stdout, check=True)
    if tar.returncode != 0:
        raise RuntimeError(f"dpkg-deb could not read {deb}")
    return work_dir / inner_dir


# -- laying them out ----------------------------------------------------------------------------

def read_holdout(path: Path = HOLDOUT_FILE) -> list[str]:
    """The hold-out source ids listed in ``path`` (comments and blank lines skipped)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def destination(source: Source, holdout: set[str]) -> str:
    """The path under ``data/`` for ``source``; hold-out photos go to photos/holdout/."""
    if source.kind == "photo":
        split = "holdout" if source.id in holdout else "train"
        return f"photos/{split}/{source.file_name}"
    folder = {"painting": "paintings/wesnoth", "story": "paintings/wesnoth-story", "cartoon": "cartoons"}[source.kind]
    return f"{folder}/{source.file_name}"


def convert_image(src: Path, dst: Path, max_side: int) -> tuple[int, int]:
    """Write ``src`` as an RGB JPEG at ``dst``, transparency on white, longest side <= ``max_side``.

    Returns the written size. The file appears atomically (written beside it, then renamed).
    """
    with Image.open(src) as im:
        im.draft("RGB", (max_side, max_side))  # lets JPEG decode at a reduced scale
        im = im.convert("RGBA") if im.mode in ("P", "LA", "RGBA") else im.convert("RGB")
        if im.mode == "RGBA":
            white = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(white, im)
        im = im.convert("RGB")
        if max(im.size) > max_side:
            scale = max_side / max(im.size)
            im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.LANCZOS)
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(dst.name + ".tmp")
        im.save(tmp, "JPEG", quality=95)
        os.replace(tmp, dst)
        return im.size


def install(sources: list[Source], data_dir: Path, holdout: list[str], max_side: int,
            previous: dict[str, dict] | None = None) -> list[dict]:
    """Convert every source into ``data_dir`` and return the manifest entries, in source order.

    Every hold-out id must name a photo among ``sources``; otherwise a ValueError says which.
    An image whose destination exists and whose previous entry has the same source is not
    converted again. Files under photos/ that no longer belong there (for instance a photo that
    moved to the hold-out list) are deleted, so a training folder never holds a hold-out photo.
    """
    photo_ids = {s.id for s in sources if s.kind == "photo"}
    unknown = [h for h in holdout if h not in photo_ids]
    if unknown:
        raise ValueError(f"hold-out ids not among the photos: {', '.join(unknown)}")
    held = set(holdout)
    previous = previous or {}
    entries = []
    for source in sources:
        rel = destination(source, held)
        dst = data_dir / rel
        old = previous.get(rel)
        if dst.exists() and old and old.get("source_path") == source.source_path:
            size = old["size"]
        else:
            size = convert_image(Path(source.local_path or source.source_path), dst, max_side)
        entries.append({**source.record(), "path": rel, "size": list(size),
                        "split": "holdout" if source.id in held else "train"})
    _remove_strays(data_dir / "photos", {e["path"] for e in entries}, data_dir)
    return entries


def _remove_strays(folder: Path, keep: set[str], data_dir: Path) -> None:
    if not folder.exists():
        return
    for f in folder.rglob("*.jpg"):
        if str(f.relative_to(data_dir)) not in keep:
            f.unlink()


def read_manifest(data_dir: Path) -> dict[str, dict]:
    """The entries of an existing ``data/manifest.json`` by path, or {} when there is none."""
    path = data_dir / "manifest.json"
    if not path.exists():
        return {}
    return {e["path"]: e for e in json.loads(path.read_text())["images"]}


def write_manifest(data_dir: Path, entries: list[dict], package_versions: dict[str, str]) -> Path:
    """Write ``data/manifest.json`` (atomically) with the entries and the package versions."""
    counts: dict[str, int] = {}
    for e in entries:
        key = e["path"].rsplit("/", 1)[0]
        counts[key] = counts.get(key, 0) + 1
    doc = {"format_version": 1, "packages": package_versions, "counts": counts, "images": entries}
    path = data_dir / "manifest.json"
    tmp = path.with_name("manifest.json.tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp, path)
    return path


def package_versions(entries: list[dict]) -> dict[str, str]:
    """The installed (or downloaded) version of every package the entries come from."""
    out = {}
    for package in sorted({e["package"] for e in entries}):
        if package == "scikit-image":
            import skimage

            out[package] = skimage.__version__
            continue
        res = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True)
        if res.returncode != 0 or not res.stdout:
            res = subprocess.run(["apt-cache", "policy", package], capture_output=True, text=True)
            cand = [ln.split(":", 1)[1].strip() for ln in res.stdout.splitlines() if "Candidate:" in ln]
            out[package] = cand[0] if cand else "unknown"
        else:
            out[package] = res.stdout
    return out


# -- entry point --------------------------------------------------------------------------------

def collect_sources(previous: dict[str, dict], data_dir: Path, cartoons: bool, max_side: int,
                    fetch_dir: Path) -> list[Source]:
    """All sources; Wesnoth packages are fetched into ``fetch_dir`` only while their paintings are missing."""
    ensure_apt_packages(APT_PACKAGES if cartoons else APT_PACKAGES[:2])
    sources = photo_sources(max_side)
    sources += _installed_or(previous, data_dir, "painting",
                             lambda: painting_sources(unpack_wesnoth_paintings(fetch_dir)))
    sources += _installed_or(previous, data_dir, "story", lambda: story_sources(fetch_dir))
    if cartoons:
        sources += cartoon_sources()
    return sources


def _installed_or(previous: dict[str, dict], data_dir: Path, kind: str, fetch) -> list[Source]:
    """The sources of ``kind`` as the manifest recorded them when all their files exist, else ``fetch()``."""
    old = [e for e in previous.values() if e["kind"] == kind]
    if old and all((data_dir / e["path"]).exists() for e in old):
        return [Source(**{k: e[k] for k in ("id", "package", "source_path", "license", "kind")}) for e in old]
    print(f"downloading Wesnoth packages to unpack their story paintings ({kind})", flush=True)
    return fetch()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--max-side", type=int, default=1024, help="longest side of every installed image")
    parser.add_argument("--no-cartoons", action="store_true", help="skip the optional openclipart drawings")
    args = parser.parse_args(argv)

    data_dir = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    previous = read_manifest(data_dir)
    # the .debs (150 MB for wesnoth-1.16-data) go inside data/ (gitignored), where there is room,
    # and are deleted afterwards
    work_dir = Path(tempfile.mkdtemp(prefix=".fetch-", dir=data_dir))
    try:
        sources = collect_sources(previous, data_dir, not args.no_cartoons, args.max_side, work_dir)
    except FileNotFoundError as exc:
        shutil.rmtree(work_dir, ignore_errors=True)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        entries = install(sources, data_dir, read_holdout(), args.max_side, previous)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    path = write_manifest(data_dir, entries, package_versions(entries))
    summary = ", ".join(f"{k}: {v}" for k, v in json.loads(path.read_text())["counts"].items())
    print(f"wrote {path} ({summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
