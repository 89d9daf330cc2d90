"""Who decides what: model builders, clouds, resellers, grey-market brokers, fine-tuning teams and
the vendor. Each kind registers itself (``agents.registry``); importing this package registers
the built-in kinds in the order the agent frame lists them."""

from agents.creator import ModelCreator
from agents.cloud import Cloud
from agents.reseller import Reseller
from agents.broker import GreyBroker
from agents.finetuner import FineTuner, FineTunerPool
from agents.vendor import Vendor
from agents.registry import KINDS, AgentKind, register

__all__ = ["KINDS", "AgentKind", "Cloud", "FineTuner", "FineTunerPool", "GreyBroker", "ModelCreator",
           "Reseller", "Vendor", "register"]
