"""examples/etl/graph.py as a pull request might change it, to try --diff on:

    planner plan examples/etl/graph_v2.py --diff examples/etl/graph.py
    planner render examples/etl/graph_v2.py --diff examples/etl/graph.py -o diff.svg

A day later; 'customers' renamed 'clients' and 'notify' renamed 'tell';
'products' dropped for 'returns'; load costs more."""

import networkx as nx
from tasks import extract, load, notify, transform

graph = nx.DiGraph()
graph.add_node("extract", task=extract.s("2026-11-25"))
for node, source in (("orders", "orders"), ("clients", "customers"), ("returns", "returns")):
    graph.add_node(node, task=transform.s(source), cost=2)
    graph.add_edge("extract", node)
    graph.add_edge(node, "load")
graph.add_node("load", task=load.s(), cost=3)
graph.add_node("tell", task=notify.s())
graph.add_edge("load", "tell")
