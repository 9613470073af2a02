"""The language model side: loading a model (and the embedded one), batched generation, and the
prompts every stage shows it.
"""
