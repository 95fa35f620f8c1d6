"""add → multiply → log: the seed's chain. multiply.s(10) receives add's
result as its first argument; log_done.si() runs after and takes nothing."""

import networkx as nx
from tasks import add, log_done, multiply

graph = nx.DiGraph()
graph.add_node("add", task=add.s(2, 3))
graph.add_node("multiply", task=multiply.s(10))
graph.add_node("log", task=log_done.si("completed"))
graph.add_edge("add", "multiply")
graph.add_edge("multiply", "log")
