"""The CSV log and the learning-curve PNG."""

from __future__ import annotations

from livseg.training.history import plot_curves, read_csv, write_csv

HISTORY = [
    {"epoch": 1, "lr": 0.1, "train_loss": 0.9, "train_loss_main": 0.6, "train_loss_branch1": 0.5,
     "eta_1": 0.3, "train_dice": 0.2, "seconds": 1.5},
    {"epoch": 2, "lr": 0.1, "train_loss": 0.7, "train_loss_main": 0.5, "train_loss_branch1": 0.4,
     "eta_1": 0.3, "train_dice": 0.4, "val_loss": 0.8, "val_dice": 0.5, "seconds": 1.25},
]


def test_csv_has_one_row_per_epoch_with_empty_cells_for_missing_values(tmp_path):
    path = write_csv(HISTORY, tmp_path / "log.csv")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == ("epoch,lr,seconds,train_loss,train_loss_main,train_dice,val_loss,val_dice,"
                        "train_loss_branch1,eta_1")
    assert lines[1] == "1,0.1,1.5,0.9,0.6,0.2,,,0.5,0.3"
    rows = read_csv(path)
    assert rows[1]["val_dice"] == 0.5 and rows[0]["val_dice"] is None and len(rows) == 2


def test_curves_png(tmp_path):
    path = plot_curves(HISTORY, tmp_path / "curves.png", title="test")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1000, 400)
