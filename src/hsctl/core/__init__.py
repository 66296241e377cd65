"""Small shared helpers: atomic writes, hashing, manifests and table readers."""
