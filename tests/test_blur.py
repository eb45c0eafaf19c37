import numpy as np
import pytest

from deblur import blur


def _psnr(a, b):
    return 10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2))


@pytest.mark.parametrize("sigma", [0.3, 1.0, 2.2, 3.0])
def test_gaussian_kernel_sums_to_one_and_follows_opencv_size(sigma):
    k = blur.gaussian_kernel(sigma)
    assert k.shape == (blur.gaussian_kernel_size(sigma),) * 2
    assert k.shape[0] % 2 == 1 and k.shape[0] == int(round(6 * sigma + 1)) | 1
    assert k.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.unravel_index(k.argmax(), k.shape) == (k.shape[0] // 2,) * 2


@pytest.mark.parametrize("sigma", [0.0, 0.05])
def test_sigma_zero_is_identity(photo, sigma):
    assert blur.gaussian_kernel(sigma).shape == (1, 1)
    out = blur.gaussian_blur(blur.quantize(photo), sigma)
    np.testing.assert_array_equal(out, blur.quantize(photo))


def test_gaussian_blur_matches_kernel_convolution_and_is_quantised(photo):
    sigma = 1.7
    separable = blur.gaussian_blur(photo, sigma, quantize_output=False)
    full = blur.apply_kernel(photo, blur.gaussian_kernel(sigma))
    np.testing.assert_allclose(separable, full, atol=1e-5)
    q = blur.gaussian_blur(photo, sigma)
    np.testing.assert_allclose(q * 255, np.rint(q * 255), atol=1e-4)


def test_blur_gets_stronger_with_sigma(photo):
    scores = [_psnr(blur.gaussian_blur(photo, s), photo) for s in (0.5, 1.0, 2.0, 3.0)]
    assert all(a > b for a, b in zip(scores, scores[1:]))


def test_apply_kernel_uses_reflect101_borders():
    img = np.zeros((9, 9, 1), np.float32)
    img[0, 4] = 1.0  # a spike on the border row reflects about the edge pixel itself
    k = np.zeros((3, 3))
    k[0, 1] = k[2, 1] = 0.5  # vertical two-tap average of the neighbours above and below
    out = blur.apply_kernel(img, k)
    assert out[1, 4, 0] == pytest.approx(0.5)
    assert out[0, 4, 0] == pytest.approx(0.0)  # neighbours of row 0 are rows 1 and (mirrored) 1


@pytest.mark.parametrize("length", [3.0, 9.0, 21.0])
def test_motion_kernels_sum_to_one_and_grow_with_length(length):
    rng = np.random.default_rng(3)
    for k in (blur.trajectory_motion_kernel(length, rng), blur.linear_motion_kernel(length, 30.0)):
        assert k.sum() == pytest.approx(1.0, abs=1e-9)
        assert (k >= 0).all() and k.shape[0] % 2 == 1
        assert k.shape[0] >= min(length, 3)


def test_camera_trajectory_has_requested_arc_length():
    path = blur.camera_trajectory(17.0, np.random.default_rng(0))
    assert np.linalg.norm(np.diff(path, axis=0), axis=1).sum() == pytest.approx(17.0)


def test_same_seed_gives_byte_identical_samples(photo):
    def sample(seed):
        rng = np.random.default_rng(seed)
        g, gp = blur.sample_gaussian(photo, rng, noise_std=0.01)
        m, _ = blur.sample_motion(photo, rng, 11.0)
        v, sharp, _ = blur.synthesize_triplet(photo, rng, length=6.0)
        return g.tobytes() + m.tobytes() + v.tobytes() + sharp.tobytes(), gp["sigma"]

    a, b, c = sample(7), sample(7), sample(8)
    assert a == b
    assert a[0] != c[0]


def test_sample_gaussian_draws_sigma_in_range(photo):
    rng = np.random.default_rng(0)
    sigmas = [blur.sample_gaussian(photo[:16, :16], rng)[1]["sigma"] for _ in range(200)]
    assert 0.0 <= min(sigmas) < 0.3 and 2.7 < max(sigmas) <= 3.0


def test_triplet_from_still_targets_the_sharp_photo_and_middle_kernel_explains_blur(photo):
    rng = np.random.default_rng(1)
    blurred, sharp, params = blur.synthesize_triplet(photo, rng, length=8.0, max_rotation_deg=0.0)
    assert blurred.shape == (3, *photo.shape) and blurred.dtype == np.float32
    np.testing.assert_array_equal(sharp, photo)
    # Translation only: the middle exposure is the photo convolved with the returned PSF
    # (up to bilinear resampling), far closer to it than to the sharp photo.
    rebuilt = blur.apply_kernel(photo, params["kernel"])
    inner = (slice(12, -12), slice(12, -12))
    assert _psnr(blurred[1][inner], rebuilt[inner]) > 32
    assert _psnr(blurred[1][inner], rebuilt[inner]) > _psnr(blurred[1][inner], photo[inner]) + 8
    assert params["kernel"].sum() == pytest.approx(1.0)


def test_triplet_strength_follows_length(photo):
    scores = [_psnr(blur.synthesize_triplet(photo, np.random.default_rng(0), length=L)[0][1], photo)
              for L in (2.0, 6.0, 14.0)]
    assert scores[0] > scores[1] > scores[2]


def test_triplet_from_real_frames_uses_each_frame():
    rng = np.random.default_rng(0)
    frames = np.stack([np.full((24, 24, 3), v, np.float32) for v in (0.2, 0.5, 0.8)])
    blurred, sharp, _ = blur.synthesize_triplet(frames, rng, length=4.0)
    np.testing.assert_allclose(blurred[:, 12, 12, 0], [0.2, 0.5, 0.8], atol=1 / 255)
    np.testing.assert_array_equal(sharp, frames[1])
    with pytest.raises(ValueError):
        blur.synthesize_triplet(frames[:2], rng)


def test_shift_neighbours_moves_outer_frames_opposite_ways(photo):
    frames = np.stack([photo] * 3)
    rng = np.random.default_rng(5)
    out = blur.shift_neighbours(frames, rng, max_shift=2)
    np.testing.assert_array_equal(out[1], photo)
    # find the shifts back by brute force on the interior
    def best(img):
        errs = {(dx, dy): np.abs(blur._shift(photo, dx, dy)[4:-4, 4:-4] - img[4:-4, 4:-4]).mean()
                for dx in range(-2, 3) for dy in range(-2, 3)}
        return min(errs, key=errs.get)
    (dx0, dy0), (dx2, dy2) = best(out[0]), best(out[2])
    assert (dx0, dy0) == (-dx2, -dy2)


def test_gaussian_blur_batch_matches_numpy_per_image(photo):
    import torch

    imgs = np.stack([photo[:40, :48], photo[:40, 8:56][::-1], photo[5:45, :48]])
    sigmas = np.array([0.0, 1.1, 3.0])
    out = blur.gaussian_blur_batch(torch.from_numpy(imgs.transpose(0, 3, 1, 2).copy()), sigmas)
    out = out.numpy().transpose(0, 2, 3, 1)
    for img, sigma, got in zip(imgs, sigmas, out):
        want = blur.gaussian_blur(img, float(sigma))
        # the same taps and borders: at most a rounding flip of one 8-bit level
        assert np.abs(got - want).max() <= 1 / 255 + 1e-6
        assert np.mean(got != want) < 0.01
    with pytest.raises(ValueError, match="one sigma per image"):
        blur.gaussian_blur_batch(torch.zeros(2, 3, 20, 20), [1.0])


def test_warp_exposures_batch_equals_one_by_one(photo):
    import torch

    crop = np.ascontiguousarray(photo[:32, :32].transpose(2, 0, 1))
    frames = torch.from_numpy(np.stack([np.stack([crop] * 3), np.stack([crop[:, ::-1].copy()] * 3)]))
    paths, rots = zip(*(blur.camera_path(np.random.default_rng(s), 6.0, 12)[:2] for s in (1, 2)))
    path, rot = torch.from_numpy(np.stack(paths)), torch.from_numpy(np.stack(rots))
    both = blur.warp_exposures(frames, path, rot, chunk=5)
    for i in range(2):
        one = blur.warp_exposures(frames[i : i + 1], path[i : i + 1], rot[i : i + 1])
        torch.testing.assert_close(both[i : i + 1], one, atol=1e-5, rtol=0)
    assert not torch.allclose(both[0, 0], both[0, 2])  # exposures before and after t differ


def test_triplet_of_length_zero_is_the_identity(photo):
    still = blur.quantize(photo)
    blurred, sharp, params = blur.synthesize_triplet(still, np.random.default_rng(0), length=0.0)
    for frame in blurred:
        np.testing.assert_array_equal(frame, still)
    assert params["kernel"].shape == (1, 1)
