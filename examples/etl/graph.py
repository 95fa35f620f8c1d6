"""extract → (orders, customers, products) → load → notify.

A fan-out to independent transforms (a group) and a fan-in that aggregates
them (a chord): load receives the list of the three results."""

import networkx as nx
from tasks import extract, load, notify, transform

graph = nx.DiGraph()
graph.add_node("extract", task=extract.s("2026-11-24"))
for source in ("orders", "customers", "products"):
    graph.add_node(source, task=transform.s(source), cost=2)
    graph.add_edge("extract", source)
graph.add_node("load", task=load.s())
graph.add_node("notify", task=notify.s())
for source in ("orders", "customers", "products"):
    graph.add_edge(source, "load")
graph.add_edge("load", "notify")
