"""Requests: API calls that carry several quantities and properties (`request` in the rules).

A `request` journal entry names an action the rules declare with `request`; each of its
quantities is counted into the meter the rules name for it, as a usage of that many units would
be, and its properties are checked against the values the rules allow. So a request is read as
one usage part per quantity (`RequestPlan.parts`): the parts are what the replay, the monthly
allowance, packs and ladders, and snapshots see. A part's route is `ACTION.QUANTITY` (a `.` is
in no name of the language, so no usage entry can name it), in `PriceBook.part_routes`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

from ratecard.diagnostics import did_you_mean
from ratecard.literals import NumberError, count_value, shorten, shown_number

_UNKNOWN: frozenset[str] = frozenset()  # (not a property: `parts` looks it up once)

#: A quantity of a request: whole units from 0 to this (the journal's count limit, 10^18).
MAX_QUANTITY = 10**18


def is_part(route: str) -> bool:
    """Whether a usage record's name is a request's part (`messages.input_tokens`,
    `image_review:base`), not an action: no action's name holds a `.` or a `:`."""
    return "." in route or ":" in route


class RequestError(ValueError):
    """A bad request entry: the field (`quantities.input_tokens`) and what is wrong with it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@attrs.frozen
class PropertyPlan:
    """A property of a request: its values (None: `bool`) and its default (None: required)."""

    name: str
    values: tuple[str, ...] | None
    default: str | bool | None

    def check(self, value: Any) -> str | bool:
        """The value given, if allowed; RequestError otherwise."""
        field = f"properties.{self.name}"
        if self.values is None:
            if type(value) is not bool:
                raise RequestError(field, f"`{self.name}` is true or false, not {_shown(value)}")
            return value
        if type(value) is not str:
            raise RequestError(field, f"`{self.name}` is one of {_listed(self.values)}, not "
                               f"{_shown(value)}")
        if value not in self.values:
            hint = did_you_mean(value, self.values)
            raise RequestError(field, f"\"{shorten(value)}\" is not a value of `{self.name}`"
                               + (f"; {hint}" if hint else f" (one of {_listed(self.values)})"))
        return value


@attrs.frozen
class PriceTable:
    """A request's price table as written (`prices`), for the price sheet: its property, the
    base meters across, and per value of the property the cell meter of each column; and the
    tables of its modifiers and thresholds (`variants`: `request` is then the variant's name,
    `labels` its display names)."""

    request: str
    property: str
    meters: tuple[str, ...]
    rows: tuple[tuple[str, tuple[str, ...]], ...]
    variants: tuple[PriceTable, ...] = ()
    labels: tuple[str, ...] = ()
    rule: RulePlan | None = None  # a variant's: its conditions, and its factor or its sum
    factor: Decimal | None = None


@attrs.frozen
class RulePlan:
    """A modifier (`quantities` empty) or a per-request threshold of a request: it applies to a
    request whose properties have these values and, for a threshold, whose `quantities` sum
    past `limit` (`strict`: `>`, else `≥`)."""

    name: str
    conditions: tuple[tuple[str, str | bool], ...]
    quantities: tuple[str, ...] = ()
    strict: bool = True
    limit: Decimal | None = None

    def applies(self, values: Mapping[str, Any], quantities: Mapping[str, int]) -> bool:
        """Whether a request's property values (checked: a bool property's is a bool) and
        quantities meet this rule."""
        for prop, wanted in self.conditions:
            if values.get(prop) != wanted:
                return False
        if self.limit is None:
            return True
        total = sum(quantities.get(q, 0) for q in self.quantities)
        return total > self.limit if self.strict else total >= self.limit


#: A request part's journal record: `(instant, line, kind, route, units, id)` (`journal.Record`).
PartRecord = tuple[int, int, int, str, int, str | None]

#: The most shapes a plan keeps compiled (`RequestPlan.quick_parts`): a journal has few;
#: past this, a request's shape is compiled anew (the same, only slower).
_SHAPES = 4096


@attrs.frozen
class RequestShape:
    """Requests compiled for one tuple of property values and quantity names
    (`RequestPlan.quick_parts`): the bool properties given (checked by type per request); the
    thresholds whose conditions hold, `(indexes of their quantities, strict, limit)` in
    declared order; per outcome (0: no threshold passes; i: the i-th passes first) the part
    route of each quantity, in the entry's order (None: a cell the table lacks); the units its
    charges add; the route of the part of 0 units a request without units gives; and the
    entry's quantities' indexes in the rules' declared order (`order`: the order of the parts)."""

    bools: tuple[str, ...]
    thresholds: tuple[tuple[tuple[int, ...], bool, int], ...]
    routes: tuple[tuple[str, ...] | None, ...]
    charges: tuple[tuple[str, int], ...]
    empty: str
    order: tuple[int, ...] = ()


@attrs.frozen
class RequestPlan:
    """An action billed by request: its quantities (name → meter) and properties.

    A quantity whose meter a price table prices (`prices`) is counted into the table's cell
    meter of the entry's property value instead: `cells` maps it to the property and, per
    value, that meter (`input[claude-opus-4-6]`)."""

    name: str
    labels: tuple[str, ...]
    meters: Mapping[str, str]  # quantity → meter
    properties: Mapping[str, PropertyPlan]
    cells: Mapping[str, tuple[str, Mapping[str, Mapping[tuple[str, ...], str]]]] = attrs.field(
        factory=dict)
    rules: tuple[RulePlan, ...] = ()  # modifiers and thresholds, in declared order
    # `charge METER [when PROP and ...]`: a unit into the meter per call whose bool properties
    # named are all true (none: every call), in declared order; a meter may be charged twice.
    charges: tuple[tuple[str, tuple[str, ...], str | None], ...] = ()  # (+ `unless`)
    routes: Mapping[str, str] = attrs.field(init=False)  # quantity → part route
    # A quantity priced by a table: its property, and per value and set of the rules that
    # change its price (in declared order) the part route.
    cell_routes: Mapping[str, tuple[str, Mapping[str, Mapping[tuple[str, ...], str]]]] = (
        attrs.field(init=False))
    part_meters: Mapping[str, str] = attrs.field(init=False)  # part route → meter
    # What `parts` reads: each property's values (None: bool), the defaults, the required.
    _allowed: Mapping[str, frozenset[str] | None] = attrs.field(init=False, repr=False)
    _defaults: Mapping[str, str | bool] = attrs.field(init=False, repr=False)
    _required: tuple[str, ...] = attrs.field(init=False, repr=False)
    _chosen: dict[tuple[str, Any, tuple[str, ...]], str] = attrs.field(
        init=False, repr=False, eq=False)
    _tests: tuple[tuple[str, tuple[tuple[str, str | bool], ...], tuple[str, ...], bool,
                        int | None], ...] = attrs.field(init=False, repr=False)
    # `quick_parts`: the compiled form per tuple of property items and quantity names.
    _shapes: dict[tuple[Any, ...], RequestShape] = attrs.field(
        init=False, repr=False, eq=False)
    # Each quantity's place in the rules' declaration (the order of a request's parts).
    _position: Mapping[str, int] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        props = self.properties.values()
        object.__setattr__(self, "_allowed", {
            p.name: None if p.values is None else frozenset(p.values) for p in props})
        object.__setattr__(self, "_defaults", {
            p.name: p.default for p in props if p.default is not None})
        object.__setattr__(self, "_required", tuple(
            p.name for p in props if p.default is None))
        object.__setattr__(self, "_chosen", {})
        object.__setattr__(self, "_shapes", {})
        object.__setattr__(self, "_position", {name: i for i, name in enumerate(self.meters)})
        object.__setattr__(self, "_tests", tuple(
            (r.name, r.conditions, r.quantities, r.strict,
             None if r.limit is None else int(r.limit)) for r in self.rules))
        routes = {q: f"{self.name}.{q}" for q in self.meters if q not in self.cells}
        part_meters = {routes[q]: self.meters[q] for q in routes}
        cell_routes: dict[str, tuple[str, dict[str, dict[tuple[str, ...], str]]]] = {}
        for q, (prop, by_value) in self.cells.items():
            chosen: dict[str, dict[tuple[str, ...], str]] = {}
            for value, variants in by_value.items():
                chosen[value] = {}
                for key, meter in variants.items():
                    route = f"{self.name}.{q}[{'+'.join((value, *key))}]"
                    chosen[value][key] = route
                    part_meters[route] = meter
            cell_routes[q] = (prop, chosen)
        for meter, _, _ in self.charges:
            part_meters[f"{self.name}:{meter}"] = meter
        object.__setattr__(self, "routes", routes)
        object.__setattr__(self, "cell_routes", cell_routes)
        object.__setattr__(self, "part_meters", part_meters)

    def parts(self, quantities: Any, properties: Any) -> list[tuple[str, int]]:
        """The usage parts of a request entry: `(route, units)` per quantity above 0 (one part
        of 0 units when there is none, so the entry is still seen); RequestError at the first
        field that is wrong, before any part is made."""
        values = self._values(properties)
        counts: dict[str, int] = {}
        if quantities is not None:
            if type(quantities) is not dict:
                if not isinstance(quantities, Mapping):
                    raise RequestError("quantities", "`quantities` is an object of names and "
                                       f"whole numbers, not {_shown(quantities)}")
                quantities = dict(quantities)
            meters = self.meters
            for name, value in quantities.items():
                if name not in meters:
                    raise RequestError(f"quantities.{shorten(str(name))}",
                                       self._unknown("quantity", name, meters))
                if type(value) is not int or value < 0 or value > MAX_QUANTITY:
                    value = _whole(name, value)
                counts[name] = value
        active = self._active(values, counts) if self.rules else ()
        routes = self.routes
        chosen = self._chosen
        parts: list[tuple[str, int]] = []
        # The parts in the rules' declared order of the quantities, whatever the order of the
        # entry's fields (a JSON object's keys have none): where several parts draw one shared
        # allowance, which gets its last units never depends on how the entry was written.
        for name in self.meters:
            value = counts.get(name)
            if not value:
                continue
            route = routes.get(name)
            if route is None:
                key = (name, values[self.cell_routes[name][0]], active)
                route = chosen.get(key)
                if route is None:
                    route = self._choose(*key)
            parts.append((route, value))
        if self.charges:
            parts.extend(self._charged(values).items())
        if not parts:
            parts.append((next(iter(self.part_meters)), 0))
        return parts

    def quick_records(self, quantities: Any, properties: Any, moment: int, line: int,
                      kind: int, entry_id: str | None) -> list[PartRecord] | None:
        """The journal records (`(moment, line, kind, route, units, entry_id)`) of `parts` of
        a well-formed entry as JSON gives it, from the compiled form of its property values
        and quantity names (`RequestShape`): quantities a dict of ints from 0 to MAX_QUANTITY
        named by the rules, properties a dict of strings and bools (or either missing). None
        for anything else, valid or not, and for what `parts` would refuse: the caller then
        takes `parts`, which checks the entry and names what is wrong."""
        if type(quantities) is not dict:
            if quantities is not None:
                return None
            quantities = {}
        if type(properties) is not dict:
            if properties is not None:
                return None
            properties = {}
        try:
            key = (*properties.items(), *quantities)
            shape = self._shapes.get(key)
        except TypeError:  # (a value that cannot be hashed: a list, an object)
            return None
        if shape is None:
            shape = self._shape(properties, quantities)
            if shape is None:
                return None
            if len(self._shapes) < _SHAPES:
                self._shapes[key] = shape
        for name in shape.bools:  # 1 == True: a shape compiled for `true` is not 1's
            if type(properties[name]) is not bool:
                return None
        counts = tuple(quantities.values())
        for value in counts:
            if type(value) is not int or value < 0 or value > MAX_QUANTITY:
                return None
        routes = shape.routes[0]
        if shape.thresholds:  # `_active`'s threshold: the first whose sum passes its limit
            for outcome, (indexes, strict, limit) in enumerate(shape.thresholds, start=1):
                total = 0
                for index in indexes:
                    total += counts[index]
                if total > limit if strict else total >= limit:
                    routes = shape.routes[outcome]
                    break
        if routes is None:
            return None  # (a cell the table lacks: `parts` says so, if a count needs it)
        records: list[PartRecord] = []
        add = records.append
        for index in shape.order:  # (the rules' declared order, as `parts`)
            value = counts[index]
            if value:
                add((moment, line, kind, routes[index], value, entry_id))
        for route, value in shape.charges:
            add((moment, line, kind, route, value, entry_id))
        if not records:
            add((moment, line, kind, shape.empty, 0, entry_id))
        return records

    def _shape(self, properties: dict[Any, Any],
               quantities: dict[Any, Any]) -> RequestShape | None:
        """The compiled form of requests with these properties and these quantities' names,
        from what `parts` decides without their counts: the property values (None if `parts`
        would refuse them, or a name or value of a type JSON does not give), the rules whose
        conditions hold (the modifiers apply; of the thresholds, the first whose sum passes its
        limit, decided per request by `quick_parts`) and, per outcome (none of the thresholds,
        or each), the route of each quantity as `parts` chooses it."""
        if any(type(value) is not str and type(value) is not bool
               for value in properties.values()):
            return None
        names = tuple(quantities)
        if any(type(name) is not str or name not in self.meters for name in names):
            return None
        try:
            values = self._values(properties)
        except RequestError:
            return None
        held = [(index, test) for index, test in enumerate(self._tests)
                if all(values.get(prop) == wanted for prop, wanted in test[1])]
        thresholds = [(index, test[2], test[3], test[4]) for index, test in held
                      if test[4] is not None]
        outcomes: list[tuple[str, ...]] = [
            tuple(test[0] for _, test in held if test[4] is None)]
        outcomes += [tuple(test[0] for index, test in held if test[4] is None or index == chosen)
                     for chosen, _, _, _ in thresholds]
        routes: list[tuple[str, ...] | None] = []
        for active in outcomes:
            chosen_routes: list[str] = []
            for name in names:
                route = self.routes.get(name)
                if route is None:
                    try:
                        route = self._choose(name, values[self.cell_routes[name][0]], active)
                    except KeyError:
                        break
                chosen_routes.append(route)
            else:
                routes.append(tuple(chosen_routes))
                continue
            routes.append(None)
        return RequestShape(
            bools=tuple(name for name, value in properties.items() if type(value) is bool),
            thresholds=tuple((tuple(i for i, name in enumerate(names) if name in quantities_of),
                              strict, limit)
                             for _, quantities_of, strict, limit in thresholds
                             if limit is not None),
            routes=tuple(routes),
            charges=tuple(self._charged(values).items()) if self.charges else (),
            empty=next(iter(self.part_meters)),
            order=tuple(sorted(range(len(names)), key=lambda i: self._position[names[i]])))

    def _charged(self, values: Mapping[str, Any]) -> dict[str, int]:
        """The units a request's charges add, per part route, from its property values."""
        charged: dict[str, int] = {}
        for meter, when, unless in self.charges:
            for prop in when:
                if values.get(prop) is not True:
                    break
            else:
                if unless is not None and values.get(unless) is True:
                    continue
                route = f"{self.name}:{meter}"
                charged[route] = charged.get(route, 0) + 1
        return charged

    def _values(self, properties: Any) -> Mapping[str, Any]:
        """A request's property values (the defaults, then the entry's), each checked;
        RequestError at the first property that is wrong or missing."""
        allowed = self._allowed
        values = self._defaults
        if properties is not None:
            if type(properties) is not dict:
                if not isinstance(properties, Mapping):
                    raise RequestError("properties", "`properties` is an object of names and "
                                       f"values, not {_shown(properties)}")
                properties = dict(properties)
            for name, value in properties.items():
                choices = allowed.get(name, _UNKNOWN)
                if choices is None:
                    if type(value) is not bool:
                        self.properties[name].check(value)  # (raises, naming the value)
                elif type(value) is not str or value not in choices:
                    if choices is _UNKNOWN:
                        raise RequestError(f"properties.{shorten(str(name))}",
                                           self._unknown("property", name, self.properties))
                    self.properties[name].check(value)  # (raises, naming the value)
            if properties:
                values = {**values, **properties}
        for name in self._required:
            if name not in values:
                plan = self.properties[name]
                raise RequestError(f"properties.{name}",
                                   f"missing property `{name}` of request `{self.name}`"
                                   + (f" (one of {_listed(plan.values)})" if plan.values
                                      else " (true or false)"))
        return values

    def _choose(self, quantity: str, value: Any, active: tuple[str, ...]) -> str:
        """The part route of a table-priced quantity for a property value and the rules that
        apply to the request: the cell of the rules among them that change its price (kept in
        `_chosen`, a cache of the few combinations a sheet has)."""
        variants = self.cell_routes[quantity][1][value]
        route = variants[tuple(r for r in active if (r,) in variants)]
        self._chosen[(quantity, value, active)] = route
        return route

    def _active(self, values: Mapping[str, Any], counts: Mapping[str, int]) -> tuple[str, ...]:
        """The names of the rules that apply to a request, in declared order (one threshold at
        most: the first that holds). `RulePlan.applies`, inlined: it runs for every request."""
        active: list[str] = []
        threshold = False
        get = values.get
        for name, conditions, quantities, strict, limit in self._tests:
            if limit is not None and threshold:
                continue
            for prop, wanted in conditions:
                if get(prop) != wanted:
                    break
            else:
                if limit is not None:
                    total = 0
                    for quantity in quantities:
                        total += counts.get(quantity, 0)
                    if not (total > limit if strict else total >= limit):
                        continue
                    threshold = True
                active.append(name)
        return tuple(active)

    def _unknown(self, what: str, name: Any, known: Mapping[str, Any]) -> str:
        if type(name) is not str:
            return f"a {what} is named by a string, not {_shown(name)}"
        hint = did_you_mean(name, known)
        return (f"`{shorten(name)}` is not a {what} of request `{self.name}`"
                + (f"; {hint}" if hint else f" (one of {', '.join(known) or 'none'})"))


def _whole(name: str, value: Any) -> int:
    """A quantity that is not a plain int in range: its whole value, or RequestError."""
    field = f"quantities.{name}"
    if value is None:
        raise RequestError(field, f"`{name}` is a whole number of 0 or more, not null")
    try:
        number = count_value(value, _shown)
    except NumberError as exc:
        raise RequestError(field, str(exc)) from None
    if number != number.to_integral_value():
        raise RequestError(field, f"{shown_number(number)} is not a whole number of units")
    return int(number)


def _listed(values: tuple[str, ...] | None) -> str:
    return ", ".join(f"\"{v}\"" for v in values or ())


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return shown_number(Decimal(value))
    if isinstance(value, Decimal):
        return shown_number(value)
    if isinstance(value, str):
        return f"\"{shorten(value)}\""
    if value is None:
        return "null"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return f"a {type(value).__name__}"
