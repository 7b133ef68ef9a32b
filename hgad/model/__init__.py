"""The model: a conditional flow and a hierarchical prior per level, its file format, the
authors' checkpoints."""
