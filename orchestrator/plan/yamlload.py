"""PyYAML's safe loader (libyaml's parser when available) with a faster resolver and
constructor for plain data: same YAML 1.1 results, same errors and marks, but for one thing:
a key given twice in a mapping is an error (PyYAML keeps the last value, silently dropping the
first), in both constructors.

* :meth:`PlanLoader.resolve` is :meth:`yaml.resolver.BaseResolver.resolve` with the resolver
  table looked up once per load instead of once per scalar, and memoized for the load (the
  same key or value recurs thousands of times in a large plan).
* :meth:`PlanLoader.construct_document` builds mappings, sequences and scalars of the standard
  tags in one walk. Anything else (other tags, merge keys ``<<``, ``=`` keys, a node reached
  twice through an alias, a YAML error) makes it start again with PyYAML's own constructor, so
  the result or the error is PyYAML's. A bug in the walker is not hidden: it propagates.
"""

from __future__ import annotations

import functools
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_BASE: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MAP, _SEQ, _STR = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:str"
_MERGE, _VALUE = "tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"
_SCALAR_TAGS = tuple(f"tag:yaml.org,2002:{t}" for t in ("null", "bool", "int", "float",
                                                       "binary", "timestamp"))
_STOCK = SafeConstructor.yaml_constructors


def duplicate_key(key: Any, node: Node) -> ConstructorError:
    return ConstructorError(None, None, f"duplicate key {key!r} (a key may appear once in a "
                            "mapping)", node.start_mark)


class _Unsupported(Exception):
    """The node tree needs PyYAML's general constructor."""


class PlanLoader(_BASE):
    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        table = self.yaml_implicit_resolvers
        wildcard = table.get(None, [])
        self._implicit = {first: (*resolvers, *wildcard) for first, resolvers in table.items()
                          if first is not None}
        self._wildcard = tuple(wildcard)
        if not self.yaml_path_resolvers:  # then a tag depends on the arguments alone
            self.resolve = functools.lru_cache(maxsize=None)(self.resolve)

    def dispose(self) -> None:
        self.__dict__.pop("resolve", None)  # the memo refers back to the loader
        super().dispose()

    def resolve(self, kind: type, value: str | None, implicit: tuple[bool, bool]) -> str:
        if kind is not ScalarNode or self.yaml_path_resolvers:
            return super().resolve(kind, value, implicit)
        if implicit[0]:  # a plain scalar: the first implicit resolver that matches
            for tag, regexp in self._implicit.get(value[:1], self._wildcard):
                if regexp.match(value):
                    return tag
        return self.DEFAULT_SCALAR_TAG

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict:
        """PyYAML's mapping, refusing a key given twice (merged ``<<`` keys may be overridden)."""
        seen: set[Any] = set()
        for key_node, _ in node.value if isinstance(node, MappingNode) else ():
            if type(key_node) is ScalarNode and key_node.tag not in (_MERGE, _VALUE):
                key = self.construct_object(key_node)
                if key in seen:
                    raise duplicate_key(key, key_node)
                seen.add(key)
        return super().construct_mapping(node, deep)

    def construct_document(self, node: Node) -> Any:
        try:
            return _Walk(self).build(node)
        except (_Unsupported, yaml.YAMLError):  # PyYAML's own constructor decides (and raises)
            return super().construct_document(node)


class _Walk:
    """One document's data, built depth first the way SafeConstructor builds it. A scalar
    reached twice through an alias is built twice (an equal, immutable value)."""

    def __init__(self, loader: PlanLoader) -> None:
        constructors = loader.yaml_constructors
        if any(constructors.get(t) is not _STOCK[t] for t in (_MAP, _SEQ, _STR, *_SCALAR_TAGS)):
            raise _Unsupported("custom constructors")
        self.loader = loader
        self.scalars = {t: constructors[t] for t in _SCALAR_TAGS}
        self.seen: set[int] = set()  # collections built so far

    def build(self, node: Node) -> Any:
        kind = type(node)
        if kind is ScalarNode:
            return self.scalar(node)
        if id(node) in self.seen:
            raise _Unsupported("alias")
        self.seen.add(id(node))
        if kind is MappingNode and node.tag == _MAP:
            return self.mapping(node)
        if kind is SequenceNode and node.tag == _SEQ:
            return [self.build(item) for item in node.value]
        raise _Unsupported(node.tag)

    def scalar(self, node: ScalarNode) -> Any:
        tag = node.tag
        if tag == _STR:
            return node.value
        if tag in self.scalars:
            return self.scalars[tag](self.loader, node)
        raise _Unsupported(tag)

    def mapping(self, node: MappingNode) -> dict:
        out, build, scalar = {}, self.build, self.scalar
        for key_node, value_node in node.value:
            if type(key_node) is not ScalarNode:
                raise _Unsupported("complex key")  # PyYAML reports it unhashable
            key = key_node.value if key_node.tag == _STR else scalar(key_node)
            if key in out:
                raise duplicate_key(key, key_node)
            out[key] = (value_node.value if value_node.tag == _STR
                        and type(value_node) is ScalarNode else build(value_node))
        return out
