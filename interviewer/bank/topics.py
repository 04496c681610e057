"""Topics from a small controlled vocabulary, derived from the question (and its answer).

The question's own words decide first; the reference only breaks ties, so an answer that
mentions CNNs in passing doesn't make a dropout question a CNN question. The curation file
can override any question's topics.
"""

from __future__ import annotations

import re

_RULES: dict[str, tuple[str, ...]] = {
    "cnn": (r"\bcnns?\b", r"convolution", r"\bpooling\b", r"\bkernel\b", r"\bstride\b",
            r"\bpadding\b", r"object detection", r"segmentation"),
    "rnn": (r"\brnns?\b", r"recurrent", r"\blstms?\b", r"\bgrus?\b", r"\bbptt\b",
            r"through time", r"\bbirnn\b", r"\bbilstm\b", r"sequential data"),
    "transformers": (r"transformer", r"attention", r"positional encoding", r"\btokens?\b",
                     r"embeddings?\b", r"encoder-decoder", r"seq2seq", r"\bbert\b"),
    "generative": (r"\bgans?\b", r"generative", r"autoencoder", r"\bvaes?\b", r"stylegan",
                   r"adversarial"),
    "regularisation": (r"overfitting", r"dropout", r"regulari[sz]", r"early stopping",
                       r"batch normali[sz]", r"\baugmentation\b"),
    "optimisation": (r"gradient descent", r"optimi[sz]er", r"\badam\b", r"rmsprop", r"adagrad",
                     r"learning rate", r"momentum", r"\bsgd\b", r"backpropagation",
                     r"vanishing", r"exploding", r"clipping"),
    "training": (r"loss functions?", r"cost function", r"\bepochs?\b", r"hyperparameter",
                 r"initiali[sz]", r"fine-tun", r"cross-entropy", r"\btrain(ing)?\b",
                 r"reproducib", r"learn from (the )?data"),
    "transfer": (r"transfer learning", r"fine-tun", r"pre-trained"),
    "data": (r"preprocess", r"imbalanced", r"missing data", r"augmentation", r"datasets?\b"),
    "evaluation": (r"evaluat", r"metrics?\b", r"accuracy", r"precision", r"validation set"),
    "fundamentals": (r"neural networks?", r"perceptron", r"activation", r"neurons?\b",
                     r"machine learning", r"deep learning", r"weights and biases",
                     r"supervised", r"black box", r"feedforward", r"layers?\b"),
}
_COMPILED = {t: [re.compile(p, re.I) for p in ps] for t, ps in _RULES.items()}
MAX_TOPICS = 3


def derive_topics(question: str, reference: str = "") -> list[str]:
    """Up to three topics: those the question names, else the reference's strongest."""
    scores: dict[str, float] = {}
    for topic, pats in _COMPILED.items():
        q_hits = sum(1 for p in pats if p.search(question))
        r_hits = sum(len(p.findall(reference)) for p in pats)
        score = 3.0 * q_hits + min(r_hits, 6) * 0.25
        if topic == "fundamentals":
            score *= 0.5  # everything here is about neural networks; only a fallback
        if score > 0:
            scores[topic] = score
    ranked = sorted(scores, key=lambda t: -scores[t])
    from_question = [t for t in ranked if any(p.search(question) for p in _COMPILED[t])]
    chosen = [t for t in from_question if t != "fundamentals"][:MAX_TOPICS]
    if not chosen:
        chosen = [t for t in ranked if t != "fundamentals" and scores[t] >= 1.0][:1]
    return chosen or ["fundamentals"]
