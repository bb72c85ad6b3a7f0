"""Batch runs: a prompt template over every row of a table, in batch mode (Message Batches) or now (guarded calls).

``template`` renders ``{{column}}`` prompts, ``files`` reads CSV/JSONL/Excel uploads, ``store`` keeps run state in
the ledger database (``batch_runs``, ``batch_items``), ``service.BatchRuns`` quotes, reserves, submits, polls and
resumes runs, ``queue`` hands now-mode rows to worker threads or to Dramatiq workers (``python -m core worker``).
"""
