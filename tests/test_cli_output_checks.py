"""`tessera stylize FILE -o FILE`: an -o that cannot take the result is refused in words before any work
(no server answers at the address these tests give: a refusal that came later would say so instead)."""

import os
import tempfile

import pytest
from PIL import Image

from tests.bff.live import closed_port_address
from tests.bff.pictures import animation
from tests.support import TINY_STYLE
from tests.test_cli import tessera


def _stylize(photo, output, *extra: str):
    return tessera("stylize", str(photo), "-o", str(output), "--style", TINY_STYLE, *extra,
                   "--server", closed_port_address())


def _photo(path, fmt=None):
    Image.new("RGB", (24, 16), (200, 120, 40)).save(path, format=fmt)
    return path


@pytest.mark.parametrize("spelling", ["same", "dotted", "symlink", "hard-link"])
def test_an_output_that_is_the_input_itself_is_refused_and_the_photo_kept(tmp_path, spelling):
    """Before, `stylize same.jpg -o same.jpg` overwrote the photo with the painting, without a word."""
    photo = _photo(tmp_path / "same.jpg")
    kept = photo.read_bytes()
    (tmp_path / "sub").mkdir()
    output = {"same": photo, "dotted": tmp_path / "sub" / ".." / "same.jpg", "symlink": tmp_path / "link.jpg",
              "hard-link": tmp_path / "hard.jpg"}[spelling]
    if spelling == "symlink":
        output.symlink_to(photo)
    if spelling == "hard-link":
        os.link(photo, output)
    result = _stylize(photo, output)
    assert result.returncode == 1
    assert result.stderr == f"tessera: -o {output} would overwrite the input {photo} itself; give another file name\n"
    assert photo.read_bytes() == kept


def test_a_heat_map_that_would_overwrite_the_input_is_refused_too(tmp_path):
    photo = _photo(tmp_path / "o.realism.png")
    result = _stylize(photo, tmp_path / "o.png", "--explain")
    assert result.returncode == 1
    assert result.stderr == (f"tessera: -o {tmp_path / 'o.png'} would overwrite the input {photo} itself; "
                             "give another file name\n")


def test_a_missing_output_folder_is_named_before_any_work(tmp_path):
    """Before, the whole restyle ran, then `[Errno 2] No such file or directory: 'nodir/x.jpg'`."""
    photo = _photo(tmp_path / "p.jpg")
    output = tmp_path / "nodir" / "x.jpg"
    result = _stylize(photo, output)
    assert result.returncode == 1
    assert result.stderr == f"tessera: -o {output}: the folder {tmp_path / 'nodir'} does not exist\n"
    assert not (tmp_path / "nodir").exists()


@pytest.mark.parametrize("below", ["x.jpg", "deeper/x.jpg"])
def test_a_file_where_the_output_folder_should_be_is_named(tmp_path, below):
    """Before, `[Errno 20] Not a directory` after the whole restyle."""
    photo = _photo(tmp_path / "p.jpg")
    (tmp_path / "notes").write_text("a file, not a folder")
    output = tmp_path / "notes" / below
    result = _stylize(photo, output)
    assert result.returncode == 1
    assert result.stderr == f"tessera: -o {output}: {tmp_path / 'notes'} is a file, not a folder\n"


def test_an_output_that_is_a_folder_asks_for_a_file_name(tmp_path):
    """Before, a photo said "cannot tell the image format of 'cli'"."""
    photo = _photo(tmp_path / "p.jpg")
    (tmp_path / "cli").mkdir()
    (tmp_path / "moving.webp").write_bytes(animation("WEBP", 2))
    as_photo = _stylize(photo, tmp_path / "cli")
    as_clip = _stylize(tmp_path / "moving.webp", tmp_path / "cli")
    assert as_photo.returncode == as_clip.returncode == 1
    assert as_photo.stderr == (f"tessera: -o {tmp_path / 'cli'} is a folder; a single photo needs a file name "
                               "(.png, .jpg, .webp)\n")
    assert as_clip.stderr == (f"tessera: -o {tmp_path / 'cli'} is a folder; a single clip needs a file name "
                              "(.mp4, .webm)\n")
    assert list((tmp_path / "cli").iterdir()) == []


def test_an_output_folder_below_a_file_is_named_before_any_work(tmp_path):
    """A folder of photos into `notes.txt/out`, where notes.txt is a file: before, `[Errno 20] Not a
    directory` from creating the folder."""
    folder = tmp_path / "photos"
    folder.mkdir()
    _photo(folder / "a.jpg")
    (tmp_path / "notes.txt").write_text("not a folder")
    output = tmp_path / "notes.txt" / "out"
    result = _stylize(folder, output)
    assert result.returncode == 1
    assert result.stderr == f"tessera: -o {output}: {tmp_path / 'notes.txt'} is a file, not a folder\n"


# What a painting of the look is called in the refusal, by the flag that names it.
_PAINTING_WORDS = {"--style-image": "the style image", "--mix": "the --mix painting"}


def _look(flag: str, painting) -> list[str]:
    """The flags that read `painting` through `flag` (a --mix needs a first style: another painting)."""
    if flag == "--style-image":
        return ["--style-image", str(painting)]
    return ["--style-image", str(_photo(painting.parent / "first.png")), "--mix", f"{painting}:0.3"]


@pytest.mark.parametrize("spelling", ["same", "dotted", "symlink"])
@pytest.mark.parametrize("flag", ["--style-image", "--mix"])
def test_an_output_that_is_a_painting_of_the_look_is_refused_and_the_painting_kept(tmp_path, flag, spelling):
    """Before, `-o mypainting.jpg --style-image mypainting.jpg` (or `--mix mix2.jpg:0.3 -o mix2.jpg`)
    exited 0 and replaced the painting with the result."""
    photo, painting = _photo(tmp_path / "p.png"), _photo(tmp_path / "painting.jpg")
    kept = painting.read_bytes()
    (tmp_path / "sub").mkdir()
    output = {"same": painting, "dotted": tmp_path / "sub" / ".." / "painting.jpg",
              "symlink": tmp_path / "link.jpg"}[spelling]
    if spelling == "symlink":
        output.symlink_to(painting)
    result = tessera("stylize", str(photo), "-o", str(output), *_look(flag, painting),
                     "--server", closed_port_address())
    assert result.returncode == 1
    assert result.stderr == (f"tessera: -o {output} would overwrite {_PAINTING_WORDS[flag]} {painting} itself; "
                             "give another file name\n")
    assert painting.read_bytes() == kept


def test_a_heat_map_that_would_overwrite_a_painting_of_the_look_is_refused(tmp_path):
    photo, painting = _photo(tmp_path / "p.png"), _photo(tmp_path / "o.gradcam.png")
    result = tessera("stylize", str(photo), "-o", str(tmp_path / "o.png"), "--style-image", str(painting),
                     "--explain", "--server", closed_port_address())
    assert result.returncode == 1
    assert result.stderr == (f"tessera: -o {tmp_path / 'o.png'} would overwrite the style image {painting} itself; "
                             "give another file name\n")


def test_a_clip_output_that_is_a_painting_of_the_look_is_refused(tmp_path):
    """A painting named .mp4 (its bytes a PNG, which is what counts) is protected from a clip's result too."""
    (tmp_path / "moving.gif").write_bytes(animation("GIF", 2))
    painting = _photo(tmp_path / "painting.mp4", "PNG")
    kept = painting.read_bytes()
    result = tessera("stylize", str(tmp_path / "moving.gif"), "-o", str(painting), "--style-image", str(painting),
                     "--server", closed_port_address())
    assert result.returncode == 1
    assert result.stderr == (f"tessera: -o {painting} would overwrite the style image {painting} itself; "
                             "give another file name\n")
    assert painting.read_bytes() == kept


@pytest.mark.parametrize("flag", ["--style-image", "--mix"])
@pytest.mark.parametrize("explain", [False, True], ids=["result", "heat-map"])
def test_in_a_folder_a_result_that_would_overwrite_a_painting_of_the_look_is_refused(tmp_path, flag, explain):
    """Into a folder that holds the painting, a.png's result (or its realism map) has the painting's name."""
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    out.mkdir()
    _photo(photos / "a.png")
    painting = _photo(out / (f"a-{TINY_STYLE}.realism.png" if explain else f"a-{TINY_STYLE}.png"))
    kept = painting.read_bytes()
    what = "its realism map" if explain else "its result"
    result = tessera("stylize", str(photos), "-o", str(out), "--style", TINY_STYLE, *_look(flag, painting),
                     *(["--explain"] if explain else []), "--server", closed_port_address())
    assert result.returncode == 1
    assert (f"tessera: {photos / 'a.png'}: {what} would overwrite {painting}, {_PAINTING_WORDS[flag]} itself; "
            "give -o another folder\n") in result.stderr
    assert painting.read_bytes() == kept


def _may_write_anywhere() -> bool:
    """Whether this process may write into a read-only folder: root may (os.access says yes), unless
    run without its capability to override permissions (setpriv --bounding-set=-dac_override)."""
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o555)
        try:
            return os.access(folder, os.W_OK)
        finally:
            os.chmod(folder, 0o755)


# These refusals need a process that read-only files and folders stop; root's wrongly worded writes
# are tested below through a full disk, which stops root too.
_AS_ROOT = pytest.mark.skipif(_may_write_anywhere(), reason="root may write anywhere: os.access says yes")


@_AS_ROOT
def test_a_read_only_output_folder_is_named_before_any_work(tmp_path):
    """Before, the whole restyle ran, then `tessera: [Errno 13] Permission denied: 'ro_dir/x.png'`."""
    photo = _photo(tmp_path / "p.png")
    (tmp_path / "ro_dir").mkdir(mode=0o555)
    result = _stylize(photo, tmp_path / "ro_dir" / "x.png")
    assert result.returncode == 1
    assert result.stderr == (f"tessera: -o {tmp_path / 'ro_dir' / 'x.png'}: no permission to write into the folder "
                             f"{tmp_path / 'ro_dir'}\n")


@_AS_ROOT
@pytest.mark.parametrize("explain", [False, True], ids=["result", "heat-map"])
def test_a_read_only_output_file_is_named_before_any_work(tmp_path, explain):
    photo = _photo(tmp_path / "p.png")
    existing = _photo(tmp_path / ("o.realism.png" if explain else "o.png"))
    existing.chmod(0o444)
    result = _stylize(photo, tmp_path / "o.png", *(["--explain"] if explain else []))
    assert result.returncode == 1
    assert result.stderr == (f"tessera: -o {tmp_path / 'o.png'}: {existing} is read-only: no permission to "
                             "overwrite it\n")


@_AS_ROOT
@pytest.mark.parametrize("made", [True, False], ids=["existing", "to-create"])
def test_a_read_only_output_folder_of_a_folder_is_named_before_any_work(tmp_path, made):
    """Before, every photo was restyled, then each failed with `[Errno 13] Permission denied`."""
    photos = tmp_path / "photos"
    photos.mkdir()
    _photo(photos / "a.png")
    (tmp_path / "ro").mkdir(mode=0o555)
    output = tmp_path / "ro" if made else tmp_path / "ro" / "out"
    result = _stylize(photos, output)
    assert result.returncode == 1
    assert result.stderr == (f"tessera: -o {output}: no permission to write into this folder\n" if made else
                             f"tessera: -o {output}: no permission to create it in the folder {tmp_path / 'ro'}\n")


@pytest.mark.parametrize("kind", ["photo", "clip"])
def test_a_result_that_cannot_be_written_is_told_in_words(inference_server, tmp_path, kind):
    """A failure no check can foresee (here a disk that is full, as root too: /dev/full) is told as the
    rest of the CLI tells a file's trouble; before: `tessera: [Errno 28] No space left on device`."""
    if kind == "photo":
        source, output = _photo(tmp_path / "p.png"), tmp_path / "full.png"
    else:
        source, output = tmp_path / "moving.gif", tmp_path / "full.mp4"
        source.write_bytes(animation("GIF", 2))
    output.symlink_to("/dev/full")
    result = tessera("stylize", str(source), "-o", str(output), "--style", TINY_STYLE, "--server", inference_server)
    assert result.returncode == 1
    assert result.stderr == f"tessera: cannot write {output}: No space left on device\n"


def test_in_a_folder_a_result_that_cannot_be_written_is_told_in_words(inference_server, tmp_path):
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    out.mkdir()
    _photo(photos / "a.png")
    _photo(photos / "b.png")
    (out / f"a-{TINY_STYLE}.png").symlink_to("/dev/full")
    result = tessera("stylize", str(photos), "-o", str(out), "--style", TINY_STYLE, "--server", inference_server)
    assert result.returncode == 1
    assert result.stderr == (f"tessera: {photos / 'a.png'}: cannot write {out / f'a-{TINY_STYLE}.png'}: "
                             "No space left on device\n")
    assert "1 of 2 images restyled" in result.stdout
