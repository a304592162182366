"""Survey returns: schema, reading, validation, normalisation, entity resolution and loading."""
