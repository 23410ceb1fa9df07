"""A narrow patch of moto 5.2.5's DynamoDB UpdateItem, so that local mode's table writes stay cheap.

Every company the consumer analyses ends in one UpdateItem (lib/state.py: `SET` of a dozen
attributes by placeholder, `REMOVE` of a few, `attribute_exists` as the condition). moto 5.2.5
spends about 12 ms of Python on each such call (measured in-process, werkzeug's test client, no
HTTP): it tokenises and parses the expression twice (once in `responses.py` to check which
placeholders are used, once in `models`), deep-copies the syntax tree (about 85 nodes), then walks
it ten times, once per validator, where `ActionCountValidator` searches every nested clause again
from each node. In local mode that made moto's process, which answers every AWS call of the
pipeline, the bottleneck: about 60 companies a second at most, whatever the executor did.

What is patched (by `apply()`, for the whole process)
- `UpdateExpressionParser.make` remembers the tree it built for each expression string (an LRU of
  `PARSE_CACHE_SIZE`). The consumer sends a handful of distinct strings, the values travel apart.
  moto never changes a tree it parsed: `responses.py` only reads it (`find_clauses`), and the
  validator works on a deep copy. A string that fails to parse is not remembered (the error is
  raised again on every call).
- For an expression of the simplest shape, one `SET` clause of `#name = :value` assignments, one
  `REMOVE` clause of `#name`s and/or one `ADD` clause of `#name :value` string sets onto an absent or
  string-set attribute (placeholders only, top-level attributes only), the validator and
  executor `models.update_item` uses are swapped for a direct plan: check that every placeholder is
  defined, that no attribute is named twice, that none is a key or index key attribute, and that
  each value is a scalar (S, N, B, BOOL or NULL) of at most `MAX_FAST_VALUE_BYTES`; then assign
  each value to the item as moto's own `DynamoType` and pop each removed name, which is what
  moto's `SetExecutor` and `RemoveExecutor` do for such actions. moto's item dict sizes the whole
  item on each assignment (its 400 KB limit); the plan sizes it once, and assigns through that
  check only when the old item plus all new values could pass `ITEM_SIZE_BOUND`. When any check
  fails, moto's own validator runs instead and raises its own error, so an invalid request gets
  exactly moto's answer.

- A condition or filter expression that names no value (`attribute_exists(#n)`, the consumer's
  condition) is parsed once per expression and attribute names (an LRU of `PARSE_CACHE_SIZE`):
  moto parses it twice per UpdateItem (about a tenth of moto's time per call once the update
  itself is direct). The parsed condition is only evaluated against items, never changed, and each
  caller gets its own copies of the lists of names and values it found. Expressions with `:value`
  placeholders are parsed every time, as shipped.

What stays moto's own: the request parsing and the unused-placeholder checks of `responses.py`,
the condition expression, `Expected`, the copy for streams and `ReturnValues`, the creation of a
missing item, `AttributeUpdates`, and every expression of any other shape (paths, functions,
arithmetic, `ADD` of anything but a string set, `DELETE`, list and map values).

bench/ddb_update.py measures it; tests/test_local_moto_ddb_patch.py checks that patched and shipped moto
leave the same items and raise the same errors for the same requests.
"""

from __future__ import annotations

import functools
import re
import sys
from typing import Any

from watchlist_workstation.local.moto_server.swaps import Swaps
from watchlist_workstation.local.moto_server.version import require_supported_moto

PARSE_CACHE_SIZE = 256
# Larger values take moto's path, so its item-size limit (about 400 KB) is judged in its own order.
MAX_FAST_VALUE_BYTES = 4096
# Below moto's own limit (405,000 bytes, LimitedSizeDict in moto/dynamodb/models/dynamo_type.py).
ITEM_SIZE_BOUND = 400_000
SCALAR_TYPES = frozenset({"S", "N", "B", "BOOL", "NULL"})

_NAME = r"#[A-Za-z0-9_]+"
_VALUE = r":[A-Za-z0-9_]+"
_SET_CLAUSE = re.compile(rf"\s*SET\s+({_NAME}\s*=\s*{_VALUE}(?:\s*,\s*{_NAME}\s*=\s*{_VALUE})*)\s*", re.IGNORECASE)
_REMOVE_CLAUSE = re.compile(rf"\s*REMOVE\s+({_NAME}(?:\s*,\s*{_NAME})*)\s*", re.IGNORECASE)
_ADD_CLAUSE = re.compile(rf"\s*ADD\s+({_NAME}\s+{_VALUE}(?:\s*,\s*{_NAME}\s+{_VALUE})*)\s*", re.IGNORECASE)
_ASSIGNMENT = re.compile(rf"({_NAME})\s*=\s*({_VALUE})")
_ADDITION = re.compile(rf"({_NAME})\s+({_VALUE})")
_PLACEHOLDER = re.compile(_NAME)
_SHAPE = "_local_ddb_shape"

_swaps = Swaps()


Shape = tuple[tuple[tuple[str, str], ...], tuple[str, ...], tuple[tuple[str, str], ...]]


def simple_shape(expression: str) -> Shape | None:
    """((name placeholder, value placeholder) per SET, name placeholder per REMOVE, (name placeholder, value
    placeholder) per ADD) when the expression is at most one SET, one REMOVE and one ADD clause of placeholders;
    None otherwise."""
    sets: tuple[tuple[str, str], ...] | None = None
    removes: tuple[str, ...] | None = None
    adds: tuple[tuple[str, str], ...] | None = None
    position = 0
    while position < len(expression):
        if not expression[position:].strip():
            break
        match = _SET_CLAUSE.match(expression, position)
        if match and sets is None:
            sets = tuple(_ASSIGNMENT.findall(match.group(1)))
            position = match.end()
            continue
        match = _REMOVE_CLAUSE.match(expression, position)
        if match and removes is None:
            removes = tuple(_PLACEHOLDER.findall(match.group(1)))
            position = match.end()
            continue
        match = _ADD_CLAUSE.match(expression, position)
        if match and adds is None:
            adds = tuple(_ADDITION.findall(match.group(1)))
            position = match.end()
            continue
        return None
    if sets is None and removes is None and adds is None:
        return None
    return sets or (), removes or (), adds or ()


class _Plan:
    """What a simple expression does to the item, checked; stands in for moto's validated tree."""

    def __init__(
        self, sets: list[tuple[str, dict[str, Any]]], removes: list[str], adds: list[tuple[str, list[str]]]
    ) -> None:
        self.sets, self.removes, self.adds = sets, removes, adds

    def normalize(self) -> None:  # moto normalises its validated tree before executing it
        pass


def plan(
    expression: Any, names: dict[str, str] | None, values: dict[str, Any] | None, table: Any, item: Any = None
) -> _Plan | None:
    """The direct plan for `expression` (a tree from the parser) on `item` (None: a new one), or None when moto
    must judge it."""
    shape = getattr(expression, _SHAPE, None)
    if shape is None:
        return None
    names, values = names or {}, values or {}
    protected = set(table.table_key_attrs) | set(table.attribute_keys) | {a["AttributeName"] for a in table.attr}
    seen: set[str] = set()
    sets: list[tuple[str, dict[str, Any]]] = []
    set_placeholders, removes_placeholders, add_placeholders = shape
    for name_placeholder, value_placeholder in set_placeholders:
        name, value = names.get(name_placeholder), values.get(value_placeholder)
        if name is None or value is None or name in seen or name in protected or not _plain_scalar(value):
            return None
        seen.add(name)
        sets.append((name, value))
    removes: list[str] = []
    for name_placeholder in removes_placeholders:
        name = names.get(name_placeholder)
        if name is None or name in seen or name in protected:
            return None
        seen.add(name)
        removes.append(name)
    # ADD of a string set to a top-level attribute that is absent or a string set (lib/state.py's recent_results):
    # the members not there yet are appended in order, as moto's AddExecutor does. Anything else is moto's.
    current = getattr(item, "attrs", None) or {}
    adds: list[tuple[str, list[str]]] = []
    for name_placeholder, value_placeholder in add_placeholders:
        name, value = names.get(name_placeholder), values.get(value_placeholder)
        if name is None or name in seen or name in protected or not _string_set(value):
            return None
        existing = current.get(name)
        if existing is not None and getattr(existing, "type", None) != "SS":
            return None
        seen.add(name)
        adds.append((name, value["SS"]))
    return _Plan(sets, removes, adds)


def _string_set(value: Any) -> bool:
    if not isinstance(value, dict) or list(value) != ["SS"] or not isinstance(value["SS"], list) or not value["SS"]:
        return False
    return all(isinstance(member, str) and len(member) <= MAX_FAST_VALUE_BYTES for member in value["SS"])


def _plain_scalar(value: Any) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    ((kind, content),) = value.items()
    if kind not in SCALAR_TYPES:
        return False
    if kind in ("S", "N", "B"):
        return isinstance(content, str) and len(content) <= MAX_FAST_VALUE_BYTES
    return isinstance(content, bool)


def _execute(direct: _Plan, attrs: Any) -> None:
    """Apply a plan to an item's attributes (moto's size-limited dict)."""
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.utilities import bytesize

    def size(part: Any) -> int:  # how moto's LimitedSizeDict sizes a key or a value
        return part.size() if type(part) is DynamoType else bytesize(str(part))

    # Each request brings its own copy of every attribute name; the item keeps one shared copy (sys.intern), as a
    # table of 60,000 items with a dozen attributes each would otherwise hold 720,000 copies of a dozen names.
    values = [(sys.intern(name), DynamoType(value)) for name, value in direct.sets]
    for name, members in direct.adds:
        existing = attrs.get(name)
        merged = list(existing.value) if existing is not None else []
        merged.extend(member for member in dict.fromkeys(members) if member not in merged)
        values.append((sys.intern(name), DynamoType({"SS": merged})))
    # moto's dict re-sizes the whole item on every assignment to enforce the item size limit.
    # When even the old item plus every new value stays under the limit, no assignment can
    # reach it, so the values go in without that check; otherwise each goes through it.
    bound = sum(size(k) + size(v) for k, v in attrs.items()) + sum(size(k) + size(v) for k, v in values)
    assign = dict.__setitem__ if bound <= ITEM_SIZE_BOUND else type(attrs).__setitem__
    for name, value in values:
        assign(attrs, name, value)
    for name in direct.removes:
        attrs.pop(name, None)


class _ParsedCondition:
    """Stands in for moto's ConditionExpressionParser once it has parsed an expression; one is
    shared by every request with the same expression and names (its lists are handed out as copies)."""

    def __init__(self, op: Any, names_found: list[str], values_found: list[str]) -> None:
        self._op, self._names, self._values = op, tuple(names_found), tuple(values_found)

    def parse(self) -> Any:
        return self._op

    @property
    def expr_attr_names_found(self) -> list[str]:
        return list(self._names)  # callers extend what they get

    @property
    def expr_attr_values_found(self) -> list[str]:
        return list(self._values)


def _condition_parsers(shipped: Any) -> Any:
    """moto's create_condition_expression_parser, remembering what parses without values."""

    @functools.lru_cache(maxsize=PARSE_CACHE_SIZE)
    def parsed(expression: str | None, names: tuple[tuple[str, str], ...]) -> _ParsedCondition:
        parser = shipped(expression, dict(names), {})
        op = parser.parse()
        return _ParsedCondition(op, parser.expr_attr_names_found, parser.expr_attr_values_found)

    def create_condition_expression_parser(expression: str | None, names: Any, values: Any) -> Any:
        if (expression and ":" in expression) or not all(isinstance(v, str) for v in (names or {}).values()):
            return shipped(expression, names, values)
        return parsed(expression, tuple(sorted((names or {}).items())))

    return create_condition_expression_parser


def apply() -> None:
    """Patch moto's DynamoDB UpdateItem in this process (see the module docstring); idempotent."""
    require_supported_moto(
        "watchlist_workstation/local/moto_server/ddb_patch.py",
        "moto/dynamodb/models/__init__.py (update_item), comparisons.py and parsing/",
    )
    from moto.dynamodb import comparisons, models, responses
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    with _swaps.lock:
        if _swaps.applied:
            return
        condition = _condition_parsers(comparisons.create_condition_expression_parser)
        for module in (comparisons, models, responses):
            _swaps.replace(module, "create_condition_expression_parser", condition)
        parse = UpdateExpressionParser.__dict__["make"].__func__

        @functools.lru_cache(maxsize=PARSE_CACHE_SIZE)
        def cached_parse(cls: type, expression: str) -> Any:
            tree = parse(cls, expression)
            setattr(tree, _SHAPE, simple_shape(expression))
            return tree

        _swaps.replace(UpdateExpressionParser, "make", classmethod(cached_parse))
        shipped_validator, shipped_executor = models.UpdateExpressionValidator, models.UpdateExpressionExecutor

        class Validator(shipped_validator):  # type: ignore[misc, valid-type]
            def __init__(
                self,
                expression: Any,
                expression_attribute_names: Any,
                expression_attribute_values: Any,
                item: Any,
                table: Any,
            ) -> None:
                self.direct = plan(expression, expression_attribute_names, expression_attribute_values, table, item)
                if self.direct is None:
                    super().__init__(expression, expression_attribute_names, expression_attribute_values, item, table)

            def validate(self) -> Any:
                return self.direct if self.direct is not None else super().validate()

        class Executor(shipped_executor):  # type: ignore[misc, valid-type]
            def execute(self, node: Any = None) -> None:
                if node is None and isinstance(self.update_ast, _Plan):
                    _execute(self.update_ast, self.item.attrs)
                    return
                super().execute(node)

        _swaps.replace(models, "UpdateExpressionValidator", Validator)
        _swaps.replace(models, "UpdateExpressionExecutor", Executor)


def revert() -> None:
    """Put moto's shipped UpdateItem back (tests compare the two in one process)."""
    _swaps.restore()
