"""The nodes' parameters in one place: the shipped parameter file holds exactly the code
defaults, and docs/ros.md shows the tables generated from the code.

    python test/test_ros_params.py     # print the tables (paste them into docs/ros.md)
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PARAMS_FILE = REPO / "config" / "ros" / "nodes.yaml"
#: node name in the parameter file -> module with PARAMS
NODES = {"synth_node": "scmis_ros.synth_node", "mix_node": "scmis_ros.mix_node",
         "finetune_node": "scmis_ros.finetune_node", "label_node": "scmis_ros.label_node",
         "rooms_source": "scmis_ros.rooms_source", "bag_source": "scmis_ros.bag_source",
         "bag_record": "scmis_ros.bag_record"}
#: parameters without a usable default (the launch files or the user give them)
REQUIRED = {"bag_source": {"bag", "topics"}, "bag_record": {"output", "topics"},
            "label_node": {"segmenter"}}


def shared_params() -> list:
    """The image input / output parameters and diagnostics thresholds every image node has."""
    from scmis_ros.diagnostics import DIAG_PARAMS
    from scmis_ros.image_topics import input_params, output_params

    return [*input_params(), *output_params(), *DIAG_PARAMS]


def _text(value) -> str:
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{value}`"


def param_table(params) -> str:
    """The markdown table of ``params`` as docs/ros.md shows it."""
    rows = ["| parameter | default | range / choices | meaning |", "|---|---|---|---|"]
    for p in params:
        if p.choices:
            allowed = ", ".join(f"`{c}`" for c in p.choices)
        elif p.lo is not None or p.hi is not None:
            allowed = f"{p.lo} .. {p.hi}"
        else:
            allowed = ""
        note = (" (read on configure)" if p.configure else
                " (read-only)" if p.read_only else "")
        rows.append(f"| `{p.name}` | {_text(p.default)} | {allowed} | "
                    f"{p.description}{note} |")
    return "\n".join(rows) + "\n"


def node_table(module: str) -> str:
    """The table of a node's own parameters (the shared ones are in their own table)."""
    shared = {(p.name, p.description) for p in shared_params()}
    params = importlib.import_module(module).PARAMS
    return param_table([p for p in params if (p.name, p.description) not in shared])


def test_the_parameter_file_holds_the_code_defaults():
    shipped = yaml.safe_load(PARAMS_FILE.read_text())
    assert set(shipped) == set(NODES)
    for node, module in NODES.items():
        code = {p.name: p.default for p in importlib.import_module(module).PARAMS}
        values = shipped[node]["ros__parameters"]
        assert set(values) <= set(code), (node, set(values) - set(code))
        assert set(code) - set(values) == REQUIRED.get(node, set()), node
        for name, value in values.items():
            assert value == code[name] and type(value) is type(code[name]), (node, name)


def test_every_node_declares_the_shared_parameters():
    from scmis_ros.diagnostics import DIAG_PARAMS

    shared = {p.name: p.default for p in shared_params()}
    diag = {p.name: p.default for p in DIAG_PARAMS}
    for node, module in NODES.items():
        params = {p.name: p.default for p in importlib.import_module(module).PARAMS}
        assert {k: params.get(k) for k in diag} == diag, node  # every node: /diagnostics
        if node in ("synth_node", "mix_node", "finetune_node", "label_node"):  # images in
            assert {k: params.get(k) for k in shared} == shared, node


@pytest.mark.parametrize("node", ["synth_node", "mix_node", "finetune_node", "rooms_source",
                                  "bag_source", "bag_record"])
def test_docs_show_the_parameters_of_the_code(node):
    docs = (REPO / "docs" / "ros.md").read_text()
    assert node_table(NODES[node]) in docs, "regenerate: python test/test_ros_params.py"
    assert param_table(shared_params()) in docs


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    print("shared:\n" + param_table(shared_params()))
    for name, mod in NODES.items():
        print(f"{name}:\n{node_table(mod)}")
