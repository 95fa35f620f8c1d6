"""list_files → resize (once per file: map=True) → publish.

list_files returns a list whose length is known only when it runs; the map
node resize runs once per item, in parallel, each call getting one path as
its first argument; publish receives the list of the resize results, in item
order."""

import networkx as nx
from tasks import list_files, publish, resize


def graph(day: str = "2026-11-27", count: int = 5) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_node("list_files", task=list_files.si(day, count))
    g.add_node("resize", task=resize.s(width=200), map=True)   # resize(path, width=200) per path
    g.add_node("publish", task=publish.s())
    g.add_edge("list_files", "resize")
    g.add_edge("resize", "publish")
    return g
