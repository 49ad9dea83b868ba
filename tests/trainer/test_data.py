"""Training data: pairing, augmentation, reproducibility, sharding and clear errors."""

import numpy as np
import pytest
import torch

from tessera.pixels import rgb8_to_chw
from trainer.data import (
    Augment,
    DataError,
    PairedFolders,
    SideBySide,
    TeacherPairs,
    UnpairedFolders,
    list_images,
    load_image,
)
from trainer.networks import image_context

# Images are 40x32 and crops 32 with no jitter, so A and B are never resampled and stay exact negatives.
NO_JITTER = Augment(crop=32, load=32, flip=True)


def test_paired_batches_are_aligned_crops_of_both_images(paired_dirs):
    batch = PairedFolders(*paired_dirs, NO_JITTER, batch_size=2).batch(step=0)
    assert batch["A"].shape == (2, 3, 32, 32) and batch["A"].dtype == torch.float32
    assert -1 <= batch["A"].min() and batch["A"].max() <= 1
    torch.testing.assert_close(batch["B"], -batch["A"], atol=1e-6, rtol=0)


def test_side_by_side_images_split_into_a_and_b(side_by_side_dir):
    batch = SideBySide(side_by_side_dir, NO_JITTER).batch(step=3)
    torch.testing.assert_close(batch["B"], -batch["A"], atol=1e-6, rtol=0)


def test_batches_depend_only_on_seed_and_step(paired_dirs):
    jitter = Augment(crop=24, load=36, flip=True)
    first, again = (PairedFolders(*paired_dirs, jitter, seed=7) for _ in range(2))
    steps = [first.batch(s)["A"] for s in range(6)]
    torch.testing.assert_close(again.batch(4)["A"], steps[4], atol=0, rtol=0)
    assert len({tuple(a.flatten()[:50].tolist()) for a in steps}) == 6
    other_seed = PairedFolders(*paired_dirs, jitter, seed=8).batch(4)["A"]
    assert not torch.equal(other_seed, steps[4])


def test_each_epoch_visits_every_image_once_and_ranks_see_disjoint_shards(unpaired_dirs):
    ranks = [UnpairedFolders(*unpaired_dirs, NO_JITTER, rank=r, world=2) for r in range(2)]
    seen = [sorted(src.sampler.index(k) for k in range(2)) for src in ranks]
    assert seen == [[0, 2], [1, 3]]


def test_teacher_runs_once_per_photo_and_crops_sit_on_its_grid(photo_dir):
    calls = []

    def teacher(photo: np.ndarray) -> np.ndarray:
        calls.append(photo.shape)
        return 255 - photo

    source = TeacherPairs(photo_dir, teacher, sizes=(64,), augment=Augment(32, 0, False, grid=4))
    for step in range(12):
        batch = source.batch(step)
        torch.testing.assert_close(batch["B"], -batch["A"], atol=1e-6, rtol=0)
    assert calls == [(48, 64, 3)] * 3
    mean = batch["context"][:, :3]
    assert batch["context"].shape == (1, 6) and (mean.abs() <= 1).all()


@pytest.mark.parametrize("make, message", [
    (lambda tmp: tmp / "nowhere", "does not exist"),
    (lambda tmp: (tmp / "empty").mkdir() or tmp / "empty", "holds no images"),
])
def test_missing_or_empty_folders_are_named(tmp_path, make, message):
    folder = make(tmp_path)
    with pytest.raises(DataError, match=message) as err:
        list_images(folder)
    assert str(folder) in str(err.value)


def test_paired_folders_with_different_names_say_which_file_has_no_partner(tmp_path, image_folder):
    a = image_folder(tmp_path / "A", 2)
    b = image_folder(tmp_path / "B", 2, prefix="other")
    with pytest.raises(DataError, match="img00.png has no partner"):
        PairedFolders(a, b, NO_JITTER)


def test_unreadable_image_names_the_file(tmp_path, image_folder):
    folder = image_folder(tmp_path / "A", 1)
    (folder / "broken.png").write_text("not a picture")
    source = SideBySide(folder, NO_JITTER)
    with pytest.raises(DataError, match="broken.png is not an image"):
        for step in range(2):
            source.batch(step)


def test_context_describes_the_whole_input_image_not_the_crop(paired_dirs):
    source = PairedFolders(*paired_dirs, Augment(crop=16, load=0, flip=False), with_context=True)
    batch = source.batch(step=0)
    whole_a = load_image(source.pairs[source.sampler.index(0)][0])
    pixels = torch.from_numpy(rgb8_to_chw(np.asarray(whole_a)))
    expected = torch.cat([pixels.mean(dim=(1, 2)), pixels.std(dim=(1, 2), unbiased=False)])
    torch.testing.assert_close(batch["context"][0], expected)
    assert not torch.allclose(batch["context"], image_context(batch["A"]))
