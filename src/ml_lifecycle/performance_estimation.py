"""Performance without labels: confidence-based performance estimation (CBPE, as NannyML defines it).

When a model's probabilities are calibrated, the probability p of a row is the chance that its
label is positive, so the expected confusion matrix of a batch at threshold t is
TP = sum(p | decision 1), FP = sum(1 - p | decision 1), FN = sum(p | decision 0),
TN = sum(1 - p | decision 0), and every metric follows from it. ROC AUC is estimated the same
way: each row counts p times as a positive and 1 - p times as a negative.

What it assumes: calibration holds on the batch (covariate shift is fine as long as P(y | x)
has not changed). What it cannot see: concept drift, which changes P(y | x) while the
probabilities stay the same; only labels show that.

The sampling band: labels drawn from the probabilities themselves (Bernoulli), `draws` times,
give the metrics that the batch could realise; their 2.5-97.5% range is the band.
Where the class balance moved, `prior_adjusted` re-estimates with probabilities adjusted to the
batch's own prior by the EM method of Saerens, Latinne and Decaestecker (2002).

Written on NumPy because NannyML does not support pandas 3.
"""

from __future__ import annotations

import numpy as np

ESTIMATED = ("accuracy", "precision", "recall", "f1", "roc_auc")


def confusion_counts(scores: np.ndarray, positive_weight: np.ndarray, threshold: float) -> tuple[float, float, float, float]:
    """Return (TP, FP, FN, TN) at `threshold` when row i is positive with weight w_i: realised with w = the labels,
    expected with w = calibrated probabilities."""
    s, w = np.asarray(scores, dtype=float), np.asarray(positive_weight, dtype=float)
    decision = s >= threshold
    return (float(w[decision].sum()), float((1 - w[decision]).sum()), float(w[~decision].sum()),
            float((1 - w[~decision]).sum()))


def confusion_metrics(scores: np.ndarray, positive_weight: np.ndarray, threshold: float) -> dict[str, float]:
    """Return accuracy, precision, recall, F1 at `threshold` and ROC AUC when row i is positive with weight w_i.

    With w = the labels this is the realised performance; with w = calibrated probabilities, the expected one.
    """
    s, w = np.asarray(scores, dtype=float), np.asarray(positive_weight, dtype=float)
    tp, fp, fn, tn = confusion_counts(s, w, threshold)
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else float("nan")
    return {"accuracy": float((tp + tn) / len(s)), "precision": float(precision), "recall": float(recall),
            "f1": float(f1), "roc_auc": weighted_roc_auc(s, w)}


def weighted_roc_auc(scores: np.ndarray, positive_weight: np.ndarray) -> float:
    """Return ROC AUC where row i counts w_i as a positive and 1 - w_i as a negative (ties count half)."""
    order = np.argsort(scores, kind="mergesort")
    s, positives = scores[order], positive_weight[order]
    negatives = 1 - positives
    if positives.sum() == 0 or negatives.sum() == 0:
        return float("nan")
    _, starts = np.unique(s, return_index=True)
    negatives_below = np.concatenate([[0.0], np.cumsum(negatives)])[starts]  # negative weight scored strictly lower
    tied_positive, tied_negative = np.add.reduceat(positives, starts), np.add.reduceat(negatives, starts)
    pairs = (tied_positive * negatives_below).sum() + 0.5 * (tied_positive * tied_negative).sum()
    return float(pairs / (positives.sum() * negatives.sum()))


def expected_metrics(probabilities: np.ndarray, threshold: float) -> dict[str, float]:
    """Return the metrics expected from calibrated probabilities (CBPE)."""
    return confusion_metrics(probabilities, probabilities, threshold)


def realised_metrics(labels: np.ndarray, probabilities: np.ndarray, threshold: float) -> dict[str, float]:
    """Return the metrics the known 0/1 labels give, to set beside the estimate."""
    return confusion_metrics(probabilities, labels, threshold)


def sampling_band(probabilities: np.ndarray, threshold: float, draws: int, seed: int) -> dict[str, tuple[float, float]]:
    """Return, per metric, the 2.5-97.5% range of what labels drawn from the probabilities realise."""
    p = np.asarray(probabilities, dtype=float)
    rng = np.random.default_rng(seed)
    samples = [realised_metrics((rng.random(len(p)) < p).astype(float), p, threshold) for _ in range(draws)]
    return {m: (float(np.nanquantile([s[m] for s in samples], 0.025)), float(np.nanquantile([s[m] for s in samples], 0.975)))
            for m in ESTIMATED}


def adjust_to_prior(probabilities: np.ndarray, training_prior: float, iterations: int = 100,
                    tolerance: float = 1e-6) -> tuple[np.ndarray, float]:
    """Return probabilities adjusted to the batch's own class prior, and that prior (Saerens et al., 2002, EM)."""
    p = np.clip(np.asarray(probabilities, dtype=float), 1e-9, 1 - 1e-9)
    prior = training_prior
    adjusted = p
    for _ in range(iterations):
        up, down = prior / training_prior, (1 - prior) / (1 - training_prior)
        adjusted = up * p / (up * p + down * (1 - p))
        new_prior = float(adjusted.mean())
        if abs(new_prior - prior) < tolerance:
            prior = new_prior
            break
        prior = new_prior
    return adjusted, prior
