"""Cochlear model (brian2hears gammatone + hair cell + LIF) and Spiking FSDD conversion."""

import shutil

import numpy as np
import pytest
from scipy import signal as sps
from scipy.io import wavfile

from neurolearn.datasets import load_dataset, read_shd
from neurolearn.datasets.cochlea import (
    CochleaParams,
    audio_to_spikes,
    audio_to_spikes_brian2,
    centre_frequencies,
    compiled_kernel,
    gammatone_filter,
    normalise_rms,
)
from neurolearn.datasets.fsdd import fsdd_events

SR = 8000


def _erb_rate(f):
    """ERB-number (Cam) of a frequency in Hz, Glasberg & Moore (1990)."""
    return 21.4 * np.log10(1 + 0.00437 * np.asarray(f))


def _wav(require_data, name):
    rate, x = wavfile.read(require_data("fsdd", "recordings", name))
    assert rate == SR
    return x.astype(np.float64)


def test_centre_frequencies_are_erb_spaced():
    cf = centre_frequencies(CochleaParams(channels=64, f_min_hz=100, f_max_hz=3500))
    assert cf[0] == pytest.approx(100) and cf[-1] == pytest.approx(3500)
    np.testing.assert_allclose(np.diff(_erb_rate(cf)), np.diff(_erb_rate(cf)).mean(), rtol=2e-3)


def test_fft_gammatone_equals_brian2hears(require_data):
    from brian2 import Hz
    from brian2hears import Gammatone, Sound

    x = normalise_rms(_wav(require_data, "3_jackson_7.wav"))[:2000]
    p = CochleaParams(channels=40)
    ours = gammatone_filter(x, SR, p)
    ref = Gammatone(Sound(x[:, None], samplerate=SR * Hz), centre_frequencies(p)).process()
    assert ours.shape == ref.shape == (2000, 40)
    np.testing.assert_allclose(ours, np.asarray(ref), atol=1e-10 * np.abs(ref).max())


@pytest.mark.parametrize("freq_hz", [200.0, 500.0, 1000.0, 2500.0])
def test_pure_tone_drives_the_channel_tuned_to_it(freq_hz):
    p = CochleaParams(channels=128)
    cf = centre_frequencies(p)
    t = np.arange(int(0.2 * SR)) / SR
    times, units = audio_to_spikes(np.sin(2 * np.pi * freq_hz * t), SR, p, engine="numpy")
    counts = np.bincount(units, minlength=128)
    # the most active channel is tuned within 10 % of the tone ...
    assert abs(cf[np.argmax(counts)] / freq_hz - 1) < 0.10
    # ... and the spike-weighted mean place lies within a quarter ERB of it
    place = (counts * _erb_rate(cf)).sum() / counts.sum()
    assert abs(place - _erb_rate(freq_hz)) < 0.25
    assert times.min() >= 0 and times.max() < 0.2


def test_spike_counts_follow_the_recordings_spectrum(require_data):
    """Low-passed speech excites low channels, high-passed speech high channels, and the
    spike count of each channel rises with the recording's power in that channel's band."""
    from scipy.stats import spearmanr

    p = CochleaParams(channels=64)
    cf = centre_frequencies(p)
    for name in ("0_george_12.wav", "7_lucas_30.wav", "9_yweweler_44.wav"):
        x = _wav(require_data, name)
        low = sps.sosfiltfilt(sps.butter(8, 600, "low", fs=SR, output="sos"), x)
        high = sps.sosfiltfilt(sps.butter(8, 1500, "high", fs=SR, output="sos"), x)
        _, u_low = audio_to_spikes(low, SR, p, engine="numpy")
        _, u_high = audio_to_spikes(high, SR, p, engine="numpy")
        assert np.mean(cf[u_low] < 800) > 0.95
        assert np.mean(cf[u_high] > 1200) > 0.95
        # spectrum of the raw recording (Welch) integrated over each channel's ERB band
        _, u = audio_to_spikes(x, SR, p, engine="numpy")
        counts = np.bincount(u, minlength=64)
        f, pxx = sps.welch(x, fs=SR, nperseg=512)
        erb = 24.7 + cf / 9.26449
        band = np.array([pxx[np.abs(f - c) <= e / 2].sum() + 1e-30 for c, e in zip(cf, erb)])
        rho, _ = spearmanr(np.log(band), counts)
        assert rho > 0.6, (name, rho)


@pytest.mark.parametrize("units", [1, 3])
def test_fast_engines_match_brian2_reference(require_data, units):
    """The compiled kernel and the numpy engine produce the spikes of the model built from
    brian2hears objects (FilterbankGroup run by Brian2; with several units per channel a
    ``Repeat`` filterbank and a threshold per neuron)."""
    x = _wav(require_data, "5_theo_2.wav")[:1200]  # 150 ms
    p = CochleaParams(channels=24, units_per_channel=units, gain=4.0 if units > 1 else 2.5)
    t_ref, u_ref = audio_to_spikes_brian2(x, SR, p)
    t_np, u_np = audio_to_spikes(x, SR, p, engine="numpy")
    ref = set(zip(np.round(t_ref * SR).astype(int), u_ref))
    assert len(ref) > 100
    fast = set(zip(np.round(t_np * SR).astype(int), u_np))
    assert len(ref ^ fast) <= 0.01 * len(ref)
    if compiled_kernel() is not None:
        t_c, u_c = audio_to_spikes(x, SR, p, engine="compiled")
        comp = set(zip(np.round(t_c * SR).astype(int), u_c))
        assert len(ref ^ comp) <= 0.01 * len(ref)


def test_units_of_graded_threshold_code_intensity():
    """Several LIF units per channel with thresholds 1, r, r^2 (range fractionation): the
    lowest-threshold unit is the one-unit model, and of two tones 20 dB apart the louder one
    recruits more units of graded threshold in its channel, each firing no more than the
    unit below it."""
    t = np.arange(int(0.3 * SR)) / SR
    x = np.sin(2 * np.pi * 400.0 * t) + 0.1 * np.sin(2 * np.pi * 1800.0 * t)
    one = CochleaParams(channels=48, gain=4.0)
    multi = CochleaParams(channels=48, gain=4.0, units_per_channel=4, threshold_ratio=1.5)
    np.testing.assert_allclose(multi.thresholds(), [1, 1.5, 2.25, 3.375])
    engines = ["numpy"] + (["compiled"] if compiled_kernel() is not None else [])
    for engine in engines:
        t1, u1 = audio_to_spikes(x, SR, one, engine=engine)
        tm, um = audio_to_spikes(x, SR, multi, engine=engine)
        assert um.max() < 48 * 4
        low = um % 4 == 0
        np.testing.assert_array_equal(um[low] // 4, u1)
        np.testing.assert_allclose(tm[low], t1)
        counts = np.bincount(um, minlength=48 * 4).reshape(48, 4)  # [channel, threshold]
        assert np.all(np.diff(counts, axis=1) <= 0)
        cf = centre_frequencies(multi)
        loud, soft = np.argmin(abs(cf - 400.0)), np.argmin(abs(cf - 1800.0))
        assert counts[soft, 0] > 0  # the soft tone is heard ...
        active = (counts > 0).sum(axis=1)
        assert active[loud] >= active[soft] + 2  # ... but the loud one recruits more units
    with pytest.raises(ValueError, match="threshold_ratio"):
        CochleaParams(units_per_channel=2, threshold_ratio=1.0)
    with pytest.raises(ValueError, match="units_per_channel"):
        CochleaParams(units_per_channel=0)


@pytest.mark.torch  # load_dataset gives a torch Dataset (neurolearn[torch])
def test_spiking_fsdd_conversion_and_cache(require_data, tmp_path, monkeypatch):
    """Convert a small copy of FSDD (2 digits x 6 speakers x 2 repetitions) through the
    public entry point; the cache is an SHD-layout file reused on the next call."""
    src = require_data("fsdd", "recordings")
    rec = tmp_path / "data" / "fsdd" / "recordings"
    rec.mkdir(parents=True)
    names = [
        f"{d}_{s}_{i}.wav"
        for d in (1, 8)
        for s in ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
        for i in (3, 17)
    ]
    for n in names:
        shutil.copy(src / n, rec / n)
    cache = tmp_path / "cache"
    monkeypatch.setenv("NEUROLEARN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("NEUROLEARN_CACHE_DIR", str(cache))
    test = load_dataset(
        "fsdd", "test", dt_ms=5.0, duration_ms=1000.0, channels=16, workers=2, progress=False
    )
    train = load_dataset(
        "fsdd", "train", dt_ms=5.0, duration_ms=1000.0, channels=16, workers=2, progress=False
    )
    assert len(test) == 12 and len(train) == 12  # index 3 is test, 17 train
    assert sorted(set(test.labels.tolist())) == [1, 8] and test.n_classes == 10
    assert test.n_channels == 16 and test[0][0].shape == (200, 16)
    spk = test.events.extra["speaker"]
    assert sorted(set(spk.tolist())) == list(range(6))
    files = sorted((cache / "fsdd").glob("spiking_fsdd_*_test.h5"))
    assert len(files) == 1
    mtime = files[0].stat().st_mtime_ns
    # the cached file is read by the SHD reader and equals a direct conversion
    ev = read_shd(files[0])
    x = wavfile.read(rec / "8_theo_3.wav")[1]
    t, u = audio_to_spikes(x, SR, CochleaParams(channels=16))
    j = [i for i in range(len(ev)) if ev.labels[i] == 8 and spk[i] == 4][0]
    np.testing.assert_allclose(ev.sample(j)[0], t, atol=1e-6)
    np.testing.assert_array_equal(ev.sample(j)[1], u)
    # same parameters: the cached file is read, not rewritten; other parameters: another file
    again = fsdd_events("test", channels=16, progress=False)
    assert files[0].stat().st_mtime_ns == mtime
    np.testing.assert_array_equal(again.units, test.events.units)
    # repeated loads in one process share the events read once
    assert load_dataset("fsdd", "test", channels=16, progress=False).events is test.events
    load_dataset("fsdd", "test", channels=8, workers=1, progress=False)
    assert len(list((cache / "fsdd").glob("spiking_fsdd_*_test.h5"))) == 2
    # two units per channel: 32 inputs; threshold 0 of channel c is the one-unit model's c
    multi = load_dataset(
        "fsdd",
        "test",
        dt_ms=5.0,
        duration_ms=1000.0,
        channels=16,
        units_per_channel=2,
        workers=1,
        progress=False,
    )
    assert multi.n_channels == 32 and multi[0][0].shape == (200, 32)
    assert len(list((cache / "fsdd").glob("spiking_fsdd_*_test.h5"))) == 3
    for i in (0, 5):
        x1, x2 = test[i][0], multi[i][0]
        np.testing.assert_array_equal(x2[:, 0::2], x1)
        assert x2[:, 1::2].sum() < x2[:, 0::2].sum()
