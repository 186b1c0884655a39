"""The report's figures: which training-log columns go to which learning-curve panel."""

from __future__ import annotations


def test_the_dice_panel_holds_dice_scores_not_the_dice_loss():
    """A "dice+ce" objective logs ``train_main_dice``, a Dice *loss*; it was drawn in the Dice panel."""
    from livseg.reporting.figures import curve_panels

    columns = ["epoch", "lr", "train_loss", "train_loss_main", "train_main_dice", "train_main_ce",
               "train_loss_branch1", "train_dice", "val_loss", "val_dice"]
    panels = dict(curve_panels(columns))
    assert panels["Dice"] == ["train_dice", "val_dice"]
    assert "train_main_dice" in panels["loss"] and "train_main_ce" in panels["loss"]
    assert panels["learning rate"] == ["lr"]
    assert set(panels["loss"]) | set(panels["Dice"]) | {"lr", "epoch"} == set(columns)
