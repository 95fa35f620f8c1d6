"""The N shape: a → c, a → d, b → d. Not series-parallel: no nesting of
chain/group/chord expresses it without making c wait for b too."""

import networkx as nx
from tasks import fetch, index, join

graph = nx.DiGraph()
graph.add_node("a", task=fetch.s("users"))
graph.add_node("b", task=fetch.s("orders"))
graph.add_node("c", task=index.s())
graph.add_node("d", task=join.s())
graph.add_edge("a", "c")
graph.add_edge("a", "d")
graph.add_edge("b", "d")
