"""`bench faq`: the experiments that answer the seed tutorial's FAQ, described as data, and their verdict page.

questions.py holds the questions, their experiments (cells of bench.search.experiment, which the engine runs:
the protocol's searcher, LR grid and confirm step, on the runner the command chose), the claims, decision
rules and figures; evidence.py turns result tables into judgements; main.py ties them together (or, with
--from-runs, judges tables an earlier run wrote). The page itself is rendered by bench.report.faq from results
alone. This package never trains and imports neither bench.train nor bench.workloads.
"""
