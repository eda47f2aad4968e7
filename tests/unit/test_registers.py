"""rtl.registers: the single-source register map, its validation, serialisation, docs and the board
runtime's generated facts (drivers/interface.py)."""

import json

import pytest

from drivers import interface
from rtl.config import AcceleratorConfig
from rtl.registers import (
    BUILD_MAGIC,
    BUILD_VERSION,
    DOC_PATH,
    RUN_LIST_ENTRY,
    RUN_LIST_ENTRY_BYTES,
    RUNTIME_MODULE_PATH,
    Access,
    Field,
    Register,
    RegisterMap,
    control_register_map,
    field_port_name,
    register_tables,
    render_markdown,
    render_runtime_module,
)
from rtl.registers.__main__ import main
from rtl.error_codes import ErrorCode
from rtl.engine import ENGINES
from rtl.ip_identity import VLNV


@pytest.fixture
def regmap():
    return control_register_map(AcceleratorConfig())


def test_hls_compatible_offsets(regmap):
    expected = {"CTRL": 0x00, "GIER": 0x04, "IP_IER": 0x08, "IP_ISR": 0x0C,
                "IN_ADDR_LO": 0x10, "IN_ADDR_HI": 0x14, "WEIGHT_ADDR_LO": 0x1C, "WEIGHT_ADDR_HI": 0x20,
                "OUT_ADDR_LO": 0x28, "OUT_ADDR_HI": 0x2C, "QUANT_ADDR_LO": 0x34, "QUANT_ADDR_HI": 0x38,
                "IN_CHANNELS": 0x40, "OUT_CHANNELS": 0x44, "IN_HEIGHT": 0x48, "IN_WIDTH": 0x4C,
                "KERNEL": 0x50, "STRIDE": 0x54, "PADDING": 0x58, "LAYER_FLAGS": 0x5C, "STATUS": 0x60,
                "CYCLES_LO": 0x64, "CYCLES_HI": 0x68, "STALL_READ": 0x6C, "STALL_WRITE": 0x70,
                "BYTES_READ": 0x74, "BYTES_WRITTEN": 0x78, "ACTIVE_CYCLES": 0x7C, "MAGIC": 0x80,
                "VERSION": 0x84, "ENGINE": 0x88, "WINO_M": 0x8C, "PM": 0x90, "PN": 0x94,
                "DATA_WIDTH": 0x98, "AXI_DATA_WIDTH": 0x9C, "MAX_WIDTH": 0xA0, "MAX_HEIGHT": 0xA4,
                "MAX_CHANNELS": 0xA8, "MAX_KERNEL": 0xAC, "MAX_STRIDE": 0xB0, "ACC_WIDTH": 0xB4,
                "CLOCK_HZ": 0xB8, "MAX_ROW_WORDS": 0xBC, "MAX_WEIGHT_TAPS": 0xC0, "REQUANT_LANES": 0xC4,
                "AXI_ADDR_WIDTH": 0xC8, "ACT_TABLE": 0xCC, "RUNLIST_ADDR_LO": 0xD0, "RUNLIST_ADDR_HI": 0xD4, "RUNLIST_COUNT": 0xD8,
                "RUNLIST_INDEX": 0xDC, "POOLING": 0xE0}
    assert {r.name: r.offset for r in regmap} == expected
    assert [r.offset for r in regmap] == sorted(expected.values())   # iteration by offset
    ctrl = regmap["CTRL"]
    assert [(f.name, f.lsb, f.access) for f in ctrl.fields] == [
        ("AP_START", 0, Access.SC), ("AP_DONE", 1, Access.COR), ("AP_IDLE", 2, Access.RO),
        ("AP_READY", 3, Access.COR), ("AUTO_RESTART", 7, Access.RW), ("ABORT", 8, Access.SC)]
    assert [(f.name, f.lsb, f.access) for f in regmap["IP_ISR"].fields] == [("DONE", 0, Access.TOW), ("READY", 1, Access.TOW)]
    assert regmap["STATUS"]["ERROR"].width == 8 and regmap["STATUS"]["BUSY"].lsb == 8
    assert regmap["IN_CHANNELS"]["IN_CHANNELS"].width == 16 and regmap["KERNEL"]["KERNEL"].width == 4
    assert regmap.by_offset(0x18) is None and regmap.by_offset(0x80).name == "MAGIC"
    assert [(f.name, f.lsb, f.width) for f in regmap["LAYER_FLAGS"].fields] == [("RELU", 0, 1), ("TABLE", 1, 1),
                                                                                 ("POOL", 2, 2)]
    assert regmap["RUNLIST_COUNT"]["RUNLIST_COUNT"].width == 16 and regmap["RUNLIST_INDEX"]["RUNLIST_INDEX"].width == 16
    assert regmap.span == 0xE4 and regmap.addr_width == 8


def test_a_run_list_entry_is_the_descriptor_registers():
    """A 64-byte entry holds the descriptor registers, each once."""
    regmap = control_register_map(AcceleratorConfig())
    descriptor = [r.name for r in regmap if 0x10 <= r.offset <= 0x5C]
    assert sorted(RUN_LIST_ENTRY) == sorted(descriptor) and len(set(RUN_LIST_ENTRY)) == 16
    assert RUN_LIST_ENTRY_BYTES == 64


def test_build_info_comes_from_the_config():
    cfg = AcceleratorConfig(engine="winograd", m=4, pm=16, pn=4, axi_data_width=128, max_width=56,
                            max_height=100, max_channels=128, clock_mhz=150.5)
    regmap = control_register_map(cfg)
    values = {r.name: r.reset_value for r in regmap if r.is_constant}
    assert values == {
        "MAGIC": BUILD_MAGIC, "VERSION": BUILD_VERSION, "ENGINE": 1, "WINO_M": 4, "PM": 16, "PN": 4,
        "DATA_WIDTH": 8, "AXI_DATA_WIDTH": 128, "MAX_WIDTH": 56, "MAX_HEIGHT": 100, "MAX_CHANNELS": 128,
        "MAX_KERNEL": 3, "MAX_STRIDE": 2, "ACC_WIDTH": cfg.acc_width, "CLOCK_HZ": 150500000,
        "MAX_ROW_WORDS": cfg.row_words, "MAX_WEIGHT_TAPS": cfg.weight_depth, "REQUANT_LANES": cfg.requant_lanes,
        "AXI_ADDR_WIDTH": cfg.axi_addr_width, "ACT_TABLE": 0, "POOLING": 0,
    }
    assert BUILD_MAGIC.to_bytes(4, "big") == b"CVFG"
    assert control_register_map(AcceleratorConfig())["ENGINE"].reset_value == 0


def test_error_codes():
    assert [(e.name, int(e)) for e in ErrorCode] == [
        ("OK", 0), ("BAD_CHANNELS", 1), ("BAD_SIZE", 2), ("BAD_KERNEL", 3), ("BAD_STRIDE", 4),
        ("BAD_PADDING", 5), ("BAD_ADDRESS", 6), ("AXI_READ_ERROR", 7), ("AXI_WRITE_ERROR", 8), ("BAD_OUTPUT", 9),
        ("ABORTED", 10), ("BAD_RUN_LIST", 11), ("BAD_FLAGS", 12), ("BAD_POOL", 13)]
    for e in ErrorCode:
        assert e.description and "\n" not in e.description


def test_port_names(regmap):
    assert field_port_name(regmap["IN_ADDR_LO"], regmap["IN_ADDR_LO"]["IN_ADDR_LO"]) == "in_addr_lo"
    assert field_port_name(regmap["CTRL"], regmap["CTRL"]["AUTO_RESTART"]) == "ctrl_auto_restart"
    assert field_port_name(regmap["LAYER_FLAGS"], regmap["LAYER_FLAGS"]["RELU"]) == "layer_flags_relu"


def test_json_round_trip(regmap):
    d = json.loads(json.dumps(regmap.to_dict()))
    assert RegisterMap.from_dict(d) == regmap
    assert d["error_codes"]["AXI_READ_ERROR"]["value"] == 7
    ctrl = next(r for r in d["registers"] if r["name"] == "CTRL")
    assert ctrl["fields"][1] == {"name": "AP_DONE", "lsb": 1, "width": 1, "access": "COR",
                                 "description": regmap["CTRL"]["AP_DONE"].description, "reset": 0}
    assert next(r for r in d["registers"] if r["name"] == "MAGIC")["fields"][0]["constant"] == BUILD_MAGIC


@pytest.mark.parametrize("make,match", [
    (lambda: Field("x", 0, 1, Access.RW, "d"), "upper-case"),
    (lambda: Field("A", 30, 4, Access.RW, "d"), "do not fit"),
    (lambda: Field("A", 0, 2, Access.COR, "d"), "single bits"),
    (lambda: Field("A", 0, 2, Access.RW, "d", reset=4), "does not fit"),
    (lambda: Field("A", 0, 2, Access.RO, "d", reset=1), "only RW"),
    (lambda: Field("A", 0, 2, Access.RW, "d", constant=1), "only RO"),
    (lambda: Register("R", 2, (Field("A", 0, 1, Access.RW, "d"),), "r"), "multiple of 4"),
    (lambda: Register("R", 0, (Field("A", 0, 4, Access.RW, "d"), Field("B", 3, 1, Access.RW, "d")), "r"), "overlaps"),
    (lambda: Register("R", 0, (Field("A", 0, 1, Access.RW, "d"), Field("A", 1, 1, Access.RW, "d")), "r"), "twice"),
    (lambda: RegisterMap([Register("R", 0, (Field("A", 0, 1, Access.RW, "d"),), "r"),
                          Register("S", 0, (Field("A", 0, 1, Access.RW, "d"),), "s")]), "share offset"),
    (lambda: RegisterMap([Register("R_A", 0, (Field("R_A", 0, 1, Access.RW, "d"),), "r"),
                          Register("R", 4, (Field("A", 0, 1, Access.RW, "d"),), "s")]), "both map to port"),
])
def test_bad_descriptions_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_markdown_lists_every_field(regmap):
    text = register_tables(regmap)
    for reg in regmap:
        assert f"| 0x{reg.offset:02X} | {reg.name} |" in text
        for f in reg.fields:
            assert f"| {reg.name} | {f.bits} | {f.name} | {f.access.value} |" in text
    assert "| CTRL | 0 | AP_START | SC | 0 | `ap_start` |" in text
    assert "| 0x80 | MAGIC | 0x43564647 |" in text


def test_generated_files_are_current():
    assert DOC_PATH.read_text() == render_markdown(), "docs/registers.md is stale: run python -m rtl.registers"
    assert RUNTIME_MODULE_PATH.read_text() == render_runtime_module(), \
        "drivers/interface.py is stale: run python -m rtl.registers"
    assert main(["--check"]) == 0


def test_check_detects_a_stale_file(tmp_path):
    paths = ["--docs", str(tmp_path / "registers.md"), "--runtime-module", str(tmp_path / "interface.py")]
    (tmp_path / "registers.md").write_text("old\n")
    assert main(["--check", *paths]) == 1
    assert main(paths) == 0
    assert main(["--check", *paths]) == 0
    (tmp_path / "interface.py").write_text((tmp_path / "interface.py").read_text().replace("0x43564647", "0x0"))
    assert main(["--check", *paths]) == 1


def test_runtime_facts_are_those_of_rtl(regmap):
    """drivers/interface.py, read as the runtime reads it, holds rtl's map, codes, identity and engines."""
    assert interface.VLNV == VLNV and interface.BUILD_MAGIC == BUILD_MAGIC == 0x43564647
    assert {n: r["offset"] for n, r in interface.REGISTERS.items()} == {r.name: r.offset for r in regmap}
    for reg in regmap:
        for f in reg.fields:
            got = interface.REGISTERS[reg.name]["fields"][f.name]
            assert (got["lsb"], got["width"], got["access"]) == (f.lsb, f.width, f.access.value)
    assert interface.ERROR_CODES == {int(e): (e.name, e.description) for e in ErrorCode}
    assert {c: e["name"] for c, e in interface.ENGINES.items()} == {e.code: e.name for e in ENGINES.values()}
    assert interface.ENGINES[ENGINES["winograd"].code]["kernel"] == 3
