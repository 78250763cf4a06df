"""The Lightning callback reports a real ``lightning`` fit (skipped without lightning)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from aichaos.probes.base import PROBES

pytest.importorskip("torch", reason="the Lightning callback needs PyTorch")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # lightning's own import-time deprecations
    pl = pytest.importorskip("lightning.pytorch", reason="lightning is not installed")


@pytest.mark.slow  # importing lightning takes seconds
@pytest.mark.filterwarnings("ignore")  # lightning warns about workers, logging, GPUs
async def test_a_lightning_fit_is_reported(tmp_path: Path) -> None:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from aichaos.training.lightning import TrainingCallback

    class Model(pl.LightningModule):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Linear(4, 2)

        def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], i: int) -> torch.Tensor:
            x, y = batch
            return torch.nn.functional.cross_entropy(self.net(x), y)

        def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], i: int) -> None:
            x, y = batch
            self.log("val_acc", (self.net(x).argmax(1) == y).float().mean())

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.5)

    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g)
    y = (x[:, 0] > 0).long()
    data = DataLoader(TensorDataset(x, y), batch_size=16)
    metrics = tmp_path / "m.jsonl"
    trainer = pl.Trainer(
        max_epochs=2,
        callbacks=[TrainingCallback(str(metrics))],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=tmp_path,
        accelerator="cpu",
    )
    trainer.fit(Model(), data, data)
    m = PROBES.get("training")(metrics_file=str(metrics), window_s=600).read(lambda: 1e12)
    assert m["done"] == 1 and m["step"] == 8  # 2 epochs of 4 batches
    assert m["nonfinite"] == 0 and 0 <= m["eval"] <= 1
