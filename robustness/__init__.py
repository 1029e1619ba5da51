"""Robustness beyond JPEG: common corruptions (CIFAR-10-C) and adversarial attacks
(AutoAttack), the prediction side: one trained run in, one result file out."""
