"""A small DOM over Chromium's --dump-dom output (stdlib html.parser): find elements, read their text."""

from __future__ import annotations

from html.parser import HTMLParser

BLOCK = {"div", "p", "li", "ul", "ol", "dl", "dt", "dd", "tr", "td", "th", "h1", "h2", "h3", "h4", "pre", "section",
         "details", "summary", "table", "thead", "tbody", "header", "main", "title", "text", "br"}
VOID = {"meta", "br", "hr", "img", "input", "link", "wbr", "col", "area", "base", "source"}


class Node:
    def __init__(self, tag: str, attrs: dict[str, str | None], parent: "Node | None" = None):
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node | str] = []

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    def text(self) -> str:
        """The element's text as it reads: inline pieces joined as they are, block elements set apart."""
        parts = [c if isinstance(c, str) else (f" {c.text()} " if c.tag in BLOCK else c.text()) for c in self.children]
        return " ".join("".join(parts).split())

    def iter(self):
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.iter()

    def find_all(self, tag: str | None = None, cls: str | None = None, id: str | None = None) -> list["Node"]:
        return [
            n for n in self.iter()
            if (tag is None or n.tag == tag) and (cls is None or cls in n.classes) and (id is None or n.attrs.get("id") == id)
        ]

    def find(self, tag: str | None = None, cls: str | None = None, id: str | None = None) -> "Node":
        found = self.find_all(tag, cls, id)
        assert found, f"no <{tag or '*'}> with class={cls!r} id={id!r} in the rendered page"
        return found[0]


class _Builder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("#document", {})

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs), self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Node(tag, dict(attrs), self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def parse(html: str) -> Node:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root
