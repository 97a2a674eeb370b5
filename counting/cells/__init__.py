"""The recurrent cells, each defined once: identity (`registry`), flat parameter layout
(`layout`), and the step with its derivative, generic in the arithmetic (`lstm`, `gru`,
`relu`). This package is the bottom layer: it imports nothing from the rest of `counting`.
"""

from counting.cells.registry import BY_ID, CELL_IDS, CELLS, GATES, GATES_BY_ID, REGISTRY, Cell, cell

__all__ = ["BY_ID", "CELL_IDS", "CELLS", "GATES", "GATES_BY_ID", "REGISTRY", "Cell", "cell"]
