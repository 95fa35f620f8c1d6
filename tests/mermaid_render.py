"""Real Mermaid for the suite, and a reader for what it draws.

tests/mermaid/render.mjs keeps one headless Chromium with Mermaid loaded and
renders each diagram sent to it, as GitHub does in a pull request; the
Makefile installs it (``make mermaid``). :class:`MermaidRenderer` talks to it:

    with MermaidRenderer() as mermaid:
        drawing = mermaid.render("flowchart LR\\n  n0 --> n1\\n")
        drawing.nodes["n0"].lines   # ['n0']

A :class:`Drawing` is what came out, read back from the SVG: every node
(its label lines, centre, tooltip), every cluster (label and outline) and
every edge (tail, head, thick or dotted), with absolute coordinates.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import re
import shutil
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

MERMAID_DIR = Path(__file__).resolve().parent / "mermaid"
SCRIPT = MERMAID_DIR / "render.mjs"
INSTALLED = MERMAID_DIR / "node_modules" / "@mermaid-js" / "mermaid-cli" / "package.json"
SVG = "{http://www.w3.org/2000/svg}"
XHTML = "{http://www.w3.org/1999/xhtml}"
#: What Mermaid draws instead of a diagram it refuses (it renders these, and may even exit 0).
ERROR_TEXTS = ("Maximum text size in diagram exceeded", "Syntax error in text")
START_TIMEOUT = 120.0
RENDER_TIMEOUT = 90.0


def chromium_path() -> str:
    config = json.loads((MERMAID_DIR / "puppeteer.json").read_text())
    return os.environ.get("PUPPETEER_EXECUTABLE_PATH") or config["executablePath"]


def missing() -> str | None:
    """Why the real renderer cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not INSTALLED.exists():
        return f"@mermaid-js/mermaid-cli is not installed in {MERMAID_DIR}"
    if not os.access(chromium_path(), os.X_OK):
        return f"no Chromium at {chromium_path()}"
    return None


# -- reading the SVG -------------------------------------------------------


@dataclass
class Node:
    id: str
    lines: list[str]
    x: float  # centre, absolute
    y: float
    width: float
    height: float
    classes: set[str]
    tooltip: str | None = None
    styles: str = ""  # the style attribute of its outline (classDef colours end up there)
    label_style: str = ""  # ... and of its label (text colour)


@dataclass
class Cluster:
    id: str
    label: str
    x: float  # top-left corner, absolute
    y: float
    width: float
    height: float

    def holds(self, node: Node) -> bool:
        return (self.x <= node.x - node.width / 2 and node.x + node.width / 2 <= self.x + self.width
                and self.y <= node.y - node.height / 2 and node.y + node.height / 2 <= self.y + self.height)


@dataclass
class Edge:
    tail: str
    head: str
    classes: set[str]
    points: list[tuple[float, float]]  # absolute
    style: str = ""  # linkStyle ends up there
    label: str = ""

    @property
    def thick(self) -> bool:
        return "edge-thickness-thick" in self.classes

    @property
    def dotted(self) -> bool:
        return "edge-pattern-dotted" in self.classes

    @property
    def invisible(self) -> bool:
        return "edge-thickness-invisible" in self.classes


@dataclass
class Drawing:
    """What Mermaid drew (``error`` set when it refused the text)."""

    text: str
    svg: str = ""
    error: str | None = None
    nodes: dict[str, Node] = field(default_factory=dict)
    clusters: dict[str, Cluster] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    all_text: str = ""

    def check(self) -> Drawing:
        """Mermaid parsed the text and drew it, not one of its error boxes."""
        assert self.error is None, f"Mermaid refused the diagram: {self.error}\n{_excerpt(self.text)}"
        for message in ERROR_TEXTS:
            assert message not in self.all_text, f"Mermaid drew {message!r}\n{_excerpt(self.text)}"
        assert self.nodes, "Mermaid drew no nodes"
        return self

    def around(self, node_id: str) -> list[str]:
        """Labels of the clusters whose outline holds the node, outermost first."""
        node = self.nodes[node_id]
        holding = [c for c in self.clusters.values() if c.holds(node)]
        return [c.label for c in sorted(holding, key=lambda c: -c.width * c.height)]


def _excerpt(text: str, limit: int = 1500) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n... ({len(text)} characters)"


def _translate(element) -> tuple[float, float]:
    match = re.search(r"translate\(\s*(-?[\d.e+-]+)[ ,]+(-?[\d.e+-]+)\s*\)", element.get("transform") or "")
    return (float(match.group(1)), float(match.group(2))) if match else (0.0, 0.0)


def _text_lines(element) -> list[str]:
    """The text of a label, one entry per line (``<br>`` ends a line)."""
    lines = [""]

    def walk(item):
        if item.tag == f"{XHTML}br":
            lines.append("")
        else:
            lines[-1] += item.text or ""
            for child in item:
                walk(child)
        lines[-1] += item.tail or "" if item is not element else ""

    walk(element)
    return lines


def _element_id(raw: str, prefix: str) -> str:
    return raw[len(prefix):] if raw.startswith(prefix) else raw


def read_svg(text: str, svg: str, svg_id: str = "planner-diagram") -> Drawing:
    drawing = Drawing(text, svg)
    root = ET.fromstring(svg)
    drawing.all_text = " ".join("".join(e.itertext()) for e in root)

    def walk(element, dx: float, dy: float):
        ox, oy = _translate(element)
        dx, dy = dx + ox, dy + oy
        classes = set((element.get("class") or "").split())
        if element.tag == f"{SVG}g" and "node" in classes:
            raw = _element_id(element.get("id", ""), f"{svg_id}-flowchart-")
            node_id = raw.rsplit("-", 1)[0]
            shape = next((e for e in element if e.tag in (f"{SVG}rect", f"{SVG}path", f"{SVG}polygon")), None)
            width, height = _size(element)
            label = element.find(f".//{XHTML}span")
            lines = _text_lines(label) if label is not None else []
            label_group = element.find(f"{SVG}g")
            drawing.nodes[node_id] = Node(node_id, lines, dx, dy, width, height, classes, element.get("title"),
                                          (shape.get("style") or "") if shape is not None else "",
                                          (label_group.get("style") or "") if label_group is not None else "")
            return
        if element.tag == f"{SVG}g" and "cluster" in classes:
            rect = element.find(f"{SVG}rect")
            label = element.find(f".//{XHTML}span")
            cluster_id = _element_id(element.get("id", ""), f"{svg_id}-")
            drawing.clusters[cluster_id] = Cluster(
                cluster_id, "".join(label.itertext()) if label is not None else "",
                dx + float(rect.get("x")), dy + float(rect.get("y")), float(rect.get("width")), float(rect.get("height")))
        if element.tag == f"{SVG}path" and element.get("data-edge") == "true":
            match = re.fullmatch(r"L_(.+)_(.+)_(\d+)", element.get("data-id", ""))
            points = json.loads(base64.b64decode(element.get("data-points") or "W10="))
            drawing.edges.append(Edge(match.group(1), match.group(2), classes,
                                      [(dx + p["x"], dy + p["y"]) for p in points], element.get("style") or ""))
        for child in element:
            walk(child, dx, dy)

    walk(root, 0.0, 0.0)
    labels = {}
    for element in root.iter(f"{SVG}g"):
        if (element.get("class") or "").split()[:1] == ["label"] and element.get("data-id"):
            labels[element.get("data-id")] = "".join(element.itertext())
    for edge, element in zip(drawing.edges, (e for e in root.iter(f"{SVG}path") if e.get("data-edge") == "true"),
                             strict=True):
        edge.label = labels.get(element.get("data-id"), "")
    return drawing


def _size(node) -> tuple[float, float]:
    """A node's width and height: its outline's (rect, or a path's extent)."""
    for shape in node:
        if shape.tag == f"{SVG}rect" and shape.get("width"):
            return float(shape.get("width")), float(shape.get("height"))
        if shape.tag in (f"{SVG}path", f"{SVG}polygon", f"{SVG}g"):
            numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", shape.get("d") or shape.get("points") or "")]
            if len(numbers) >= 4:
                xs, ys = numbers[0::2], numbers[1::2]
                return max(xs) - min(xs), max(ys) - min(ys)
    return 0.0, 0.0


# -- the renderer process --------------------------------------------------


class MermaidRenderer:
    """One ``node render.mjs --serve`` process (one Chromium) for many diagrams."""

    def __init__(self):
        self.process = subprocess.Popen(
            ["node", str(SCRIPT), "--serve"], cwd=MERMAID_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, encoding="utf-8", bufsize=1)
        self.answers: queue.Queue = queue.Queue()
        self.errors: list[str] = []
        threading.Thread(target=self._read, args=(self.process.stdout, self.answers.put), daemon=True).start()
        threading.Thread(target=self._read, args=(self.process.stderr, self.errors.append), daemon=True).start()
        self.ids = iter(range(10**9))
        self.count, self.seconds = 0, 0.0
        self.slowest: list[tuple[float, int]] = []  # (seconds, characters) of the slowest diagrams
        ready = self._answer(START_TIMEOUT, "start")
        self.version = ready["mermaid"]

    @staticmethod
    def _read(stream, put):
        for line in stream:
            put(line)
        put(None)

    def _answer(self, timeout: float, what) -> dict:
        try:
            line = self.answers.get(timeout=timeout)
        except queue.Empty:
            self.close()
            raise AssertionError(f"the Mermaid renderer gave no answer to {what} in {timeout:g} s") from None
        if line is None:
            raise AssertionError("the Mermaid renderer stopped: " + "".join(self.errors[-20:]))
        return json.loads(line)

    def _ask(self, text: str, parse_only: bool = False) -> dict:
        request = next(self.ids)
        started = time.perf_counter()
        self.process.stdin.write(json.dumps({"id": request, "text": text, "parseOnly": parse_only}) + "\n")
        self.process.stdin.flush()
        answer = self._answer(RENDER_TIMEOUT, f"diagram {request}")
        assert answer["id"] == request
        self.count += 1
        self.seconds += time.perf_counter() - started
        self.slowest = sorted([*self.slowest, (time.perf_counter() - started, len(text))], reverse=True)[:5]
        return answer

    def render(self, text: str) -> Drawing:
        """Draw ``text`` with Mermaid; check the result with ``.check()``."""
        answer = self._ask(text)
        if "error" in answer:
            return Drawing(text, error=answer["error"])
        return read_svg(text, answer["svg"])

    def parse(self, text: str) -> str | None:
        """Mermaid's parser alone (no layout, so no text-size check): its
        error, or None."""
        return self._ask(text, parse_only=True).get("error")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def __enter__(self) -> MermaidRenderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def mermaid_blocks(markdown: str) -> list[str]:
    """The ```` ```mermaid ```` blocks of a Markdown text, as GitHub finds them."""
    return re.findall(r"^```mermaid\n(.*?)^```$", markdown, re.M | re.S)
