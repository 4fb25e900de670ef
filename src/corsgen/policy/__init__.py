"""A policy: `schema` is its shape as a pydantic model (the JSON Schema, and the messages on a
malformed file), `loading` reads a file into the fields the rules read, without pydantic when
the file plainly has the model's shape."""
