"""Pure mechanisms: clearing, books, contracts, ledgers, rules and finance over numpy arrays.

Nothing here knows Mesa, an agent or the model: each function or class takes plain numbers and
arrays and is tested on hand-worked cases. Markets (``model.markets``) and agents call them.
"""
