"""Requests whose bytes do not parse: an answer naming the field instead of gRPC's INTERNAL.

gRPC calls a method's request deserializer before any handler code runs, and a parse
error there (python protobuf's DecodeError, e.g. a proto3 string field holding invalid
UTF-8) reaches the client as INTERNAL "Exception deserializing request!". The
`tolerant_deserializer` returns an UndecodableRequest instead, which the ErrorInterceptor
answers with INVALID_ARGUMENT. Its violations come from walking the protobuf wire format
against the message's descriptor, done only after the parser refused the bytes, so a
valid request costs nothing more: varint / fixed64 / length-delimited / fixed32 values
(groups skipped), known message fields walked recursively, string fields decoded as UTF-8,
each element of a repeated field named with its position ("orders[0].lines[1].item_id").
A framing error (a truncated value, a bad tag) names the field whose value it cuts short,
or else the message it lies in ("(request)" at the top level); nothing after it can be
read. A known field sent with another wire type is an unknown field to the parser too, so
it is skipped, not reported. The API is proto3, where every string field must be UTF-8.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError

from basketry.server.errors import FieldViolation

REQUEST_FIELD = "(request)"
# Violations kept per request; the rest are only counted (a 16 MiB request could hold
# millions of bad strings, and the answer names the first few anyway).
MAX_KEPT_VIOLATIONS = 20
MAX_FIELD_NUMBER = (1 << 29) - 1
MAX_DEPTH = 100  # the parser's own nesting limit

_VARINT, _FIXED64, _LENGTH, _START_GROUP, _END_GROUP, _FIXED32 = range(6)
_FIELD = FieldDescriptor
# Repeated scalars of these types may come packed: one length-delimited run of values.
_PACKED_WIDTH = {
    **{
        kind: 0  # varints
        for kind in (
            _FIELD.TYPE_INT32,
            _FIELD.TYPE_INT64,
            _FIELD.TYPE_UINT32,
            _FIELD.TYPE_UINT64,
            _FIELD.TYPE_SINT32,
            _FIELD.TYPE_SINT64,
            _FIELD.TYPE_BOOL,
            _FIELD.TYPE_ENUM,
        )
    },
    **{kind: 4 for kind in (_FIELD.TYPE_FIXED32, _FIELD.TYPE_SFIXED32, _FIELD.TYPE_FLOAT)},
    **{kind: 8 for kind in (_FIELD.TYPE_FIXED64, _FIELD.TYPE_SFIXED64, _FIELD.TYPE_DOUBLE)},
}


@dataclass(frozen=True)
class UndecodableRequest:
    """Stands in for a request whose bytes did not parse; never reaches a servicer."""

    message_name: str  # e.g. "basketry.v1.RecommendRequest"
    violations: tuple[FieldViolation, ...]  # at least one
    unlisted: int  # further violations found but not kept


def tolerant_deserializer(
    descriptor: Descriptor, parse: Callable[[bytes], Any]
) -> Callable[[bytes], Any]:
    """`parse`, returning an UndecodableRequest instead of raising DecodeError."""

    def deserialize(data: bytes) -> Any:
        try:
            return parse(data)
        except DecodeError:
            return undecodable_request(descriptor, data)

    return deserialize


def undecodable_request(descriptor: Descriptor, data: bytes) -> UndecodableRequest:
    """What is wrong with `data` as a `descriptor` message, field by field."""
    walk = _Walk(data)
    try:
        walk.message(descriptor, 0, len(data), "", depth=0)
    except _Corrupt as corrupt:
        walk.add(corrupt.field or REQUEST_FIELD, corrupt.description)
    if not walk.kept:
        # The parser refused something this walk does not check: say so without a field.
        walk.add(REQUEST_FIELD, f"is not a valid {descriptor.full_name} message")
    return UndecodableRequest(descriptor.full_name, tuple(walk.kept), walk.unlisted)


class _Corrupt(Exception):
    """The bytes stop being a message here; nothing after this point can be read."""

    def __init__(self, field: str, description: str) -> None:
        super().__init__(f"{field}: {description}")
        self.field = field
        self.description = description


class _Walk:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.kept: list[FieldViolation] = []
        self.unlisted = 0

    def add(self, field: str, description: str) -> None:
        if len(self.kept) < MAX_KEPT_VIOLATIONS:
            self.kept.append(FieldViolation(field, description))
        else:
            self.unlisted += 1

    def message(self, descriptor: Descriptor, start: int, end: int, path: str, depth: int) -> None:
        """The fields in data[start:end]; `path` names the message ("" at the top)."""
        if depth > MAX_DEPTH:
            raise _Corrupt(path, f"is nested more than {MAX_DEPTH} messages deep")
        occurrences: dict[int, int] = {}
        position = start
        while position < end:
            tag_at = position
            number, wire_type, position = self._tag(position, end, path)
            if wire_type in (_VARINT, _FIXED64, _FIXED32):
                position = self._skip_scalar(wire_type, position, end, path)
            elif wire_type == _START_GROUP:
                position = self._skip_group(number, position, end, path, depth + 1)
            elif wire_type == _LENGTH:
                field = descriptor.fields_by_number.get(number)
                index = occurrences.get(number, 0)
                occurrences[number] = index + 1
                name = path if field is None else _field_name(path, field, index)
                length, position = self._varint(position, end, name)
                if length > end - position:
                    raise _Corrupt(name, f"runs past the end of its message (tag at byte {tag_at})")
                if field is not None:
                    self._length_delimited(field, position, position + length, name, depth)
                position += length
            else:  # an end-group without a start, or wire types 6 and 7
                raise _Corrupt(path, f"has a bad wire type at byte {tag_at}")

    def _tag(self, position: int, end: int, path: str) -> tuple[int, int, int]:
        """(field number, wire type, position after the tag) of the tag at `position`."""
        tag, after = self._varint(position, end, path, max_bytes=5)
        number = tag >> 3
        if not 1 <= number <= MAX_FIELD_NUMBER:
            raise _Corrupt(path, f"has a bad field tag at byte {position}")
        return number, tag & 7, after

    def _skip_scalar(self, wire_type: int, position: int, end: int, path: str) -> int:
        """Past the varint, fixed64 or fixed32 value at `position`."""
        if wire_type == _VARINT:
            return self._varint(position, end, path)[1]
        return self._skip(position, 8 if wire_type == _FIXED64 else 4, end, path)

    def _length_delimited(
        self, field: FieldDescriptor, start: int, end: int, name: str, depth: int
    ) -> None:
        """A known field's length-delimited value in data[start:end], named `name`."""
        if field.type == _FIELD.TYPE_STRING:
            try:
                self.data[start:end].decode("utf-8")
            except UnicodeDecodeError as error:
                self.add(name, f"is not valid UTF-8 (byte {error.start}: {error.reason})")
        elif field.type == _FIELD.TYPE_MESSAGE and field.message_type is not None:
            self.message(field.message_type, start, end, name, depth + 1)
        elif field.is_repeated and field.type in _PACKED_WIDTH:
            self._packed(_PACKED_WIDTH[field.type], start, end, name)

    def _packed(self, width: int, start: int, end: int, name: str) -> None:
        if width:
            if (end - start) % width:
                raise _Corrupt(name, f"holds {end - start} bytes, not a whole number of values")
            return
        position = start
        while position < end:
            _, position = self._varint(position, end, name)

    def _skip_group(self, number: int, position: int, end: int, path: str, depth: int) -> int:
        """Past the end-group tag matching `number` (groups only occur as unknown fields)."""
        open_groups = [number]
        while open_groups:
            if depth + len(open_groups) > MAX_DEPTH:
                raise _Corrupt(path, f"has groups nested more than {MAX_DEPTH} deep")
            tag_at = position
            inner, wire_type, position = self._tag(position, end, path)
            if wire_type in (_VARINT, _FIXED64, _FIXED32):
                position = self._skip_scalar(wire_type, position, end, path)
            elif wire_type == _LENGTH:
                length, position = self._varint(position, end, path)
                position = self._skip(position, length, end, path)
            elif wire_type == _START_GROUP:
                open_groups.append(inner)
            elif wire_type == _END_GROUP and inner == open_groups[-1]:
                open_groups.pop()
            else:
                raise _Corrupt(path, f"has a bad or unmatched group tag at byte {tag_at}")
        return position

    def _varint(self, position: int, end: int, path: str, max_bytes: int = 10) -> tuple[int, int]:
        value = shift = 0
        for offset in range(max_bytes):
            if position + offset >= end:
                raise _Corrupt(path, f"is truncated (a number at byte {position} is cut off)")
            byte = self.data[position + offset]
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value, position + offset + 1
        raise _Corrupt(path, f"has a number longer than {max_bytes} bytes at byte {position}")

    def _skip(self, position: int, length: int, end: int, path: str) -> int:
        if length > end - position:
            raise _Corrupt(path, f"is truncated (a value at byte {position} runs past its end)")
        return position + length


def _field_name(path: str, field: FieldDescriptor, index: int) -> str:
    """The field's name under `path`, with the element's position for a repeated string,
    bytes or message field ("filter.exclude_item_ids[2]": each occurrence on the wire is one
    element); a packed run of numbers is named whole."""
    name = f"{path}.{field.name}" if path else field.name
    if field.is_repeated and field.type in (
        _FIELD.TYPE_STRING,
        _FIELD.TYPE_BYTES,
        _FIELD.TYPE_MESSAGE,
    ):
        return f"{name}[{index}]"
    return name
