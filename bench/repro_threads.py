"""Does the torch CPU thread count change Whisper's numbers? Forward (decoding) and backward (training).

    .venv/bin/python bench/repro_threads.py

A random Whisper (4+4 layers, width 384, multilingual vocabulary), weights drawn with
a fixed seed: encoder + decoder forward on 4 x 30 s of log-mel at 1 and at 2 threads,
then one backward and two AdamW steps at 1 and at 2 threads. Prints whether each pair
of results is bit-identical (docs/reproducibility.md quotes its output).
"""
import torch
from whisper.model import ModelDimensions, Whisper

DIMS = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=384, n_audio_head=6, n_audio_layer=4,
                       n_vocab=51865, n_text_ctx=448, n_text_state=384, n_text_head=6, n_text_layer=4)


def model():
    torch.manual_seed(0)
    m = Whisper(DIMS)
    for p in m.parameters():  # whisper leaves some parameters uninitialised (torch.empty)
        torch.nn.init.normal_(p, std=0.02)
    return m


def main():
    g = torch.Generator().manual_seed(1)
    mel = torch.randn(4, 80, 3000, generator=g)
    tok = torch.randint(0, 50000, (4, 20), generator=g)
    m = model().eval()
    fwd = {}
    for t in (1, 2):
        torch.set_num_threads(t)
        with torch.no_grad():
            fwd[t] = m.decoder(tok, m.encoder(mel))
    print(f"forward, 1 vs 2 threads: bit-identical {torch.equal(fwd[1], fwd[2])}, "
          f"greedy tokens differing {(fwd[1].argmax(-1) != fwd[2].argmax(-1)).sum().item()}")

    def train(t, steps):
        torch.set_num_threads(t)
        mm = model()
        opt = torch.optim.AdamW(mm.parameters(), 1e-5)
        for _ in range(steps):
            loss = mm(mel[:2], tok[:2]).logsumexp(-1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        return torch.cat([p.detach().flatten() for p in mm.parameters()])

    a, b, c = train(1, 2), train(2, 2), train(1, 2)
    print(f"2 training steps, 1 vs 2 threads: bit-identical {torch.equal(a, b)}, max |diff| {(a - b).abs().max():.2e}")
    print(f"2 training steps, 1 vs 1 thread again: bit-identical {torch.equal(a, c)}")


if __name__ == "__main__":
    main()
