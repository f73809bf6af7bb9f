"""A deterministic synthetic HDFS log: what a cell trains its models on.

Each block (``blk_<id>``) lives through the life cycle HDFS DataNodes log for it: allocation,
three replicas received, their responders terminating, the name node recording the replicas, and
now and then a read, a verification, a replication or a deletion. A few blocks (``anomaly_rate``)
break the cycle the way the real ones do: an exception while serving, a replica that never
arrives, a deletion of a block still being written. Lines of all blocks are interleaved in time,
as in the real log, and written in the HDFS layout ``yyMMdd HHmmss pid LEVEL component: content``.

Same seed, same bytes: cells on different torch versions see the same data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from converter import atomic

START = datetime(2008, 11, 9, 20, 30, tzinfo=timezone.utc)
BLOCK_SIZE = 67108864


@dataclass(frozen=True)
class SynthLog:
    path: Path
    lines: int
    blocks: int
    anomalous_blocks: tuple[str, ...]


class _Block:
    """Writes one block's events; ``rng`` decides addresses, sizes and optional events."""

    def __init__(self, rng: random.Random, block_id: str):
        self.rng = rng
        self.blk = block_id
        self.nodes = [self._ip() for _ in range(3)]
        self.size = BLOCK_SIZE if rng.random() < 0.8 else rng.randint(4096, BLOCK_SIZE)

    def _ip(self) -> str:
        return f"10.25{self.rng.randint(0, 1)}.{self.rng.randint(1, 254)}.{self.rng.randint(1, 254)}"

    def _port(self) -> int:
        return self.rng.randint(32768, 60999)

    def allocate(self):
        task = self.rng.randint(0, 999)
        return ("INFO", "dfs.FSNamesystem",
                f"BLOCK* NameSystem.allocateBlock: /user/root/rand/_temporary/_task_200811092030_0001_m_{task:06d}_0/part-{task:05d}. {self.blk}")

    def receiving(self, i):
        src = self.nodes[max(i - 1, 0)]
        return ("INFO", "dfs.DataNode$DataXceiver",
                f"Receiving block {self.blk} src: /{src}:{self._port()} dest: /{self.nodes[i]}:50010")

    def received(self, i):
        if self.rng.random() < 0.5:
            return ("INFO", "dfs.DataNode$PacketResponder", f"Received block {self.blk} of size {self.size} from /{self.nodes[max(i - 1, 0)]}")
        return ("INFO", "dfs.DataNode$DataXceiver",
                f"Received block {self.blk} src: /{self.nodes[max(i - 1, 0)]}:{self._port()} dest: /{self.nodes[i]}:50010 of size {self.size}")

    def responder(self, i):
        return ("INFO", "dfs.DataNode$PacketResponder", f"PacketResponder {i} for block {self.blk} terminating")

    def stored(self, i):
        return ("INFO", "dfs.FSNamesystem",
                f"BLOCK* NameSystem.addStoredBlock: blockMap updated: {self.nodes[i]}:50010 is added to {self.blk} size {self.size}")

    def served(self):
        return ("INFO", "dfs.DataNode$DataXceiver", f"{self.rng.choice(self.nodes)}:50010 Served block {self.blk} to /{self._ip()}")

    def serve_failed(self):
        return ("WARN", "dfs.DataNode$DataXceiver", f"{self.rng.choice(self.nodes)}:50010:Got exception while serving {self.blk} to /{self._ip()}:")

    def verified(self):
        return ("INFO", "dfs.DataBlockScanner", f"Verification succeeded for {self.blk}")

    def replicate(self):
        target = self._ip()
        return [
            ("INFO", "dfs.FSNamesystem", f"BLOCK* ask {self.nodes[0]}:50010 to replicate {self.blk} to datanode(s) {target}:50010"),
            ("INFO", "dfs.DataNode", f"{self.nodes[0]}:50010 Starting thread to transfer block {self.blk} to {target}:50010"),
        ]

    def delete(self):
        events = [("INFO", "dfs.FSNamesystem", f"BLOCK* NameSystem.delete: {self.blk} is added to invalidSet of {n}:50010") for n in self.nodes]
        events.append(("INFO", "dfs.FSNamesystem", f"BLOCK* ask {self.nodes[0]}:50010 to delete  {self.blk}"))
        sub = self.rng.randint(0, 63)
        events += [("INFO", "dfs.FSDataset", f"Deleting block {self.blk} file /mnt/hadoop/dfs/data/current/subdir{sub}/{self.blk}")]
        return events

    def normal(self) -> list[tuple[str, str, str]]:
        events = [self.allocate()]
        events += [self.receiving(i) for i in range(3)]
        for i in range(3):
            events += [self.received(i), self.responder(2 - i)]
        events += [self.stored(i) for i in range(3)]
        for _ in range(self.rng.choice((0, 0, 1, 2))):
            events.append(self.served())
        if self.rng.random() < 0.3:
            events.append(self.verified())
        if self.rng.random() < 0.1:
            events += self.replicate()
        if self.rng.random() < 0.2:
            events += self.delete()
        return events

    def anomalous(self) -> list[tuple[str, str, str]]:
        events = self.normal()
        kind = self.rng.randrange(3)
        if kind == 0:  # reads keep failing
            events[10:10] = [self.serve_failed() for _ in range(self.rng.randint(2, 4))]
        elif kind == 1:  # a replica never arrives: no Received/terminating for it, then re-replication
            events = [e for e in events if not (e[2].startswith("PacketResponder 0") or "of size" in e[2] and self.nodes[1] in e[2])]
            events += self.replicate() + self.replicate()
        else:  # deleted while still being written
            events[2:2] = self.delete()
        return events


def generate(path: str | Path, blocks: int = 300, seed: int = 7, anomaly_rate: float = 0.04) -> SynthLog:
    """Write the log to ``path`` (atomically) and say which blocks are anomalous."""
    rng = random.Random(seed)
    timed: list[tuple[datetime, int, str]] = []
    anomalous: list[str] = []
    order = 0
    for n in range(blocks):
        block_id = f"blk_{rng.choice(('', '-'))}{rng.randint(10**17, 9 * 10**18)}"
        block = _Block(rng, block_id)
        is_anomaly = rng.random() < anomaly_rate or (n == blocks // 2 and not anomalous)
        events = block.anomalous() if is_anomaly else block.normal()
        if is_anomaly:
            anomalous.append(block_id)
        t = START + timedelta(seconds=rng.randint(0, 36 * 3600))
        for level, component, content in events:
            t += timedelta(seconds=rng.randint(0, 90))
            pid = rng.randint(13, 30000)
            line = f"{t:%y%m%d %H%M%S} {pid} {level} {component}: {content}"
            timed.append((t, order, line))
            order += 1
    timed.sort()
    text = "".join(line + "\n" for _, _, line in timed)
    atomic.write_text(path, text)
    return SynthLog(Path(path), len(timed), blocks, tuple(anomalous))


if __name__ == "__main__":  # pragma: no cover - a quick look at the data
    import sys

    info = generate(sys.argv[1] if len(sys.argv) > 1 else "synthetic_hdfs.log")
    print(f"{info.path}: {info.lines} lines, {info.blocks} blocks, {len(info.anomalous_blocks)} anomalous")
