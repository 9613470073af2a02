"""Scoring: how an answer is judged against the gold.

The metric first: `verdict` compares one answer with the gold (executing the answer once);
evaluation's metrics, the held-out check, the execution reward, the near-miss verification and
the reward audit are all built on it.
"""
