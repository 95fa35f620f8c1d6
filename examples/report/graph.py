"""create_report → email_report, passing the report's id, not the report."""

import networkx as nx
from tasks import create_report, email_report

graph = nx.DiGraph()
graph.add_node("create_report", task=create_report.s("weekly sales"))
graph.add_node("email_report", task=email_report.s("team@example.com"))
graph.add_edge("create_report", "email_report")
