"""datasets/needs.py: --dry-run's line on each data set a command needs (here CIFAR-10.1;
CIFAR-10, CIFAR-10-C and the JPEG stacks through tests/test_cli.py's dry runs)."""
import numpy as np

from datasets import cifar101, identity, needs


def test_the_cifar101_line_says_absent_other_or_published(tmp_path, monkeypatch):
    assert "CIFAR-10.1 is not in" in needs.cifar101_line(tmp_path)
    assert "a run would first download its two files" in needs.cifar101_line(tmp_path)
    rng = np.random.default_rng(0)
    folder = cifar101.write_cifar101(tmp_path, rng.integers(0, 256, (20, 32, 32, 3)),
                                     rng.integers(0, 10, 20))
    line = needs.cifar101_line(tmp_path)
    assert line == (f"data: {folder}: not the published CIFAR-10.1 v6 "
                    f"({cifar101.DATA_FILE} differs)")
    # The same files, were their sums the published ones.
    monkeypatch.setattr(cifar101, "MD5", {name: identity.file_digest(folder / name, "md5")
                                          for name in (cifar101.DATA_FILE, cifar101.LABELS_FILE)})
    assert needs.cifar101_line(tmp_path) == f"data: {folder}: CIFAR-10.1 v6 (md5 as published)"
