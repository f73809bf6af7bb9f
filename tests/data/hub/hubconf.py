"""Architectures alog-detect did not write, named the torch.hub way: what a team brings to the matrix.

Each entry returns a model of one interface (converter.hub): ``next-template`` takes int64 template ids
[batch, sequence] and returns scores [batch, vocab]; ``signature-matrix`` takes float32
[batch, step, scales, sensors, sensors] and returns a reconstruction. The last entries are wrong on purpose.
"""

import torch
from torch import nn

dependencies = ["torch"]


class GRUNextTemplate(nn.Module):
    """Embedding + GRU, the last step's hidden state to logits."""

    def __init__(self, vocab_size, hidden=24, embed=8):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed)
        self.gru = nn.GRU(embed, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab_size)

    def forward(self, ids):
        output, _ = self.gru(self.embed(ids))
        return self.out(output[:, -1, :])


class OneHotLSTM(nn.Module):
    """Another package's DeepLog: one-hot input, explicit zero initial states, LogSoftmax out."""

    def __init__(self, vocab_size, hidden=32, layers=2):
        super().__init__()
        self.vocab_size, self.hidden, self.layers = vocab_size, hidden, layers
        self.lstm = nn.LSTM(vocab_size, hidden, layers, batch_first=True)
        self.fc = nn.Linear(hidden, vocab_size)
        self.log_softmax = nn.LogSoftmax(dim=1)

    def forward(self, ids):
        x = nn.functional.one_hot(ids, self.vocab_size).float()
        h0 = torch.zeros(self.layers, ids.size(0), self.hidden)
        c0 = torch.zeros(self.layers, ids.size(0), self.hidden)
        output, _ = self.lstm(x, (h0, c0))
        return self.log_softmax(self.fc(output[:, -1, :]))


class TemplateTransformer(nn.Module):
    """A LogBERT-style encoder: embeddings + learned positions, a 2-layer Transformer encoder, mean-pooled."""

    def __init__(self, vocab_size, d_model=32, heads=4, layers=2, max_len=512):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.position = nn.Parameter(torch.zeros(1, max_len, d_model))
        layer = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=2 * d_model, dropout=0.0,
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers)
        self.out = nn.Linear(d_model, vocab_size)

    def forward(self, ids):
        x = self.embed(ids) + self.position[:, : ids.size(1)]
        return self.out(self.encoder(x).mean(dim=1))


class ConvAutoencoder(nn.Module):
    """A reconstruction model of the signature-matrix interface: the last step's matrices, encoded and decoded."""

    def __init__(self, scales=3, channels=8):
        super().__init__()
        self.encode = nn.Sequential(nn.Conv2d(scales, channels, 3, padding=1), nn.ReLU(),
                                    nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU())
        self.decode = nn.Conv2d(channels, scales, 3, padding=1)

    def forward(self, signatures):
        return torch.sigmoid(self.decode(self.encode(signatures[:, -1])))


def gru_next_template(vocab_size=30, hidden=24):
    return GRUNextTemplate(vocab_size, hidden)


def onehot_lstm(vocab_size=30, hidden=32, layers=2):
    return OneHotLSTM(vocab_size, hidden, layers)


def template_transformer(vocab_size=30, d_model=32):
    return TemplateTransformer(vocab_size, d_model)


def conv_autoencoder(scales=3, channels=8):
    return ConvAutoencoder(scales, channels)


class FrozenPositions(nn.Module):
    """Positions built from the length in Python: TorchScript bakes the export length into a constant and
    torch.export specialises the sequence axis, so no exporter keeps it dynamic."""

    def __init__(self, vocab_size):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, 8)
        self.position = nn.Embedding(64, 8)
        self.out = nn.Linear(8, vocab_size)

    def forward(self, ids):
        positions = torch.tensor(list(range(ids.size(1))))
        return self.out((self.embed(ids) + self.position(positions)).mean(dim=1))


def frozen_positions(vocab_size=20):
    return FrozenPositions(vocab_size)


# ----- wrong on purpose


def raises(vocab_size=30):
    raise ValueError(f"this entry cannot build a model of {vocab_size} templates")


class _Ids(nn.Module):
    def forward(self, ids):
        return ids  # int64 [batch, sequence]: the wrong dtype and meaning for scores


class _Flat(nn.Module):
    def __init__(self, vocab_size):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, vocab_size)

    def forward(self, ids):
        return self.embed(ids)  # [batch, sequence, vocab]: one rank too many


def wrong_dtype():
    return _Ids()


def wrong_rank(vocab_size=30):
    return _Flat(vocab_size)


def not_a_module():
    return {"model": "a dict"}
