"""Checks that a report's HTML is well-formed: balanced tags (html.parser) and, stricter, that
it parses as XML (defusedxml) once the doctype is dropped."""

from __future__ import annotations

from html.parser import HTMLParser

from defusedxml import ElementTree

VOID = {"meta", "br", "input", "hr", "img", "link"}


class Balance(HTMLParser):
    """Records every problem: a close tag that does not match the open one, or tags left open."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        return None

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def check_html(text: str) -> str:
    """The document's text content; AssertionError if it is not well-formed."""
    parser = Balance()
    parser.feed(text)
    parser.close()
    assert not parser.problems, parser.problems[:5]
    assert not parser.stack, f"left open: {parser.stack}"
    ElementTree.fromstring(text.replace("<!DOCTYPE html>", "", 1))
    assert "<script" not in text.lower(), "reports carry no JavaScript"
    return "".join(parser.text)
