"""The one list of recurrent cells: name, engine id, gates (torch's row order) and the
per-step values each cell's replicas produce.

Everything else that names or numbers cells derives from `REGISTRY`: `counting.models`
(CELLS, GATES), the engine's and the verifier's cell ids, the GPU path's layout, the probes'
keys, the sympy conditions' gate letters. Adding a cell means adding a `Cell` here, its
step in a module of this package (see `counting.cells.lstm`), and a row of the conformance
test (tests/test_cell_conformance.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cell:
    """One cell's identity.

    name: the CLI / checkpoint name; id: the integer the numba kernels dispatch on;
    gates: gate names in torch's row order of weight_ih_l0 (G = len(gates) blocks of H
    rows); keys: the per-step values of the unrolled replicas, in the order they are
    written; counter: the state that should equal (a multiple of) the depth; torch: the
    torch.nn module class name (the ReLU cell is nn.RNN(nonlinearity='relu')).
    """

    name: str
    id: int
    gates: tuple[str, ...]
    keys: tuple[str, ...]
    counter: str
    torch: str

    @property
    def G(self) -> int:
        """Gate blocks of H rows in the (G*H, .) weights."""
        return len(self.gates)

    @property
    def gate_keys(self) -> tuple[str, ...]:
        """The gate activations among the replica's keys (the ReLU cell has none: its one
        row is the state itself)."""
        return tuple(k for k in self.keys if k in self.gates and k != "h")

    @property
    def has_c(self) -> bool:
        """True when the state carries a cell value c beside h (the LSTM)."""
        return "c" in self.keys


LSTM = Cell("lstm", 0, ("i", "f", "g", "o"), ("i", "f", "g", "o", "c", "h"), "c", "LSTM")
RELU = Cell("relu", 1, ("h",), ("pre", "h"), "h", "RNN")
GRU = Cell("gru", 2, ("r", "z", "n"), ("r", "z", "n", "h"), "h", "GRU")

REGISTRY: dict[str, Cell] = {c.name: c for c in (LSTM, RELU, GRU)}
CELLS: tuple[str, ...] = tuple(REGISTRY)  # ("lstm", "relu", "gru"): the CLI's order
CELL_IDS: dict[str, int] = {c.name: c.id for c in REGISTRY.values()}
GATES: dict[str, int] = {c.name: c.G for c in REGISTRY.values()}
BY_ID: tuple[Cell, ...] = tuple(sorted(REGISTRY.values(), key=lambda c: c.id))
GATES_BY_ID: tuple[int, ...] = tuple(c.G for c in BY_ID)  # (4, 1, 3)


def cell(name: str) -> Cell:
    """The registered cell called `name`; ValueError for any other name."""
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"cell must be one of {CELLS}, got {name!r}") from None


assert tuple(c.id for c in BY_ID) == tuple(range(len(BY_ID))), "cell ids are 0, 1, ..."
