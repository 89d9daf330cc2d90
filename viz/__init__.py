"""The browser app (Solara + Mesa SolaraViz): `h100sim app`, or `solara run viz/app.py`."""
