"""A generated sentiment corpus that runs the IMDB code path (tokenizer, vocabulary, lengths) offline.

Each review mixes neutral filler sentences with one or three sentiment clauses placed anywhere among them.
A clause's polarity is its adjective's, flipped by a negation ("was not", "wasn't", "would never call");
the label is the majority polarity. Bag-of-words cannot solve it (a negator may belong to any clause; a
logistic regression on word counts scores 59% test accuracy), so the model has to read word order and carry
clause polarities across the fillers. Raw text includes
capitals, punctuation, `<br /><br />` breaks and non-ASCII words, as IMDB does. Reviews are 17 to 107
tokens long (median 54); 10,000 training reviews (1,000 become validation) and 2,000 test reviews from a fixed seed.
"""
from __future__ import annotations

import random
from string import Formatter

from bench.data.base import DataBundle
from bench.data.text import text_bundle

N_TRAIN, N_TEST = 10_000, 2_000
SEED = 8_111  # fixed: the data must not depend on the trial seed
DEFAULT_MAX_LEN = 128  # longer than any generated review; cfg.seq_len truncates

POSITIVE = ("good", "great", "wonderful", "brilliant", "superb", "delightful", "moving", "charming")
NEGATIVE = ("bad", "awful", "boring", "dreadful", "terrible", "dull", "clumsy", "painful")
NOUNS = ("plot", "acting", "script", "soundtrack", "ending", "cast", "direction", "pacing", "dialogue", "photography")
PLAIN = ("The {noun} was {adj}.", "Honestly, the {noun} felt really {adj}!", "I found the {noun} {adj}.",
         "What a {adj} {noun}.")
NEGATED = ("The {noun} was not {adj}.", "The {noun} wasn't {adj} at all.", "I would never call the {noun} {adj}.",
           "Nobody could say that the {noun} was {adj}.")
FILLERS = ("I watched it on a {day} with my {who}.", "It runs about {n} minutes.", "The story is set in {place}.",
           "We bought {snack} before the show.", "My {who} had read the book first.",
           "The première took place in {place}.", "It came out in {year}, as far as I remember.")
SLOTS = {"day": ("Monday", "Friday", "Sunday", "rainy evening"), "who": ("sister", "father", "friends", "neighbour"),
         "n": ("90", "105", "120", "140"), "place": ("Zürich", "São Paulo", "Kraków", "Lyon", "Osaka"),
         "snack": ("popcorn", "crêpes", "nachos", "tea"), "year": ("1987", "1999", "2004", "2016")}
_FIELDS = {t: [name for _, name, _, _ in Formatter().parse(t) if name] for t in FILLERS}  # slots each filler uses


def _clause(rng: random.Random) -> tuple[str, int]:
    positive, negated = rng.random() < 0.5, rng.random() < 0.4
    template = rng.choice(NEGATED if negated else PLAIN)
    text = template.format(noun=rng.choice(NOUNS), adj=rng.choice(POSITIVE if positive else NEGATIVE))
    return text, (1 if positive else -1) * (-1 if negated else 1)


def _filler(rng: random.Random) -> str:
    template = rng.choice(FILLERS)
    return template.format(**{k: rng.choice(SLOTS[k]) for k in _FIELDS[template]})


def review(rng: random.Random) -> tuple[str, int]:
    """One review and its label (1 = the majority of its clauses is positive)."""
    clauses = [_clause(rng) for _ in range(rng.choice((1, 3)))]
    sentences = [_filler(rng) for _ in range(rng.randint(2, 8))]
    for text, _ in clauses:
        sentences.insert(rng.randint(0, len(sentences)), text)
    text = sentences[0] + "".join((" <br /><br /> " if rng.random() < 0.2 else " ") + s for s in sentences[1:])
    return text, int(sum(p for _, p in clauses) > 0)


def load(max_len: int = 0) -> DataBundle:
    """Binary bundle in the IMDB format: (N, T) int64 ids padded with 0, true lengths, y float 0/1."""
    rng = random.Random(SEED)  # Python's generator: fast per-call choices, stable across versions
    texts, labels = zip(*(review(rng) for _ in range(N_TRAIN + N_TEST)), strict=True)
    return text_bundle(texts[:N_TRAIN], labels[:N_TRAIN], texts[N_TRAIN:], labels[N_TRAIN:],
                       max_len or DEFAULT_MAX_LEN, min_freq=1)
