"""Prints N problems of DeepMind's `mathematics_dataset` (train split, all modules in turn) as
JSON lines, deterministically. Run by `build_corpus.py` in an environment with the generator's
pinned dependencies (sympy 1.4, numpy 1.26)."""

import json
import random
import sys

import numpy as np

# The generator predates numpy's removal of these aliases.
np.object = object
np.bool = bool
np.int = int

from mathematics_dataset import generate  # noqa: E402
from mathematics_dataset.modules import modules  # noqa: E402
from mathematics_dataset.util import composition  # noqa: E402


def entity_key(entity):
    """A stable sort key: the entity's handle (a symbol, or the functions it names)."""
    handle = entity._handle
    if isinstance(handle, composition.FunctionHandle):
        return " ".join(str(f) for f in handle.functions)
    return str(handle)


def expand_entities(context, **kwargs):
    """`composition.expand_entities`, but sorting the entities before the shuffle: the original
    iterates a set ordered by `id()`, which differs from run to run."""
    kwargs = kwargs.copy()
    entities = set(context.child_entities)
    for key, value in kwargs.items():
        if isinstance(value, composition.Entity):
            entities.add(value)
            kwargs[key] = value.handle
    entities = sorted(entities, key=entity_key)
    random.shuffle(entities)
    parts = []
    for entity in entities:
        parts.append(entity.child_description)
        if not entity.expression_used:
            parts.append(entity.description)
    return " ".join(s for s in parts if s), kwargs


composition.expand_entities = expand_entities


def flatten(tree, prefix=""):
    for key in sorted(tree):
        value = tree[key]
        name = f"{prefix}__{key}" if prefix else key
        if isinstance(value, dict):
            yield from flatten(value, name)
        else:
            yield name, value


def main():
    count = int(sys.argv[1])
    generators = list(flatten(modules.train(generate._make_entropy_fn(0, 1))))
    for index in range(count):
        name, module = generators[index % len(generators)]
        seed = 1_000_003 * index + 17
        for attempt in range(20):
            random.seed(seed + attempt)
            np.random.seed((seed + attempt) % 2**32)
            problem = module()
            question, answer = str(problem.question), str(problem.answer)
            if len(question) <= 160 and len(answer) <= 30:
                break
        print(json.dumps({"module": name, "question": question, "answer": answer}))


if __name__ == "__main__":
    main()
