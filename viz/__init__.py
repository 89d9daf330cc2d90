"""The h100sim browser app (viz/app.py) and its components."""

import os

# reacton's update path that re-renders and re-syncs only the components whose state changed;
# the default walks and updates every widget of the page (the lever cards included) on every
# step. Read whenever a session's page is first rendered; REACTON_FAST=0 turns it off.
os.environ.setdefault("REACTON_FAST", "1")
