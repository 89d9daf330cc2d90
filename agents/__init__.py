"""Who decides what: model builders, clouds, resellers, grey-market brokers, fine-tuning teams,
the vendor and the GPU-backed lenders. Each kind registers itself (``agents.registry``) when its
file is imported; the orders in which kinds are built, act and are listed are fields of their
registrations."""

from agents.broker import GreyBroker
from agents.cloud import Cloud
from agents.creator import ModelCreator
from agents.finetuner import FineTuner, FineTunerPool
from agents.lender import Lender
from agents.registry import KINDS, AgentKind, register
from agents.reseller import Reseller
from agents.vendor import Vendor

__all__ = [
    "KINDS",
    "AgentKind",
    "Cloud",
    "FineTuner",
    "FineTunerPool",
    "GreyBroker",
    "Lender",
    "ModelCreator",
    "Reseller",
    "Vendor",
    "register",
]
