"""``RunSignature``: what the layer sequencer tells the parts that work group by group during a run."""

from __future__ import annotations

from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from .layer_check import descriptor_layout, plan_layout

__all__ = ["RunSignature"]


class RunSignature(wiring.Signature):
    """The sequencer's side (the issuers and the pass sequencer take it flipped, ``In``).

    Members
        ``launch``: Out(1) pulse when a checked run starts (the parts restart at group 0).
        ``running``: Out(1) from then until every group's writes are acknowledged.
        ``layer``: Out(descriptor_layout()), the descriptor taken at AP_START.
        ``plan``: Out(plan_layout()), its sizes from the layer check; both stable during the run.
    """

    def __init__(self):
        super().__init__({
            "launch": Out(1),
            "running": Out(1),
            "layer": Out(descriptor_layout()),
            "plan": Out(plan_layout()),
        })

    def __eq__(self, other):
        return type(other) is RunSignature

    def __hash__(self):
        return hash(RunSignature)
