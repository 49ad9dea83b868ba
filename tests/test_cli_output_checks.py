"""`tessera stylize FILE -o FILE`: an -o that cannot take the result is refused in words before any work
(no server answers at the address these tests give: a refusal that came later would say so instead)."""

import os

import pytest
from PIL import Image

from tests.bff.live import closed_port_address
from tests.bff.pictures import animation
from tests.support import TINY_STYLE
from tests.test_cli import tessera


def _stylize(photo, output, *extra: str):
    return tessera("stylize", str(photo), "-o", str(output), "--style", TINY_STYLE, *extra,
                   "--server", closed_port_address())


def _photo(path):
    Image.new("RGB", (24, 16), (200, 120, 40)).save(path)
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
