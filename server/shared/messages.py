"""Plain dicts <-> gancollage.v1 messages, so the CLI and both of the plug-in's gRPC stacks (grpcio and
grpclib) build requests and read answers the same way.

A request is its message as a plain dict with the proto's field names (bytes for `rgba`, `rgb`, `data`
and `png`; enums by name, with or without their prefix: "optimize" or "METHOD_OPTIMIZE"). A call
yields events::

    {"event": "progress", "progress": {...}}     a Progress message (streaming calls)
    {"event": "result", "result": {...}}         Realize/Project result, or a unary call's response
    {"event": "frame", "frame": {...}}           one InterpolateFrame per frame

and fails with errors.CallError. In answers every scalar field is present (0, "" or false when unset)
and message fields are present only when set.
"""
from __future__ import annotations

from google.protobuf.message import Message

from .api.gancollage.v1 import gancollage_pb2 as pb
from .errors import CallError

SERVICE = pb.DESCRIPTOR.services_by_name["GanCollage"]


def _enum_number(enum_type, value, path: str) -> int:
    """An enum value from its number, its name, or its name without the type prefix, any case."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    prefix = enum_type.values[0].name.rsplit("_", 1)[0] + "_"  # METHOD_UNSPECIFIED -> METHOD_
    if isinstance(value, str):
        for name in (value, prefix + value.upper()):
            if name in enum_type.values_by_name:
                return enum_type.values_by_name[name].number
    choices = [v.name.removeprefix(prefix).lower() for v in enum_type.values]
    raise ValueError(f"{path}: unknown {enum_type.name} {value!r}; expected one of {choices}")


def _enum_name(enum_type, number: int) -> str | int:
    value = enum_type.values_by_number.get(number)
    return value.name if value is not None else number  # proto3 enums are open: keep unknown numbers


def fill(message: Message, data: dict, path: str = "") -> Message:
    """Set `message`'s fields from `data` (None values are skipped); ValueError names a bad key."""
    if not isinstance(data, dict):
        raise ValueError(f"{path or 'request'}: expected an object, got {type(data).__name__}")
    for key, value in data.items():
        where = f"{path}.{key}" if path else key
        field = message.DESCRIPTOR.fields_by_name.get(key)
        if field is None:
            raise ValueError(f"{where}: {message.DESCRIPTOR.full_name} has no field {key!r}")
        if value is None:
            continue
        try:
            if field.message_type is not None:
                if field.is_repeated:
                    for index, item in enumerate(value):
                        fill(getattr(message, key).add(), item, f"{where}[{index}]")
                else:
                    fill(getattr(message, key), value, where)
                    getattr(message, key).SetInParent()  # an empty dict still sets the field
            elif field.enum_type is not None:
                if field.is_repeated:
                    getattr(message, key).extend(_enum_number(field.enum_type, v, where) for v in value)
                else:
                    setattr(message, key, _enum_number(field.enum_type, value, where))
            elif field.is_repeated:
                getattr(message, key).extend(value)
            else:
                setattr(message, key, bytes(value) if isinstance(value, (bytearray, memoryview)) else value)
        except (TypeError, AttributeError) as exc:
            raise ValueError(f"{where}: {exc}") from None
    return message


def to_dict(message: Message) -> dict:
    """Every scalar field (unset ones at their default), message fields only when set; enums by name."""
    out = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if field.message_type is not None:
            if field.is_repeated:
                out[field.name] = [to_dict(item) for item in value]
            elif message.HasField(field.name):
                out[field.name] = to_dict(value)
        elif field.enum_type is not None:
            out[field.name] = ([_enum_name(field.enum_type, v) for v in value] if field.is_repeated
                               else _enum_name(field.enum_type, value))
        else:
            out[field.name] = list(value) if field.is_repeated else value
    return out


def request(call: str, data: dict) -> Message:
    """The request message of GanCollage method `call`, filled from `data`."""
    method = SERVICE.methods_by_name.get(call)
    if method is None:
        raise ValueError(f"unknown call {call!r}; expected one of {sorted(SERVICE.methods_by_name)}")
    return fill(getattr(pb, method.input_type.name)(), data or {})


def outgoing(call: str, data: dict) -> Message:
    """`request`, with a malformed dict refused as CallError INVALID_ARGUMENT before anything is sent."""
    try:
        return request(call, data)
    except ValueError as exc:
        raise CallError("INVALID_ARGUMENT", f"bad request: {exc}") from None


def event(message: Message) -> dict:
    """An answer as an event: the set member of a streamed `event` oneof, else a result."""
    if "event" in message.DESCRIPTOR.oneofs_by_name:
        kind = message.WhichOneof("event")
        return {"event": kind, kind: to_dict(getattr(message, kind))}
    return {"event": "result", "result": to_dict(message)}
