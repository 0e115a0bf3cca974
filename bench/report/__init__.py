"""Reports from the tidy result tables: statistics (stats), summary tables (tables), figures (figures), the
HTML/Markdown report (render) and the FAQ page (faq). Nothing here trains, imports Ray or knows which
workloads exist; `bench report` and `bench faq` call into it."""
