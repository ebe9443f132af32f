import numpy as np

from ilvb.live.mixer import AudioMixer


def test_sources_are_summed_and_clipped() -> None:
    mixer = AudioMixer()
    mixer.push("a0", np.full(8, 20000, np.int16))
    mixer.push("a1", np.full(8, 20000, np.int16))
    assert mixer.pull(4).tolist() == [32767] * 8


def test_a_source_without_samples_is_silence_and_short_ones_are_padded() -> None:
    mixer = AudioMixer()
    mixer.push("a0", np.array([1, 2, 3, 4], np.int16))
    assert mixer.pull(4).tolist() == [1, 2, 3, 4, 0, 0, 0, 0]
    assert mixer.pull(2).tolist() == [0, 0, 0, 0]


def test_a_bursting_source_keeps_only_the_newest_samples() -> None:
    mixer = AudioMixer(max_buffer_ms=1)  # 48 stereo frames
    mixer.push("a0", np.arange(200, dtype=np.int16))
    assert mixer.dropped_samples == 52
    assert mixer.pull(1).tolist() == [104, 105]
