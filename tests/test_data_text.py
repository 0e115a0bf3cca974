"""The text pipeline (tokenizer, vocabulary, padding) and the IMDB loader on a tiny aclImdb in its real layouts."""
import shutil
import urllib.error

import pytest
import torch

from bench.config import ConfigError, TrialConfig
from bench.data import imdb, textsynth
from bench.data.base import DatasetMissing
from bench.data.text import PAD, UNK, Vocab, pad_sequences, text_bundle, tokenize
from bench.workloads import load_data
from tests.conftest import IMDB_REVIEWS, tar_gz, write_imdb


def test_tokenizer_lowercases_strips_breaks_keeps_punctuation():
    assert tokenize("Great film!<br /><br />I didn't LIKE the ending...") == \
        ["great", "film", "!", "i", "didn't", "like", "the", "ending", ".", ".", "."]
    assert tokenize("Amélie<br/>au café") == ["amélie", "au", "café"]
    assert tokenize("") == []


def test_vocab_orders_by_frequency_and_applies_min_freq_and_max_size():
    docs = [["b", "a", "a"], ["c", "a", "b"], ["d"]]
    assert Vocab.build(docs).itos == ("<pad>", "<unk>", "a", "b", "c", "d")  # ties alphabetical
    assert Vocab.build(docs, min_freq=2).itos == ("<pad>", "<unk>", "a", "b")
    assert Vocab.build(docs, max_size=1).itos == ("<pad>", "<unk>", "a")


def test_encode_pads_with_zero_truncates_and_maps_unknown_words():
    vocab = Vocab.build([["a", "b", "c"]])
    x, lengths = vocab.encode([["a", "b", "zzz"], [], ["c", "a", "b", "c"]], max_len=3)
    assert x.dtype == torch.int64 and x.shape == (3, 3)
    assert lengths.tolist() == [3, 0, 3]
    assert x[0].tolist() == [vocab.stoi["a"], vocab.stoi["b"], UNK]
    assert x[1].tolist() == [PAD] * 3
    assert x[2].tolist() == [vocab.stoi[t] for t in ("a", "b", "c")]  # keep="end": the last 3 tokens
    start, _ = vocab.encode([["c", "a", "b", "c"]], max_len=3, keep="start")
    assert start[0].tolist() == [vocab.stoi[t] for t in ("c", "a", "b")]
    with pytest.raises(ConfigError, match="seq_len .* must be >= 1, got -3"):
        vocab.encode([["a"]], max_len=-3)


def test_pad_sequences_matches_a_plain_loop():
    ids = [[5, 6], [], [7, 8, 9], [1]]
    x, lengths = pad_sequences(ids)
    expected = torch.tensor([[5, 6, 0], [0, 0, 0], [7, 8, 9], [1, 0, 0]])
    assert torch.equal(x, expected) and lengths.tolist() == [2, 0, 3, 1]


def test_text_bundle_builds_vocab_on_training_rows_only():
    train = ["alpha beta", "alpha gamma", "beta beta", "delta"] * 5
    bundle = text_bundle(train, [1, 0, 1, 0] * 5, ["omega alpha"], [1], max_len=10)
    assert bundle.task == "binary" and bundle.num_classes == 1 and bundle.train.y.dtype == torch.float32
    assert len(bundle.train) == 18 and len(bundle.val) == 2
    assert bundle.test.x[0, 0] == UNK and bundle.test.x[0, 1] > UNK  # "omega" unseen in training, "alpha" known
    assert bundle.vocab_size == 2 + 4


def encoded_test_split(reviews):
    """Token counts of the test split in loader order: pos then neg, files sorted by name."""
    texts = [t for g in (("test", "pos"), ("test", "neg")) for _, t in sorted(reviews[g].items())]
    return [len(tokenize(t)) for t in texts]


def test_imdb_tree_loads_as_padded_ids_with_lengths(imdb_dir):
    data = imdb.load(imdb_dir, min_freq=1)
    assert data.task == "binary" and data.num_classes == 1 and data.vocab_size > 2
    assert len(data.train) + len(data.val) == 8 and len(data.test) == 4
    test = data.test
    assert test.x.dtype == torch.int64 and test.y.tolist() == [1.0, 1.0, 0.0, 0.0]
    assert test.lengths.tolist() == encoded_test_split(IMDB_REVIEWS)
    for row, n in zip(test.x, test.lengths, strict=True):
        assert (row[:n] >= UNK).all() and (row[n:] == PAD).all()
    all_lengths = torch.cat([data.train.lengths, data.val.lengths])
    assert (all_lengths == 0).sum() == 1  # the empty review is kept, with length 0
    assert UNK in test.x[0].tolist()  # "zyzzyva" occurs only in the test split
    assert sorted(torch.cat([data.train.y, data.val.y]).tolist()) == [0.0] * 4 + [1.0] * 4


def test_imdb_ignores_unsup_and_extra_files(imdb_dir):
    # unsup/ holds one more review: reading it would make 9 training reviews
    data = imdb.load(imdb_dir, min_freq=1)
    assert len(data.train) + len(data.val) == 8


def test_imdb_archive_gives_the_same_tensors_as_the_tree(imdb_dir, imdb_archive_dir):
    tree, archive = imdb.load(imdb_dir, min_freq=1), imdb.load(imdb_archive_dir, min_freq=1)
    for a, b in ((tree.train, archive.train), (tree.val, archive.val), (tree.test, archive.test)):
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and torch.equal(a.lengths, b.lengths)


def test_imdb_accepts_the_aclImdb_folder_itself(imdb_dir):
    assert len(imdb.load(imdb_dir / "aclImdb", min_freq=1).test) == 4


def test_imdb_max_len_truncates(imdb_dir):
    data = imdb.load(imdb_dir, max_len=3, min_freq=1)
    assert data.test.x.shape[1] == 3 and data.test.lengths.max() == 3


@pytest.mark.parametrize("keep", [0.25, 0.5, 0.9, -4])  # -4: only the gzip trailer's last bytes are lost
def test_imdb_truncated_archive_is_a_clear_error(tmp_path, bench_cache, keep):
    archive = tar_gz(write_imdb(tmp_path / "src"), tmp_path / "bad" / imdb.ARCHIVE)
    blob = archive.read_bytes()
    archive.write_bytes(blob[:keep] if keep < 0 else blob[: int(len(blob) * keep)])
    with pytest.raises(DatasetMissing, match="truncated or corrupt") as err:
        imdb.load(tmp_path / "bad")
    assert "\n" not in str(err.value) and "--data-dir" in str(err.value)
    assert not list(bench_cache.glob("imdb-*"))  # nothing cached from a partial read


def test_imdb_incomplete_tree_is_a_clear_error(imdb_dir):
    for f in (imdb_dir / "aclImdb" / "test" / "neg").iterdir():
        f.unlink()
    with pytest.raises(DatasetMissing, match="no reviews in test/neg"):
        imdb.load(imdb_dir)
    shutil.rmtree(imdb_dir / "aclImdb" / "train" / "pos")
    with pytest.raises(DatasetMissing, match="no reviews in train/pos, test/neg"):
        imdb.load(imdb_dir)


def test_imdb_missing_without_download_says_where_and_what_to_do(tmp_path, bench_cache):
    with pytest.raises(DatasetMissing) as err:
        imdb.load(tmp_path / "nothing", download=False)
    message = str(err.value)
    assert "\n" not in message and str((tmp_path / "nothing").resolve()) in message
    assert "--data-dir" in message and "text-synthetic-rnn" in message and "download disabled" in message


def test_imdb_failed_download_is_dataset_missing(tmp_path, bench_cache, monkeypatch):
    def offline(url, dest, timeout=60.0):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(imdb, "fetch", offline)
    with pytest.raises(DatasetMissing, match="download from .* failed: Name or service not known"):
        imdb.load(tmp_path / "nothing")


def test_imdb_downloads_when_missing(tmp_path, bench_cache, monkeypatch):
    source = tar_gz(write_imdb(tmp_path / "src"), tmp_path / "mirror" / imdb.ARCHIVE)
    calls = []
    monkeypatch.setattr(imdb, "fetch", lambda url, dest, timeout=60.0: (calls.append(url), dest.write_bytes(source.read_bytes())))
    data = imdb.load(tmp_path / "fresh", min_freq=1)
    assert calls == [imdb.URL] and len(data.test) == 4
    imdb.load(tmp_path / "fresh", min_freq=1)
    assert len(calls) == 1  # the archive is kept


def test_imdb_encoded_tensors_are_cached_per_options(imdb_dir, bench_cache, monkeypatch):
    first = imdb.load(imdb_dir, min_freq=1)
    monkeypatch.setattr(imdb, "read_tree", lambda tree: pytest.fail("re-read although cached"))
    again = imdb.load(imdb_dir, min_freq=1)
    assert torch.equal(first.train.x, again.train.x) and again.vocab_size == first.vocab_size
    with pytest.raises(pytest.fail.Exception):
        imdb.load(imdb_dir, min_freq=2)  # other options: a different cache entry
    assert len(list(bench_cache.glob("imdb-*.pt"))) == 1


def synthetic_label(text: str) -> int:
    """The corpus rule, recomputed from the words: majority polarity of the clauses, each flipped by a negation."""
    total, sentence = 0, []
    for token in tokenize(text) + ["."]:
        if token not in (".", "!"):
            sentence.append(token)
            continue
        polarity = sum((w in textsynth.POSITIVE) - (w in textsynth.NEGATIVE) for w in sentence)
        negated = any(w in ("not", "wasn't", "never", "nobody") for w in sentence)
        total += -polarity if negated else polarity
        sentence = []
    return int(total > 0)


def test_text_synthetic_labels_follow_negation_and_majority():
    rng = textsynth.random.Random(0)
    reviews = [textsynth.review(rng) for _ in range(500)]
    assert all(label == synthetic_label(text) for text, label in reviews)
    assert sum(label != synthetic_label(text.replace(" not ", " ")) for text, label in reviews) > 20  # negation matters


def test_text_synthetic_bundle_shapes():
    data = load_data(TrialConfig(workload="text-synthetic-rnn"))  # shares the per-process cache with other tests
    assert data.task == "binary" and len(data.train) == 9_000 and len(data.val) == 1_000 and len(data.test) == 2_000
    assert 0.45 < float(data.train.y.mean()) < 0.55
    assert int(data.train.lengths.max()) <= textsynth.DEFAULT_MAX_LEN and int(data.train.lengths.min()) > 5


def test_text_synthetic_reviews_ignore_the_trial_seed():
    torch.manual_seed(1)
    first = [textsynth.review(textsynth.random.Random(textsynth.SEED)) for _ in range(3)]
    torch.manual_seed(2)
    assert first == [textsynth.review(textsynth.random.Random(textsynth.SEED)) for _ in range(3)]
