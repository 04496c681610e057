"""Measure the question-matching threshold of `interviewer grade`.

Hand-written paraphrases of bank questions must match their question; questions that are not
in the bank (off-domain, and machine-learning questions the bank does not ask) must not match
anything. Prints both similarity distributions and the errors at a range of thresholds.

    python bench/match_threshold.py
"""

from __future__ import annotations

import numpy as np

from interviewer.bank.loader import load_bank
from interviewer.embedding import get_embedder
from interviewer.matching import DEFAULT_THRESHOLD, SURE_THRESHOLD, QuestionMatcher

PARAPHRASES: list[tuple[str, str]] = [
    ("000-1", "What are artificial neural networks and how do they relate to deep learning?"),
    ("000-3", "Explain how backpropagation works."),
    ("000-3", "walk me through backprop step by step"),
    ("000-4", "What techniques stop a deep network from overfitting?"),
    ("000-5", "supervised vs unsupervised learning: what is the difference?"),
    ("000-6", "How would you choose a loss function for a neural network?"),
    ("000-8", "How do you deal with class imbalance when training deep models?"),
    ("000-9", "Why do we use batch norm in deep networks?"),
    ("000-11", "Generative versus discriminative models: explain the difference."),
    ("000-13", "What is the vanishing gradient problem and how can it be fixed?"),
    ("000-14", "How should missing values be handled before training a deep model?"),
    ("000-16", "How does early stopping work to avoid overfitting?"),
    ("000-17", "Explain dropout."),
    ("000-17", "what does dropout do in a neural net"),
    ("000-19", "How do CNNs differ from RNNs?"),
    ("000-20", "How would you fine-tune a pretrained network?"),
    ("000-22", "How do you make deep learning experiments reproducible?"),
    ("000-24", "How can data augmentation improve a model?"),
    ("000-25", "Explain what a GAN is."),
    ("001-1", "How is deep learning different from machine learning?"),
    ("001-6", "How do you initialise the weights of a neural network?"),
    ("001-10", "What is a perceptron?"),
    ("001-14", "Why are neural nets considered black boxes?"),
    ("001-21", "Explain gradient descent and its variants."),
    ("001-22", "What is the learning rate?"),
    ("001-24", "Compare Adam, RMSProp and Adagrad."),
    ("001-25", "How does momentum help gradient descent?"),
    ("001-27", "Why and how do we clip gradients?"),
    ("001-35", "What is a convolution kernel?"),
    ("001-36", "What does stride mean in a CNN?"),
    ("001-37", "Explain pooling layers and the kinds of pooling."),
    ("001-39", "Object detection vs image segmentation?"),
    ("001-41", "Explain backpropagation through time."),
    ("001-43", "How does an LSTM work?"),
    ("001-45", "Explain the GRU cell."),
    ("001-47", "What is a transformer?"),
    ("001-48", "Explain the attention mechanism."),
    ("001-50", "Why do transformers need positional encodings?"),
    ("001-54", "What's an autoencoder?"),
    ("001-56", "Explain variational autoencoders."),
    ("001-57", "What is a sequence-to-sequence model?"),
    ("001-60", "What is StyleGAN?"),
    ("001-62", "How does fine-tuning differ from transfer learning?"),
    ("002-1", "Define deep learning."),
    ("002-11", "Where is deep learning used in practice?"),
    ("003-10", "Name some unsupervised deep learning methods."),
]

NOT_IN_BANK: list[str] = [
    # off-domain
    "What is the capital of France?",
    "How do I bake sourdough bread?",
    "Explain the causes of the First World War.",
    "What is your greatest weakness?",
    "How does a car engine work?",
    "Write a haiku about autumn.",
    "What is a linked list and how do you reverse one?",
    "Explain the CAP theorem in distributed systems.",
    "How does TCP congestion control work?",
    "What is the time complexity of quicksort?",
    # machine learning, but not asked by the bank
    "What is k-means clustering?",
    "How does a random forest work?",
    "Explain the bias-variance tradeoff.",
    "How does a support vector machine find its margin?",
    "What is principal component analysis?",
    "Explain Q-learning in reinforcement learning.",
    "What is beam search decoding?",
    "How does knowledge distillation work?",
    "What is post-training quantization of a neural network?",
    "What is a diffusion model?",
    "How does BPE tokenization build its vocabulary?",
    "What is the ROC curve and AUC?",
    "Explain precision and recall.",
    "What is a decision tree's Gini impurity?",
    "What is mixed precision training?",
    "How does data parallel training across GPUs work?",
    "What is contrastive learning?",
    "How does a Kalman filter work?",
]


# Not in the bank, but next to a question it asks: no threshold keeps these out without losing
# paraphrases, so a match below SURE_THRESHOLD carries a notice on the row.
NEAR_MISSES: list[str] = [
    "What is underfitting?",
    "What is instance normalization?",
    "What is layer normalization?",
    "What is a residual connection?",
    "What is label smoothing?",
]


# The bank asks some questions twice (in different documents): either counts as right.
SAME = [{"000-13", "001-26"}, {"000-19", "002-10"}, {"000-25", "001-58", "002-14"},
        {"000-17", "001-30"}, {"000-3", "001-17"}]


def _right(qid: str, got: str | None) -> bool:
    return got == qid or any(qid in s and got in s for s in SAME)


def main() -> None:
    bank = load_bank()
    matcher = QuestionMatcher(bank.questions, get_embedder(), threshold=2.0)  # nothing matches
    para = matcher.match_many([(None, t) for _, t in PARAPHRASES])
    para_sim = np.array([m.similarity or 0.0 for m in para])
    right = np.array([_right(qid, m.best.id if m.best else None)
                      for (qid, _), m in zip(PARAPHRASES, para, strict=True)])
    other = matcher.match_many([(None, t) for t in NOT_IN_BANK])
    other_sim = np.array([m.similarity or 0.0 for m in other])
    print(f"bank: {len(bank.questions)} questions; paraphrases {len(PARAPHRASES)}, "
          f"not in bank {len(NOT_IN_BANK)}")
    print(f"paraphrases: nearest is the right question for {right.sum()}/{len(right)}; "
          f"similarity min {para_sim.min():.2f} median {np.median(para_sim):.2f}")
    print(f"not in bank: similarity max {other_sim.max():.2f} median {np.median(other_sim):.2f}")
    for (qid, t), m in zip(PARAPHRASES, para, strict=True):
        if not _right(qid, m.best.id if m.best else None) or (m.similarity or 0) < 0.7:
            print(f"  para {m.similarity:.2f} {qid}->{m.best.id if m.best else '-'}: {t}")
    for t, m in sorted(zip(NOT_IN_BANK, other, strict=True), key=lambda x: -(x[1].similarity or 0)):
        if (m.similarity or 0) >= 0.45:
            print(f"  other {m.similarity:.2f} -> {m.best.id if m.best else '-'}: {t}")
    near = matcher.match_many([(None, t) for t in NEAR_MISSES])
    for t, m in zip(NEAR_MISSES, near, strict=True):
        sim = m.similarity or 0.0
        said = ("unmatched" if sim < DEFAULT_THRESHOLD else
                "matched, with a notice" if sim < SURE_THRESHOLD else "matched SILENTLY")
        print(f"  near miss {sim:.2f} -> {m.best.id if m.best else '-'} ({said}): {t}")
    unsure = int(((para_sim >= DEFAULT_THRESHOLD) & (para_sim < SURE_THRESHOLD) & right).sum())
    print(f"right paraphrase matches that carry the 'check it' notice: {unsure}/{len(para_sim)}")
    print("threshold  paraphrases missed/wrong  not-in-bank matched")
    for th in np.arange(0.45, 0.81, 0.025):
        missed = int(((para_sim < th) | ~right).sum())
        false = int((other_sim >= th).sum())
        mark = "  <- default" if abs(th - DEFAULT_THRESHOLD) < 1e-6 else ""
        print(f"  {th:.3f}     {missed:3d}/{len(para_sim)}                  "
              f"{false:3d}/{len(other_sim)}{mark}")


if __name__ == "__main__":
    main()
