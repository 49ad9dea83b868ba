"""`tessera stylize FOLDER -o FOLDER`: what it refuses, what it skips and says so, and how it names results."""

import shlex

import pytest
from PIL import Image

from tessera import cli_parser
from tests.bff.live import closed_port_address
from tests.bff.pictures import animation
from tests.support import TINY_STYLE
from tests.test_cli import tessera


def _folder(tmp_path, *names: str):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in names:
        fmt = "PNG" if name.lower().endswith(".png") else "JPEG"
        Image.new("RGB", (24, 16), (200, 120, 40)).save(photos / name, format=fmt)
    return photos


@pytest.mark.parametrize("name", ["out.jpg", "out.PNG", "out.mp4", "out.gif"])
def test_an_output_named_like_a_file_is_refused_before_any_work(tmp_path, name):
    """Before, `-o out.jpg` made a folder named out.jpg and wrote the results into it."""
    photos = _folder(tmp_path, "a.png")
    result = tessera("stylize", str(photos), "-o", str(tmp_path / name), "--style", TINY_STYLE,
                     "--server", closed_port_address())  # no server: the refusal must come first
    assert result.returncode == 1
    assert result.stderr == (f"tessera: -o {tmp_path / name} looks like a file name; for a folder of photos "
                             "give a folder\n")
    assert not (tmp_path / name).exists()


def test_an_output_that_is_a_file_is_refused(tmp_path):
    photos = _folder(tmp_path, "a.png")
    (tmp_path / "results").write_text("a file without an extension")
    result = tessera("stylize", str(photos), "-o", str(tmp_path / "results"), "--style", TINY_STYLE,
                     "--server", closed_port_address())
    assert result.returncode == 1
    assert result.stderr == f"tessera: -o {tmp_path / 'results'} is a file; for a folder of photos give a folder\n"


def test_an_empty_file_is_told_the_same_in_a_folder_and_alone(tmp_path):
    """Before, the folder said "the file is not a PNG, JPEG or WebP image" and the file alone "the file is empty"."""
    photos = _folder(tmp_path)
    (photos / "empty.jpg").write_bytes(b"")
    server = closed_port_address()  # both are refused before any call
    alone = tessera("stylize", str(photos / "empty.jpg"), "-o", str(tmp_path / "o.png"), "--style", TINY_STYLE,
                    "--server", server)
    folder = tessera("stylize", str(photos), "-o", str(tmp_path / "out"), "--style", TINY_STYLE, "--server", server)
    assert alone.returncode == folder.returncode == 1
    said = f"tessera: {photos / 'empty.jpg'}: the file is empty"
    assert alone.stderr.strip() == said
    assert folder.stderr.strip() == said


def test_every_skipped_entry_is_reported_with_why_and_counted(inference_server, tmp_path):
    """Before, a sub-folder, an animated GIF and a text file were passed over without a word."""
    photos = _folder(tmp_path, "a.png")
    (photos / "sub").mkdir()
    (photos / "anim.gif").write_bytes(animation("GIF", 2))
    (photos / "notes.txt").write_text("not a photo")
    out = tmp_path / "out"
    result = tessera("stylize", str(photos), "-o", str(out), "--style", TINY_STYLE, "--server", inference_server)
    assert result.returncode == 0, result.stderr  # a skipped entry is no failure
    lines = result.stderr.splitlines()
    assert lines[1:] == [
        f"tessera: skipped {photos / 'notes.txt'}: not a photo, by its name (.png, .jpg, .jpeg or .webp)",
        f"tessera: skipped {photos / 'sub'}/: a folder (folders are not searched)"], lines
    assert lines[0].startswith(f"tessera: skipped {photos / 'anim.gif'}: a clip, by its name; restyle it on its "
                               "own: tessera stylize "), lines
    again = cli_parser.parser().parse_args(shlex.split(lines[0].split("on its own: ", 1)[1])[1:])
    assert (again.input, again.output, again.style) == (str(photos / "anim.gif"), str(out / f"anim-{TINY_STYLE}.mp4"),
                                                        TINY_STYLE)
    assert f"1 of 1 images restyled into {out} with style {TINY_STYLE} v1; 3 other entries skipped (listed above)" \
           in result.stdout
    assert sorted(p.name for p in out.iterdir()) == [f"a-{TINY_STYLE}.png"]


def test_each_result_keeps_its_extension_as_written(inference_server, tmp_path):
    """Before, UPPER.JPG became UPPER-<style>.jpg (and a.jpg beside a.JPG were both written to one file)."""
    photos = _folder(tmp_path, "UPPER.JPG", "lower.jpeg", "Mixed.Png")
    out = tmp_path / "out"
    result = tessera("stylize", str(photos), "-o", str(out), "--style", TINY_STYLE, "--server", inference_server)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        f"Mixed-{TINY_STYLE}.Png", f"UPPER-{TINY_STYLE}.JPG", f"lower-{TINY_STYLE}.jpeg"]
    with Image.open(out / f"UPPER-{TINY_STYLE}.JPG") as upper, Image.open(out / f"Mixed-{TINY_STYLE}.Png") as mixed:
        assert (upper.format, mixed.format) == ("JPEG", "PNG")


def test_a_photo_whose_result_would_overwrite_another_photo_of_the_folder_is_not_restyled(inference_server, tmp_path):
    """Into the input folder itself (here through a symlink to it), a.png's result a-<style>.png is the
    name of a photo already there: that photo is kept and a.png is told to need another folder."""
    photos = _folder(tmp_path, "a.png", f"a-{TINY_STYLE}.png")
    kept = (photos / f"a-{TINY_STYLE}.png").read_bytes()
    (tmp_path / "same").symlink_to(photos)
    result = tessera("stylize", str(photos), "-o", str(tmp_path / "same"), "--style", TINY_STYLE,
                     "--server", inference_server)
    assert result.returncode == 1
    # Named as a.png's result, a-<style>.png is taken for an earlier run's: not restyled again (it became
    # a-<style>-<style>.png), and still kept.
    assert result.stderr == (f"tessera: skipped {photos / f'a-{TINY_STYLE}.png'}: the result of a.png in {TINY_STYLE} "
                             "from an earlier run, by its name\n"
                             f"tessera: {photos / 'a.png'}: its result would overwrite "
                             f"{tmp_path / 'same' / f'a-{TINY_STYLE}.png'}, an earlier run's result of it, by its "
                             "name (delete that to restyle a.png again); give -o another folder\n")
    assert (photos / f"a-{TINY_STYLE}.png").read_bytes() == kept
    assert sorted(p.name for p in photos.iterdir()) == sorted(["a.png", f"a-{TINY_STYLE}.png"])
    assert "0 of 1 images restyled" in result.stdout


def test_with_explain_a_heat_map_that_would_overwrite_another_photo_is_refused_too(tmp_path):
    """b.png's realism map into the input folder is b-<style>.realism.png, here a photo of the folder:
    only the result's own name was checked, and the map would have replaced that photo (the review)."""
    realism = f"b-{TINY_STYLE}.realism.png"
    photos = _folder(tmp_path, "b.png", realism)
    kept = (photos / realism).read_bytes()
    result = tessera("stylize", str(photos), "-o", str(photos), "--style", TINY_STYLE, "--explain",
                     "--server", closed_port_address())
    assert result.returncode == 1
    assert (f"tessera: {photos / 'b.png'}: its realism map would overwrite {photos / realism}, another photo of "
            "this folder; give -o another folder\n") in result.stderr
    assert (photos / realism).read_bytes() == kept


def test_a_one_frame_gif_is_skipped_as_a_still_not_sent_to_the_clip_command(tmp_path):
    """Before, still.gif was "a clip, by its name" with a command that then failed: "That GIF holds a single frame"."""
    photos = _folder(tmp_path)
    Image.new("RGB", (8, 8)).save(photos / "still.gif")
    (photos / "moving.gif").write_bytes(animation("GIF", 2))
    result = tessera("stylize", str(photos), "-o", str(tmp_path / "out"), "--style", TINY_STYLE,
                     "--server", closed_port_address())
    moving, still = result.stderr.splitlines()[:2]
    assert moving.startswith(f"tessera: skipped {photos / 'moving.gif'}: a clip, by its name; restyle it on its own: ")
    assert still == (f"tessera: skipped {photos / 'still.gif'}: That GIF holds a single frame, a still image, and GIF "
                     "is not read as a photo: save it as PNG or JPEG and choose that file instead.")


def test_a_still_image_named_as_a_clip_is_skipped_with_the_name_that_restyles_it(tmp_path):
    """A PNG or WebP of one frame named .apng or .webm (an APNG that lost its animation) got a clip
    command that then restyled it as a photo into an .mp4 name and failed; it is told to be renamed."""
    photos = _folder(tmp_path)
    Image.new("RGB", (8, 8)).save(photos / "one.apng", format="PNG")
    Image.new("RGB", (8, 8)).save(photos / "flat.webm", format="WEBP")
    (photos / "anim.apng").write_bytes(animation("PNG", 2))
    result = tessera("stylize", str(photos), "-o", str(tmp_path / "out"), "--style", TINY_STYLE,
                     "--server", closed_port_address())
    lines = {line.split(": ", 2)[1].rsplit("/", 1)[1]: line.split(": ", 2)[2] for line in result.stderr.splitlines()
             if line.startswith("tessera: skipped ")}
    assert lines["one.apng"] == ("a still PNG image of one frame, named as a clip: rename it .png to restyle it "
                                 "as a photo")
    assert lines["flat.webm"] == ("a still WebP image of one frame, named as a clip: rename it .webp to restyle it "
                                  "as a photo")
    assert lines["anim.apng"].startswith("a clip, by its name; restyle it on its own: ")


def _suggested_outputs(stderr: str) -> dict[str, str]:
    """Each clip's name: the file name its suggested command writes."""
    outputs = {}
    for line in stderr.splitlines():
        if "on its own: " in line:
            again = cli_parser.parser().parse_args(shlex.split(line.split("on its own: ", 1)[1])[1:])
            outputs[again.input.rsplit("/", 1)[1]] = again.output.rsplit("/", 1)[1]
    return outputs


def test_clips_of_one_stem_are_told_distinct_outputs(tmp_path):
    """Before, anim.png and anim.webp were both told to write OUT/anim-<style>.mp4 (names compared
    case-insensitively, as a Mac's disk does)."""
    photos = _folder(tmp_path)
    (photos / "anim.gif").write_bytes(animation("GIF", 2))  # a clip by its name
    (photos / "Anim.png").write_bytes(animation("PNG", 2))  # clips by their content; all told in name order
    (photos / "anim.webp").write_bytes(animation("WEBP", 2))
    result = tessera("stylize", str(photos), "-o", str(tmp_path / "out"), "--style", TINY_STYLE,
                     "--server", closed_port_address())
    assert result.returncode == 1  # no photo to restyle
    assert _suggested_outputs(result.stderr) == {"Anim.png": f"Anim-{TINY_STYLE}.mp4",
                                                 "anim.gif": f"anim-{TINY_STYLE}-2.mp4",
                                                 "anim.webp": f"anim-{TINY_STYLE}-3.mp4"}


def test_into_the_input_folder_a_clip_is_never_told_to_overwrite_a_file_there(tmp_path):
    photos = _folder(tmp_path)
    (photos / "anim.gif").write_bytes(animation("GIF", 2))
    (photos / f"anim-{TINY_STYLE}.mp4").write_bytes(b"a clip of this folder")
    result = tessera("stylize", str(photos), "-o", str(photos), "--style", TINY_STYLE,
                     "--server", closed_port_address())
    assert _suggested_outputs(result.stderr)["anim.gif"] == f"anim-{TINY_STYLE}-2.mp4"


def _odd_animation(path, fmt: str) -> None:
    """A two-frame animation of 451x300 pixels: H.264 in MP4 cannot hold its odd width."""
    frames = [Image.new("RGB", (451, 300), (200 * i, 120, 40)) for i in range(2)]
    frames[0].save(path, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


@pytest.mark.parametrize(("name", "fmt"), [("odd.gif", "GIF"), ("odd.webp", "WEBP")], ids=["by-name", "by-content"])
def test_the_command_told_for_a_clip_of_odd_sides_writes_webm_and_works_when_pasted(inference_server, tmp_path,
                                                                                   name, fmt):
    """Before, the command always wrote .mp4, and pasted it failed: "H.264 in MP4 needs even sides; choose WebM"."""
    photos = _folder(tmp_path)
    _odd_animation(photos / name, fmt)
    out = tmp_path / "out"
    result = tessera("stylize", str(photos), "-o", str(out), "--style", TINY_STYLE, "--server", inference_server)
    assert _suggested_outputs(result.stderr) == {name: f"odd-{TINY_STYLE}.webm"}, result.stderr
    command = next(line for line in result.stderr.splitlines() if "on its own: " in line).split("on its own: ", 1)[1]
    pasted = tessera(*shlex.split(command)[1:])  # its first word is `tessera`
    assert pasted.returncode == 0, pasted.stderr
    assert (out / f"odd-{TINY_STYLE}.webm").read_bytes()[:4] == b"\x1aE\xdf\xa3"  # WebM's (Matroska's) signature


@pytest.mark.parametrize("fmt", ["WEBP", "PNG", "GIF"])
def test_a_clip_named_as_a_photo_or_as_a_clip_is_skipped_alike(inference_server, tmp_path, fmt):
    """Before, an animated WebP or PNG named .webp or .png was a FAILED image ("1 of 2 images restyled",
    status 1) where an animated GIF was skipped (status 0)."""
    photos = _folder(tmp_path, "a.png")
    name = {"WEBP": "moving.webp", "PNG": "moving.png", "GIF": "moving.gif"}[fmt]
    (photos / name).write_bytes(animation(fmt, 2))
    out = tmp_path / "out"
    result = tessera("stylize", str(photos), "-o", str(out), "--style", TINY_STYLE, "--server", inference_server)
    assert result.returncode == 0, result.stderr
    skipped = result.stderr.splitlines()
    assert len(skipped) == 1 and skipped[0].startswith(f"tessera: skipped {photos / name}: "), skipped
    assert "restyle it on its own: tessera stylize " in skipped[0]
    assert f"1 of 1 images restyled into {out} with style {TINY_STYLE} v1; 1 other entry skipped (listed above)" \
           in result.stdout
    assert _suggested_outputs(result.stderr) == {name: f"moving-{TINY_STYLE}.mp4"}
