"""One ONNX file per model: tf2onnx's output made independent of the process that made it.

tf2onnx names what it adds from a counter that lives as long as the process (``unstack__98``
in one conversion, ``unstack__222`` in the next), TensorFlow numbers the layers it traces the
same way (``simple_rnn_cell_77``), and the order of the nodes and initializers it writes
follows Python sets and dicts keyed by those names. The computation is the same every time;
the bytes are not. ``canonicalize`` rewrites the names and the order from the computation
alone, so the same model gives the same file in any process:

- every node gets a structural key: its operator, domain, attributes and the keys of its
  inputs (an initializer's key is its content, a graph input's its position), so the key
  never depends on a name;
- nodes are written in topological order, ties broken by that key; initializers in the order
  of their first use;
- the graph's doc string, which names the traced function (``__inference_serve_510``), and
  the nodes' doc strings are cleared;
- every name that is not a graph input or output becomes ``<op>_<index>`` (nodes),
  ``t<index>`` (values) and ``w<index>`` (initializers).

A subgraph (a ``Loop`` body) is rewritten the same way, with the names it takes from the
outer graph mapped as the outer graph was.
"""

from __future__ import annotations

import hashlib
import heapq

__all__ = ["canonicalize"]


def canonicalize(proto):
    """Rewrite ``proto`` (an ``onnx.ModelProto``) in place, as above; return it."""
    _graph(proto.graph, outer={}, prefix="")
    _rename_dims(proto.graph)
    return proto


def _rename_dims(graph) -> None:
    """tf2onnx's unnamed dimensions (``unk__396``) become ``d0``, ``d1``, ... in the order met."""
    seen: dict[str, str] = {}
    for g in _graphs(graph):
        for value in [*g.input, *g.output, *g.value_info]:
            for dim in value.type.tensor_type.shape.dim:
                if dim.HasField("dim_param") and dim.dim_param.startswith("unk__"):
                    dim.dim_param = seen.setdefault(dim.dim_param, f"d{len(seen)}")


def _graphs(graph):
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            for g in ([attr.g] if attr.HasField("g") else list(attr.graphs)):
                yield from _graphs(g)


def _digest(*parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else str(part).encode())
        h.update(b"\0")
    return h.hexdigest()


def _attribute_key(attr, keys: dict) -> str:
    """An attribute's content; a subgraph by the keys of the outer values it reads."""
    if attr.HasField("g") or len(attr.graphs):
        graphs = [attr.g] if attr.HasField("g") else list(attr.graphs)
        parts = []
        for g in graphs:
            # The body's own names and order are rewritten later: only what it reads outside
            # and which operators it has, both without an order, key it here.
            parts.append(_digest(*sorted(keys.get(n, "") for n in _outer_names(g))))
            parts.append(_digest(*sorted(n.op_type for n in g.node)))
        return _digest(attr.name, *parts)
    stripped = type(attr)()
    stripped.CopyFrom(attr)
    return _digest(stripped.SerializeToString(deterministic=True))


def _outer_names(graph) -> set[str]:
    """Names a graph reads that it does not define itself."""
    defined = {v.name for v in graph.input} | {t.name for t in graph.initializer}
    used = set()
    for node in graph.node:
        defined.update(node.output)
    for node in graph.node:
        used.update(i for i in node.input if i)
        for attr in node.attribute:
            for g in ([attr.g] if attr.HasField("g") else list(attr.graphs)):
                used.update(_outer_names(g))
    used.update(v.name for v in graph.output)
    return used - defined


def _any_order(waiting: dict, users: dict) -> list[int]:
    """A topological order of the nodes (Kahn's), to walk them from the outputs back."""
    remaining = {i: len(needs) for i, needs in waiting.items()}
    order = [i for i, n in remaining.items() if n == 0]
    for i in order:
        for j in users.get(i, []):
            remaining[j] -= 1
            if remaining[j] == 0:
                order.append(j)
    return order


def _graph(graph, outer: dict, prefix: str) -> None:
    """Canonicalize one graph; ``outer`` maps names of enclosing graphs to their new names."""
    keys: dict[str, str] = {}  # value name -> structural key
    for position, value in enumerate(graph.input):
        keys[value.name] = _digest("input", prefix, position)
    for tensor in graph.initializer:
        nameless = type(tensor)()
        nameless.CopyFrom(tensor)
        nameless.name = ""
        keys[tensor.name] = _digest("initializer", nameless.SerializeToString(deterministic=True))
    for name in outer:
        keys.setdefault(name, _digest("outer", outer[name]))

    producers = {out: i for i, node in enumerate(graph.node) for out in node.output if out}
    waiting = {i: {producers[n] for n in node.input if n in producers}
               for i, node in enumerate(graph.node)}
    users: dict[int, list[int]] = {}
    for i, needs in waiting.items():
        for j in needs:
            users.setdefault(j, []).append(i)
    node_keys: dict[int, str] = {}

    def key_of(i: int) -> str:
        node = graph.node[i]
        return _digest(node.op_type, node.domain,
                       *[keys.get(n, "") for n in node.input],
                       *[_attribute_key(a, keys) for a in node.attribute])

    # Two nodes with one key compute the same thing; the first graph output each leads to
    # tells them apart (a Loop body passes equal values to several outputs).
    feeds = {v.name: position for position, v in enumerate(graph.output)}
    tie = {i: min([feeds.get(o, len(feeds)) for o in node.output] or [len(feeds)])
           for i, node in enumerate(graph.node)}
    for i in reversed(_any_order(waiting, users)):
        tie[i] = min([tie[i], *(tie[j] for j in users.get(i, []))])
    ready = []
    for i, needs in waiting.items():
        if not needs:
            node_keys[i] = key_of(i)
            heapq.heappush(ready, (node_keys[i], tie[i], i))
    order = []
    remaining = {i: set(needs) for i, needs in waiting.items()}
    while ready:
        key, _, i = heapq.heappop(ready)
        order.append(i)
        for slot, out in enumerate(graph.node[i].output):
            if out:
                keys[out] = _digest(key, slot)
        for j in users.get(i, []):
            remaining[j].discard(i)
            if not remaining[j]:
                node_keys[j] = key_of(j)
                heapq.heappush(ready, (node_keys[j], tie[j], j))
    if len(order) != len(graph.node):
        return  # not a DAG: leave it as the converter wrote it

    kept = {v.name for v in graph.input} | {v.name for v in graph.output} if not prefix else set()
    names = dict(outer)
    first_use = []
    initializers = {t.name for t in graph.initializer}
    for i in order:
        for n in graph.node[i].input:
            if n in initializers and n not in first_use:
                first_use.append(n)
    first_use += sorted((n for n in initializers if n not in first_use), key=keys.__getitem__)
    for index, name in enumerate(first_use):
        names[name] = name if name in kept else f"{prefix}w{index}"
    for value in graph.input:
        names[value.name] = value.name if value.name in kept else f"{prefix}in{len(names)}"
    counter = 0
    for i in order:
        for out in graph.node[i].output:
            if out and out not in names:
                names[out] = out if out in kept else f"{prefix}t{counter}"
                counter += 1

    nodes = [graph.node[i] for i in order]
    rank = {name: index for index, name in enumerate(first_use)}
    tensors = sorted(graph.initializer, key=lambda t: rank[t.name])
    copies = []
    for position, node in enumerate(nodes):
        copy = type(node)()
        copy.CopyFrom(node)
        copy.name = f"{prefix}{node.op_type}_{position}"
        copy.input[:] = [names.get(n, n) if n else n for n in node.input]
        copy.output[:] = [names.get(n, n) if n else n for n in node.output]
        for attr in copy.attribute:
            for g in ([attr.g] if attr.HasField("g") else list(attr.graphs)):
                _graph(g, outer=names, prefix=f"{prefix}{position}_")
        copies.append(copy)
    for tensor in tensors:
        tensor.name = names[tensor.name]
    for value in [*graph.input, *graph.output, *graph.value_info]:
        value.name = names.get(value.name, value.name)
    for copy in copies:
        copy.doc_string = ""
        if not copy.domain:
            copy.ClearField("domain")  # unset and "" mean the same; write one of them
    graph.doc_string = ""
    if prefix:
        graph.name = f"{prefix}body"  # tf2onnx numbers it (``..._while_body_frozen_4191``)
    del graph.node[:]
    graph.node.extend(copies)
    copied = [type(t)() for t in tensors]
    for c, t in zip(copied, tensors):
        c.CopyFrom(t)
    del graph.initializer[:]
    graph.initializer.extend(copied)
    infos = [type(v)() for v in graph.value_info]
    for c, v in zip(infos, graph.value_info):
        c.CopyFrom(v)
    del graph.value_info[:]
    graph.value_info.extend(sorted(infos, key=lambda v: v.name))
