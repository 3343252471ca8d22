"""Strongly connected components of a directed graph, shared by the lint stage's loop checks
(`import_cycles.py` for the worker package, `rust_module_cycles.py` for each crate)."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping


def strongly_connected(graph: Mapping[Hashable, Iterable[Hashable]]) -> list[list]:
    """Every strongly connected component, singletons included (Tarjan's algorithm, iterative;
    successors in sorted order, so the result is deterministic)."""
    index, low, on_stack, stack, result = {}, {}, set(), [], []
    counter = 0
    nodes = set(graph) | {b for bs in graph.values() for b in bs}
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        item = stack.pop()
                        on_stack.discard(item)
                        component.append(item)
                        if item == node:
                            break
                    result.append(component)
    return result
