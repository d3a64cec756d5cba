"""Netvox payload codec (R311A, R311W, R718A, R718DA, R718N3, R809A).

From the Netvox LoRaWAN Application Command documents: fPort 6 carries reports, 11-byte frames
of version ``0x01``, device type, report type and eight bytes of device data (report type
``0x00`` is the start-up version report); fPort 7 carries command responses, a command id,
device type and nine bytes. Output names and values follow the Netvox codecs in the TTN device
repository (``Volt``, ``OnOff``, ``WaterLeak_1`` ...), with two differences: a low battery is
``LowVolt: true`` beside a numeric ``Volt`` instead of the string ``"2.3(low battery)"``, and
R718N3 currents are real milliamperes (raw × multiplier, as Netvox defines the current).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from stadsnav.codecs.base import DecodeResult

REPORT_PORT = 6
COMMAND_PORT = 7
FRAME_SIZE = 11
VERSION = 0x01
REPORT_DATA = 3
"""Report data follows version, device type and report type."""
COMMAND_ARGS = 2
"""Command arguments follow command id and device type."""

Reader = Callable[[bytes, int, dict[str, Any]], None]
Finisher = Callable[[dict[str, Any], list[str]], None]
MULTIPLIER_CODES = (1, 5, 10, 100)
"""R718N3 report type 0x03 packs each phase's multiplier as a 2-bit code."""


def _u16(payload: bytes, at: int) -> int:
    return int.from_bytes(payload[at : at + 2], "big")


def _battery(payload: bytes, at: int, data: dict[str, Any]) -> None:
    # Bit 7 flags a low battery; the other seven bits are the voltage in 0.1 V.
    data["Volt"] = (payload[at] & 0x7F) / 10
    data["LowVolt"] = bool(payload[at] & 0x80)


def _version_report(payload: bytes, at: int, data: dict[str, Any]) -> None:
    data["SWver"] = payload[at] / 10
    data["HWver"] = payload[at + 1]
    data["Datecode"] = payload[at + 2 : at + 6].hex()


def _contact(payload: bytes, at: int, data: dict[str, Any]) -> None:
    _battery(payload, at, data)
    data["OnOff"] = payload[at + 1]


def _water_leak(payload: bytes, at: int, data: dict[str, Any]) -> None:
    _battery(payload, at, data)
    data["WaterLeak_1"] = "Leak" if payload[at + 1] else "NoLeak"
    data["WaterLeak_2"] = "Leak" if payload[at + 2] else "NoLeak"


def _temperature_humidity(payload: bytes, at: int, data: dict[str, Any]) -> None:
    _battery(payload, at, data)
    data["Temp"] = int.from_bytes(payload[at + 1 : at + 3], "big", signed=True) / 100
    data["Humi"] = _u16(payload, at + 3) / 100


def _ball_switch(payload: bytes, at: int, data: dict[str, Any]) -> None:
    _battery(payload, at, data)
    data["status"] = payload[at + 1]


def _alarm(flag: int) -> str:
    return "Alarm" if flag else "No alarm"


def _plug_status(payload: bytes, at: int, data: dict[str, Any]) -> None:
    data["OnOff"] = "ON" if payload[at] else "OFF"
    data["Energy"] = int.from_bytes(payload[at + 1 : at + 5], "big")
    data["OverCurrentAlarm"] = _alarm(payload[at + 5])
    data["DashCurrentAlarm"] = _alarm(payload[at + 6])
    data["PowerOffAlarm"] = _alarm(payload[at + 7])


def _plug_metering(payload: bytes, at: int, data: dict[str, Any]) -> None:
    data["Vol"] = _u16(payload, at)
    data["Current"] = _u16(payload, at + 2)
    data["Power"] = _u16(payload, at + 4)


def _phase_currents(payload: bytes, at: int, data: dict[str, Any]) -> None:
    _battery(payload, at, data)
    for phase in (1, 2, 3):
        data[f"Current{phase}"] = _u16(payload, at + 2 * phase - 1)


def _currents_with_multiplier1(payload: bytes, at: int, data: dict[str, Any]) -> None:
    _phase_currents(payload, at, data)
    data["Multiplier1"] = payload[at + 7]


def _multipliers_2_3(payload: bytes, at: int, data: dict[str, Any]) -> None:
    _battery(payload, at, data)
    data["Multiplier2"] = payload[at + 1]
    data["Multiplier3"] = payload[at + 2]


def _currents_with_packed_multipliers(payload: bytes, at: int, data: dict[str, Any]) -> None:
    _phase_currents(payload, at, data)
    packed = payload[at + 7]
    for phase in (1, 2, 3):
        data[f"Multiplier{phase}"] = MULTIPLIER_CODES[packed >> (2 * phase - 2) & 0b11]


def _current_alarms(payload: bytes, at: int, data: dict[str, Any]) -> None:
    _battery(payload, at, data)
    bits = payload[at + 1]
    for phase in (1, 2, 3):
        data[f"LowCurrent{phase}Alarm"] = bits >> (2 * phase - 2) & 1
        data[f"HighCurrent{phase}Alarm"] = bits >> (2 * phase - 1) & 1


def _scale_currents(data: dict[str, Any], warnings: list[str]) -> None:
    unscaled = []
    for phase in (1, 2, 3):
        current = f"Current{phase}"
        if current not in data:
            continue
        multiplier = data.get(f"Multiplier{phase}")
        if multiplier is None:
            unscaled.append(current)
        else:
            data[current] *= multiplier
    if unscaled:
        warnings.append(
            f"{', '.join(unscaled)} not scaled: their multipliers come in report type 0x02"
        )


def _status(payload: bytes, at: int, data: dict[str, Any]) -> None:
    data["Status"] = "Success" if payload[at] == 0 else "Failure"


def _report_times(payload: bytes, at: int, data: dict[str, Any]) -> None:
    data["MinTime"] = _u16(payload, at)
    data["MaxTime"] = _u16(payload, at + 2)


def _config_battery_change(payload: bytes, at: int, data: dict[str, Any]) -> None:
    _report_times(payload, at, data)
    data["BatteryChange"] = payload[at + 4] / 10


def _config_temperature_humidity_change(payload: bytes, at: int, data: dict[str, Any]) -> None:
    _config_battery_change(payload, at, data)
    data["TempChange"] = _u16(payload, at + 5) / 100
    data["HumiChange"] = _u16(payload, at + 7) / 100


def _config_current_change(payload: bytes, at: int, data: dict[str, Any]) -> None:
    _report_times(payload, at, data)
    data["CurrentChange"] = _u16(payload, at + 4)


def _config_current_power_change(payload: bytes, at: int, data: dict[str, Any]) -> None:
    _config_current_change(payload, at, data)
    data["PowerChange"] = _u16(payload, at + 6)


def _on_off_durations(payload: bytes, at: int, data: dict[str, Any]) -> None:
    data["OnStateDuration"] = _u16(payload, at)
    data["OffStateDuration"] = _u16(payload, at + 2)


def _report_type_set(payload: bytes, at: int, data: dict[str, Any]) -> None:
    data["ReportTypeSet"] = payload[at]


def _finished(data: dict[str, Any], warnings: list[str]) -> None:
    """Most devices need nothing done once all frames are read."""


@dataclass(frozen=True, slots=True)
class Command:
    """A command response: its name as Netvox gives it and how its arguments are read."""

    name: str
    read: Reader


@dataclass(frozen=True, slots=True)
class NetvoxDevice:
    """A Netvox model: device type byte, report readers by report type, command responses."""

    name: str
    device_type: int
    reports: Mapping[int, Reader]
    commands: Mapping[int, Command]
    finish: Finisher = field(default=_finished)


def _commands(
    read_config: Reader, extra: Mapping[int, Command] | None = None
) -> dict[int, Command]:
    commands = {
        0x81: Command("ConfigReportRsp", _status),
        0x82: Command("ReadConfigReportRsp", read_config),
    }
    commands.update(extra or {})
    return commands


R311A = NetvoxDevice(
    "R311A",
    0x02,
    {0x00: _version_report, 0x01: _contact},
    _commands(
        _config_battery_change,
        {
            0x83: Command("SetOnOffStateDurationRsp", _status),
            0x84: Command("GetOnOffStateDurationRsp", _on_off_durations),
        },
    ),
)
R311W = NetvoxDevice(
    "R311W", 0x06, {0x00: _version_report, 0x01: _water_leak}, _commands(_config_battery_change)
)
R718A = NetvoxDevice(
    "R718A",
    0x0B,
    {0x00: _version_report, 0x01: _temperature_humidity},
    _commands(_config_temperature_humidity_change),
)
R718DA = NetvoxDevice(
    "R718DA", 0x1A, {0x00: _version_report, 0x01: _ball_switch}, _commands(_config_battery_change)
)
R809A = NetvoxDevice(
    "R809A",
    0x0E,
    {0x00: _version_report, 0x01: _plug_status, 0x02: _plug_metering},
    _commands(_config_current_power_change),
)
R718N3 = NetvoxDevice(
    "R718N3",
    0x4A,
    {
        0x00: _version_report,
        0x01: _currents_with_multiplier1,
        0x02: _multipliers_2_3,
        0x03: _currents_with_packed_multipliers,
        0x04: _current_alarms,
    },
    _commands(
        _config_current_change,
        {
            0x83: Command("SetReportTypeRsp", _status),
            0x84: Command("GetReportTypeRsp", _report_type_set),
        },
    ),
    finish=_scale_currents,
)

NETVOX_DEVICES: dict[str, NetvoxDevice] = {
    "r311a": R311A,
    "r311w": R311W,
    "r718a": R718A,
    "r718da": R718DA,
    "r718n3": R718N3,
    "r809a": R809A,
}
"""TTN device-repository model id → device description."""


def _device_type_error(device: NetvoxDevice, payload: bytes, at: int) -> str | None:
    found = payload[at + 1]
    if found == device.device_type:
        return None
    return (
        f"device type 0x{found:02x} at byte {at + 1} is not {device.name} "
        f"(0x{device.device_type:02x})"
    )


def _frame_error(device: NetvoxDevice, payload: bytes, at: int) -> str | None:
    if len(payload) - at < FRAME_SIZE:
        return (
            f"truncated report at byte {at}: needs {FRAME_SIZE} bytes, "
            f"only {len(payload) - at} remain"
        )
    if payload[at] != VERSION:
        return f"report version 0x{payload[at]:02x} at byte {at}, expected 0x{VERSION:02x}"
    type_error = _device_type_error(device, payload, at)
    if type_error:
        return type_error
    if payload[at + 2] not in device.reports:
        return f"unknown report type 0x{payload[at + 2]:02x} at byte {at + 2} for {device.name}"
    return None


def decode_report(device: NetvoxDevice, payload: bytes) -> DecodeResult:
    """Decode fPort 6 reports: one or more 11-byte frames, merged in order."""
    if not payload:
        return DecodeResult.rejected("empty payload")
    data: dict[str, Any] = {"Device": device.name}
    for at in range(0, len(payload), FRAME_SIZE):
        problem = _frame_error(device, payload, at)
        if problem:
            return DecodeResult.rejected(problem)
        device.reports[payload[at + 2]](payload, at + REPORT_DATA, data)
    warnings: list[str] = []
    device.finish(data, warnings)
    return DecodeResult(data=data, warnings=warnings)


def decode_command_response(device: NetvoxDevice, payload: bytes) -> DecodeResult:
    """Decode one fPort 7 command response (11 bytes)."""
    if len(payload) != FRAME_SIZE:
        return DecodeResult.rejected(
            f"command response is {len(payload)} bytes, expected {FRAME_SIZE}"
        )
    command = device.commands.get(payload[0])
    if command is None:
        return DecodeResult.rejected(
            f"unknown command id 0x{payload[0]:02x} at byte 0 for {device.name}"
        )
    type_error = _device_type_error(device, payload, 0)
    if type_error:
        return DecodeResult.rejected(type_error)
    data: dict[str, Any] = {"Cmd": command.name, "Device": device.name}
    command.read(payload, COMMAND_ARGS, data)
    return DecodeResult(data=data)


def decode_netvox(device: NetvoxDevice, payload: bytes, f_port: int) -> DecodeResult:
    """Decode one uplink for ``device``: reports on fPort 6, command responses on fPort 7."""
    if f_port == REPORT_PORT:
        return decode_report(device, payload)
    if f_port == COMMAND_PORT:
        return decode_command_response(device, payload)
    return DecodeResult.rejected(
        f"fPort {f_port} is neither the report port ({REPORT_PORT}) "
        f"nor the command-response port ({COMMAND_PORT})"
    )


@dataclass(frozen=True, slots=True)
class NetvoxCodec:
    """The Netvox decoder for one model, under its TTN id (``netvox/<model>``)."""

    id: str
    device: NetvoxDevice

    def decode_uplink(
        self, payload: bytes, f_port: int, recv_time: datetime | None = None
    ) -> DecodeResult:
        """Decode one uplink; the fPort says whether it is a report or a command response."""
        return decode_netvox(self.device, bytes(payload), f_port)


CODECS: tuple[NetvoxCodec, ...] = tuple(
    NetvoxCodec(f"netvox/{model}", device) for model, device in NETVOX_DEVICES.items()
)
"""One codec instance per Netvox model id."""
