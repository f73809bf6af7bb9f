"""The two PyTorch models: DeepLog (next-template prediction) and MSCRED (signature-matrix reconstruction).

Both are written with ops every torch exporter since 1.13 handles (no in-place tricks, no data-dependent
control flow); the only loop (MSCRED's steps) has a length fixed at construction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class DeepLogConfig:
    vocab_size: int
    seq_len: int = 10
    hidden: int = 64
    layers: int = 2
    embed_dim: int = 16

    def to_dict(self) -> dict:
        return asdict(self)

    def parameter_count(self) -> int:
        """Elements of DeepLog's parameters, computed without building it (tests compare with the model)."""
        v, e, h = self.vocab_size, self.embed_dim, self.hidden
        lstm = sum(4 * h * ((e if layer == 0 else h) + h) + 8 * h for layer in range(self.layers))
        return v * e + lstm + h * v + v


class DeepLog(nn.Module):
    """Embedding -> LSTM -> Linear on the last step: logits of the next template index."""

    def __init__(self, config: DeepLogConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embed_dim)
        self.lstm = nn.LSTM(config.embed_dim, config.hidden, config.layers, batch_first=True)
        self.head = nn.Linear(config.hidden, config.vocab_size)

    def forward(self, sequences: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embedding(sequences))
        return self.head(out[:, -1, :])

    def example_input(self, batch: int = 2, seq_len: int | None = None) -> torch.Tensor:
        # batch >= 2 and seq >= 2: torch.export specialises dimensions of size 0 and 1.
        seq_len = max(2, seq_len or self.config.seq_len)
        generator = torch.Generator().manual_seed(0)
        return torch.randint(0, self.config.vocab_size, (max(2, batch), seq_len), generator=generator)


@dataclass(frozen=True)
class MSCREDConfig:
    sensors: int  # templates: signature matrices are sensors x sensors
    scales: int = 3  # one channel per window length
    step: int = 5  # consecutive signature matrices fed to the ConvLSTMs
    channels: tuple[int, int, int] = (8, 16, 32)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["channels"] = list(self.channels)
        return data

    def parameter_count(self) -> int:
        """Elements of MSCRED's parameters, computed without building it (tests compare with the model)."""
        c1, c2, c3 = self.channels
        s = self.scales
        encoders = sum(9 * a * b + b for a, b in ((s, c1), (c1, c2), (c2, c3)))
        cells = sum(9 * 2 * c * 4 * c + 4 * c for c in (c1, c2, c3))
        decoders = sum(9 * a * b + b for a, b in ((c3, c2), (2 * c2, c1), (2 * c1, s)))
        return encoders + cells + decoders


def _halved(size: int) -> int:
    # Output size of a 3x3 conv with stride 2 and padding 1.
    return (size - 1) // 2 + 1


class ConvLSTMCell(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        self.gates = nn.Conv2d(2 * channels, 4 * channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        i, f, o, g = torch.chunk(self.gates(torch.cat([x, h], dim=1)), 4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


def temporal_attention(hidden_states: list[torch.Tensor]) -> torch.Tensor:
    """MSCRED's attention over steps: weights from each step's similarity to the last step."""
    stacked = torch.stack(hidden_states, dim=1)  # [B, step, C, H, W]
    last = stacked[:, -1:]
    scores = (stacked * last).flatten(2).sum(dim=2) / 5.0  # MSCRED's rescaling constant
    weights = torch.softmax(scores, dim=1)[:, :, None, None, None]
    return (stacked * weights).sum(dim=1)


class MSCRED(nn.Module):
    """Conv encoder (3 levels) -> ConvLSTM + attention per level over `step` steps -> deconv decoder."""

    def __init__(self, config: MSCREDConfig):
        super().__init__()
        self.config = config
        c1, c2, c3 = config.channels
        self.sizes = (config.sensors, _halved(config.sensors), _halved(_halved(config.sensors)))
        self.enc1 = nn.Conv2d(config.scales, c1, 3, stride=1, padding=1)
        self.enc2 = nn.Conv2d(c1, c2, 3, stride=2, padding=1)
        self.enc3 = nn.Conv2d(c2, c3, 3, stride=2, padding=1)
        self.lstm1, self.lstm2, self.lstm3 = ConvLSTMCell(c1), ConvLSTMCell(c2), ConvLSTMCell(c3)
        s1, s2, s3 = self.sizes
        # output_padding restores odd/even spatial sizes exactly (sizes are fixed by `sensors`).
        self.dec3 = nn.ConvTranspose2d(c3, c2, 3, stride=2, padding=1, output_padding=s2 - (2 * s3 - 1))
        self.dec2 = nn.ConvTranspose2d(2 * c2, c1, 3, stride=2, padding=1, output_padding=s1 - (2 * s2 - 1))
        self.dec1 = nn.ConvTranspose2d(2 * c1, config.scales, 3, stride=1, padding=1)
        self.act = nn.SELU()

    def forward(self, signatures: torch.Tensor) -> torch.Tensor:
        cells = ((self.enc1, self.lstm1), (self.enc2, self.lstm2), (self.enc3, self.lstm3))
        states: list[tuple[torch.Tensor, torch.Tensor] | None] = [None, None, None]
        histories: list[list[torch.Tensor]] = [[], [], []]
        for t in range(self.config.step):
            x = signatures[:, t]
            for level, (conv, lstm) in enumerate(cells):
                x = self.act(conv(x))
                state = states[level]
                if state is None:
                    zeros = torch.zeros_like(x)
                    state = (zeros, zeros)
                h, c = lstm(x, *state)
                states[level] = (h, c)
                histories[level].append(h)
        a1, a2, a3 = (temporal_attention(h) for h in histories)
        d2 = self.act(self.dec3(a3))
        d1 = self.act(self.dec2(torch.cat([d2, a2], dim=1)))
        out = self.dec1(torch.cat([d1, a1], dim=1))
        return out

    def example_input(self, batch: int = 2) -> torch.Tensor:
        c = self.config
        generator = torch.Generator().manual_seed(0)
        return torch.rand((max(2, batch), c.step, c.scales, c.sensors, c.sensors), generator=generator)
