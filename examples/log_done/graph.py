"""add → log_done: ordering without data. log_done.si("completed") must run
after add but takes nothing from it (with .s() it would get add's result as
an unexpected first argument)."""

import networkx as nx
from tasks import add, log_done

graph = nx.DiGraph()
graph.add_node("add", task=add.s(2, 3))
graph.add_node("log", task=log_done.si("completed"))
graph.add_edge("add", "log")
