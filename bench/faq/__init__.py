"""`bench faq`: run (or reuse) the experiments that answer the seed tutorial's FAQ and write its verdict page.

runner.py trains (a fair LR grid per level, then fresh seeds) and is all a worker process imports;
questions.py holds the questions, claims, decision rules and figures; evidence.py turns result tables into
judgements; main.py ties them together. The page itself is rendered by bench.report.faq from results alone.
This package may train; bench.report never does.
"""
