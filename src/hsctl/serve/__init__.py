"""``serve``: the prediction server (FastAPI app, micro-batching, prediction log, metrics); see app.py."""
