"""The training loop, against a loop written out by hand and against direct evaluation."""

import math

import pytest
import torch

from dlopt_lab.data import digits_loaders, load_digits
from dlopt_lab.training import History, evaluate, fit, gradient_norm


@pytest.fixture(scope="module")
def loaders():
    return digits_loaders(batch_size=128, seed=0)


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 10))


def test_fit_equals_the_loop_written_by_hand():
    # Identical batch orders: each run gets its own loader built from the same seed.
    a, b = _model(), _model()
    opt_a = torch.optim.SGD(a.parameters(), lr=0.3, momentum=0.9)
    opt_b = torch.optim.SGD(b.parameters(), lr=0.3, momentum=0.9)
    hist = fit(a, opt_a, digits_loaders(batch_size=128, seed=1)["train"], num_epochs=3,
               progress=False, record_steps=True)
    manual_losses = []
    loader_b = digits_loaders(batch_size=128, seed=1)["train"]
    for _ in range(3):
        for X, y in loader_b:
            opt_b.zero_grad()
            loss = torch.nn.functional.cross_entropy(b(X), y)
            loss.backward()
            opt_b.step()
            manual_losses.append(loss.item())
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)
    assert hist.step_loss == manual_losses
    assert hist.num_epochs == 3 and len(hist.train_acc) == 3 and hist.val_loss == []
    assert hist.lr == [0.3, 0.3, 0.3]
    assert all(t2 > t1 for t1, t2 in zip(hist.time, hist.time[1:]))
    assert all(0 < tt < t for tt, t in zip(hist.train_time, hist.time))  # evaluation excluded


def test_evaluate_matches_a_direct_computation(loaders):
    model = _model()
    data = load_digits(seed=0)
    with torch.no_grad():
        out = model(data.X_val)
    loss = float(torch.nn.functional.cross_entropy(out, data.y_val))
    acc = float((out.argmax(1) == data.y_val).float().mean())
    got_loss, got_acc = evaluate(model, loaders["val"])
    assert got_loss == pytest.approx(loss, rel=1e-6)
    assert got_acc == pytest.approx(acc, abs=1e-6)  # the reference is a float32 mean
    assert model.training  # evaluate restores the mode it found


def test_evaluate_regression_reports_nan_accuracy():
    X = torch.randn(20, 3)
    y = X @ torch.tensor([1.0, -2.0, 0.5])
    model = torch.nn.Linear(3, 1)
    loader = [(X, y.unsqueeze(1))]
    loss, acc = evaluate(model, loader, torch.nn.functional.mse_loss)
    expected = torch.nn.functional.mse_loss(model(X), y.unsqueeze(1)).item()
    assert loss == pytest.approx(expected, rel=1e-6)
    assert math.isnan(acc)


def test_training_learns_digits(loaders):
    model = _model()
    hist = fit(model, torch.optim.SGD(model.parameters(), lr=0.5), loaders["train"], loaders["val"],
               num_epochs=15, progress=False)
    assert hist.val_acc[-1] > 0.9
    assert hist.train_loss[-1] < hist.train_loss[0] / 3


def test_gradient_norm_is_the_global_norm():
    model = _model()
    torch.nn.functional.cross_entropy(model(torch.randn(5, 64)), torch.tensor([0, 1, 2, 3, 4])).backward()
    expected = torch.sqrt(sum((p.grad**2).sum() for p in model.parameters()))
    assert gradient_norm(model.parameters()) == pytest.approx(float(expected), rel=1e-6)
    assert gradient_norm(torch.nn.Linear(2, 2).parameters()) == 0.0


def test_early_stopping_stops_when_validation_loss_stops_falling(loaders):
    model = _model()
    # A learning rate far too large: the validation loss rises at once.
    hist = fit(model, torch.optim.SGD(model.parameters(), lr=50.0), loaders["train"], loaders["val"],
               num_epochs=30, patience=2, progress=False)
    assert hist.stopped_early or not math.isfinite(hist.train_loss[-1])
    assert hist.num_epochs < 30
    assert isinstance(hist, History) and 0 <= hist.best_epoch < hist.num_epochs


def test_progress_bar_follows_the_environment(loaders, monkeypatch, capsys):
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    monkeypatch.setenv("DLOPT_LAB_PROGRESS", "0")
    fit(model, opt, loaders["val"], num_epochs=1)
    assert "training" not in capsys.readouterr().err
    monkeypatch.delenv("DLOPT_LAB_PROGRESS")
    fit(model, opt, loaders["val"], num_epochs=1)
    assert "training" in capsys.readouterr().err


@pytest.mark.parametrize("kwargs, name", [({"num_epochs": 0}, "num_epochs"), ({"num_epochs": 1.5}, "num_epochs"),
                                          ({"patience": 0}, "patience"), ({"patience": 2}, "val_loader")])
def test_bad_arguments(loaders, kwargs, name):
    model = _model()
    with pytest.raises(ValueError, match=name):
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), loaders["train"], progress=False, **kwargs)


def test_empty_history_has_no_best_epoch():
    with pytest.raises(ValueError, match="empty"):
        History().best_epoch


def test_fit_can_skip_the_training_set_evaluation_and_gradient_norms(loaders):
    a, b = _model(), _model()
    full = fit(a, torch.optim.SGD(a.parameters(), lr=0.3), digits_loaders(batch_size=128, seed=2)["train"],
               loaders["val"], num_epochs=2, progress=False)
    lean = fit(b, torch.optim.SGD(b.parameters(), lr=0.3), digits_loaders(batch_size=128, seed=2)["train"],
               loaders["val"], num_epochs=2, progress=False, measure_train=False, measure_grad_norm=False)
    assert lean.val_loss == full.val_loss  # the same training, only fewer measurements
    assert all(math.isnan(v) for v in lean.train_loss + lean.train_acc + lean.grad_norm)
    assert not any(math.isnan(v) for v in full.train_loss + full.grad_norm)


def test_restore_best_loads_the_weights_of_the_best_epoch(loaders):
    model = _model()
    # A learning rate too large for this network: the validation loss jumps about, and the
    # best epoch is not the last one (asserted, so the restore below is really exercised).
    hist = fit(model, torch.optim.SGD(model.parameters(), lr=3.0), loaders["train"], loaders["val"],
               num_epochs=8, progress=False, restore_best=True)
    assert hist.best_epoch < hist.num_epochs - 1
    loss, _ = evaluate(model, loaders["val"])
    assert loss == pytest.approx(min(hist.val_loss), rel=1e-6)
    with pytest.raises(ValueError, match="restore_best"):
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), loaders["train"], restore_best=True,
            progress=False)


def test_evaluate_does_not_change_the_next_epochs_batches():
    ref = [y.tolist() for _, y in digits_loaders(batch_size=128, seed=3)["train"]]
    loader = digits_loaders(batch_size=128, seed=3)["train"]
    evaluate(_model(), loader)
    assert [y.tolist() for _, y in loader] == ref
