"""The pipeline's stages, one module each (prepare, sft, contrastive, train, eval, compare, ask,
audit, demo), over the layers below; `config` is the one YAML config they share and `training`
the plumbing the three trainer stages share.
"""
