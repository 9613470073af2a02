"""Datasets: reading a text-to-SQL source (file, hub, the embedded sample) into raw records.

Also holds, as package data, the embedded sample (`embedded_sample.jsonl`) and the demo's
settings (`demo.yaml`).
"""
