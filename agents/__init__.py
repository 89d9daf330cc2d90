"""Who decides what: creators, fine-tuners, clouds, resellers and grey-market brokers."""

from agents.broker import GreyBroker
from agents.cloud import Cloud
from agents.creator import ModelCreator
from agents.finetuner import FineTuner, FineTunerPool
from agents.reseller import Reseller

__all__ = ["Cloud", "FineTuner", "FineTunerPool", "GreyBroker", "ModelCreator", "Reseller"]
