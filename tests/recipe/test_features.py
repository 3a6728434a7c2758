"""Stage 3 features: dumped log-mels equal what the whisper_cs encoder computes from audio."""
from __future__ import annotations

import kaldiio
import numpy as np
import pytest
import torch

from espnet_cs_ext.recipe.features import dump_features
from espnet_cs_ext.utils.errors import CsExtError
from espnet_cs_ext.utils.kaldi import read_table
from espnet_cs_ext.whisper.audio import load_audio_16k


@pytest.fixture()
def data_copy(tmp_path, english_data_dir):
    d = tmp_path / "d"
    d.mkdir()
    for name in ("wav.scp", "text", "utt2spk"):
        (d / name).write_text((english_data_dir / name).read_text())
    return d


def test_dumped_features_match_the_encoder_input_path(data_copy, tiny_whisper):
    from espnet_cs_ext.espnet.whisper_cs import WhisperCSEncoder

    assert dump_features(data_copy) == 4
    feats = dict(kaldiio.load_scp(str(data_copy / "feats.scp")))
    frames = read_table(data_copy / "utt2num_frames")
    wavs = read_table(data_copy / "wav.scp")
    assert set(feats) == set(wavs)
    enc = WhisperCSEncoder(whisper_model=str(tiny_whisper)).eval()
    for utt, path in wavs.items():
        audio = torch.from_numpy(load_audio_16k(path))
        assert feats[utt].shape == (len(audio) // 160, 80) and int(frames[utt]) == feats[utt].shape[0]
        mel, _ = enc.log_mel_spectrogram(audio[None], torch.tensor([len(audio)]))
        np.testing.assert_allclose(feats[utt], mel[0].T.numpy(), atol=1e-5)
        with torch.no_grad():
            from_audio, olens_a, _ = enc(audio[None], torch.tensor([len(audio)]))
            from_feats, olens_f, _ = enc(torch.from_numpy(feats[utt].copy())[None], torch.tensor([feats[utt].shape[0]]))
        assert torch.equal(olens_a, olens_f)
        torch.testing.assert_close(from_feats, from_audio, atol=1e-4, rtol=1e-4)


def test_wrong_feature_size_is_rejected(tiny_whisper):
    from espnet_cs_ext.espnet.whisper_cs import WhisperCSEncoder

    enc = WhisperCSEncoder(whisper_model=str(tiny_whisper))
    with pytest.raises(ValueError, match="expected 80 log-mel bins"):
        enc(torch.zeros(1, 100, 40), torch.tensor([100]))


def test_pipe_entries_are_refused(tmp_path):
    d = tmp_path / "p"
    d.mkdir()
    (d / "wav.scp").write_text("u1 sox a.wav -t wav - |\n")
    with pytest.raises(CsExtError, match="'u1' is a pipe"):
        dump_features(d)
    assert not (d / "feats.scp").exists() and not (d / "feats.ark").exists()
